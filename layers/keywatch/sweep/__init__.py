"""The sweep: audit every encrypted EFS file system across accounts and Regions.

It catches what the event path missed (DESIGN.md §1), with the same engine: a key at risk becomes a
synthetic ``Sweep`` event handed to :meth:`Watchdog.respond`, so incidents, policies and modes are
exactly those of the event path. One module per room:

- :mod:`~keywatch.sweep.models`: findings, the report, what was learnt about each key;
- :mod:`~keywatch.sweep.assess`: pure assessment (no boto3), tested without moto;
- :mod:`~keywatch.sweep.countdowns`: reminders before a scheduled deletion (pure);
- :mod:`~keywatch.sweep.index`: the key-to-file-system index the sweep fills (pure; the table is
  :mod:`keywatch.adapters.index`);
- :mod:`~keywatch.sweep.runner`: the threaded :class:`Sweeper` and a worker's :func:`sweep_target`.

Every room is imported on first use (PEP 562): the runner needs the engine, and the engine's event path
needs only the index's models, so importing one room must not drag the others (or the runner) in. The
pure assessment function is ``keywatch.sweep.assess.assess``: ``keywatch.sweep.assess`` is its module.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keywatch.fanout import SweepTarget, targets_for
    from keywatch.sweep.assess import (
        AWS_MANAGED_ALIAS,
        EXPIRY_WARNING_DAYS,
        PAGE_SIZE,
        alias_locations,
        assess_one,
        call_floor,
        classify,
        key_arn_of,
        needs_response,
        verdict_for,
    )
    from keywatch.sweep.countdowns import countdown_due, countdown_result
    from keywatch.sweep.index import IndexEntry, SweptMarker, index_ttl
    from keywatch.sweep.models import (
        RESPONDED,
        SEVERITY_ORDER,
        Assessment,
        CountdownResult,
        Finding,
        KeyLookup,
        SweepReport,
        SweepSummary,
        TargetError,
        UnencryptedFileSystem,
    )
    from keywatch.sweep.runner import (
        DEFAULT_WORKERS,
        SWEEP_ERRORS,
        ProgressCallback,
        Sweeper,
        TargetFailed,
        sweep_target,
    )

# Where each name lives. Every room is imported on first use (PEP 562): the event path needs only the
# index's models (keywatch.sweep.index), and a Lambda container should not pay for the rest at start.
_HOMES = {
    "keywatch.fanout": ("SweepTarget", "targets_for"),
    "keywatch.sweep.assess": (
        "AWS_MANAGED_ALIAS",
        "EXPIRY_WARNING_DAYS",
        "PAGE_SIZE",
        "alias_locations",
        "assess_one",
        "call_floor",
        "classify",
        "key_arn_of",
        "needs_response",
        "verdict_for",
    ),
    "keywatch.sweep.countdowns": ("countdown_due", "countdown_result"),
    "keywatch.sweep.index": ("IndexEntry", "SweptMarker", "index_ttl"),
    "keywatch.sweep.models": (
        "RESPONDED",
        "SEVERITY_ORDER",
        "Assessment",
        "CountdownResult",
        "Finding",
        "KeyLookup",
        "SweepReport",
        "SweepSummary",
        "TargetError",
        "UnencryptedFileSystem",
    ),
    "keywatch.sweep.runner": (
        "DEFAULT_WORKERS",
        "SWEEP_ERRORS",
        "ProgressCallback",
        "Sweeper",
        "TargetFailed",
        "sweep_target",
    ),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AWS_MANAGED_ALIAS",
    "DEFAULT_WORKERS",
    "EXPIRY_WARNING_DAYS",
    "PAGE_SIZE",
    "RESPONDED",
    "SEVERITY_ORDER",
    "SWEEP_ERRORS",
    "Assessment",
    "CountdownResult",
    "Finding",
    "IndexEntry",
    "KeyLookup",
    "ProgressCallback",
    "SweepReport",
    "SweepSummary",
    "SweepTarget",
    "Sweeper",
    "SweptMarker",
    "TargetError",
    "TargetFailed",
    "UnencryptedFileSystem",
    "alias_locations",
    "assess_one",
    "call_floor",
    "classify",
    "countdown_due",
    "countdown_result",
    "index_ttl",
    "key_arn_of",
    "needs_response",
    "sweep_target",
    "targets_for",
    "verdict_for",
]
