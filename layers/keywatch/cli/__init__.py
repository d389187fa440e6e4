"""The ``keywatch`` command (DESIGN.md §2): the argument parser, the replay session, the renderers and
the simulated estate. None of it ships in the Lambda layer, so no handler can import it by accident."""

from keywatch.cli.main import main

__all__ = ["main"]
