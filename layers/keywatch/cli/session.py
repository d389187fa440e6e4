"""The replay session: event files in, results out, on a simulated estate or on real AWS.

The same path as the Lambda: each event goes through :meth:`Watchdog.handle_event`; on a simulated
estate its effect is applied first, as AWS would already have done when the event arrived.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keywatch.errors import HandlingIncomplete
from keywatch.models import EventResult, Mode

EXIT_OK, EXIT_INPUT, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A problem the user can fix; printed as one line, never as a traceback."""


def err(message: str) -> None:
    """One line on stderr, whatever the message holds (a file name, an error's text)."""
    import sys

    from keywatch.notify.hygiene import one_line

    print(f"keywatch: {one_line(message)}", file=sys.stderr)


def _project_dir() -> Path:
    return Path(__file__).resolve().parents[3]


def default_events_dir() -> Path:
    return Path(os.environ.get("KEYWATCH_EVENTS_DIR") or _project_dir() / "events")


def default_fleet() -> Path:
    return default_events_dir() / "fleet.yaml"


@dataclass
class LoadedEvent:
    path: str
    event: Any  # a KeyEvent, or None when the file could not be read or parsed
    error: str | None = None


def load_events(paths: Sequence[str]) -> list[LoadedEvent]:
    from keywatch.efs_events import parse_any
    from keywatch.parse import InvalidEvent, load_event_path

    loaded = []
    for path in paths:
        try:
            loaded.append(LoadedEvent(path, parse_any(load_event_path(path))))
        except OSError as exc:
            loaded.append(LoadedEvent(path, None, f"cannot read the file ({exc.strerror or exc})"))
        except InvalidEvent as exc:
            loaded.append(LoadedEvent(path, None, str(exc)))
    return loaded


@contextmanager
def open_session(
    fleet_path: Path | None, use_aws: bool, mode: Mode, slack_webhook: str | None = None
) -> Iterator[tuple[Any, Any]]:
    """Yield (watchdog, estate or None): real AWS with --aws, else a fresh simulated estate."""
    from keywatch.config import ConfigError, Settings
    from keywatch.runtime import build_watchdog

    try:
        settings = Settings.from_env().model_copy(update={"mode": mode})
    except ConfigError as exc:
        raise CliError(f"configuration: {exc}") from exc
    if use_aws:
        if mode == Mode.APPROVE and not settings.incidents_table:
            # Buttons whose approvals live only in this process could never be clicked.
            raise CliError(
                "approve mode needs an incident store: set KEYWATCH_INCIDENTS_TABLE (approvals are kept there)"
            )
        yield build_watchdog(settings, slack_webhook=slack_webhook), None
        return
    from keywatch.cli.simulator import Estate, Fleet, FleetError, simulated_aws

    path = fleet_path or default_fleet()
    with simulated_aws():
        try:
            fleet = Fleet.load(path)
            estate = Estate.build(fleet)
        except FleetError as exc:
            message = str(exc)  # one line that names the fleet file, as for a bad event file
            raise CliError(message if message.startswith(str(path)) else f"{path}: {message}") from exc
        yield build_watchdog(estate.settings(settings), estate.clients, slack_webhook=slack_webhook), estate


def run_replay(
    paths: Sequence[str],
    fleet: Path | None,
    use_aws: bool,
    mode: Mode,
    on_result: Callable[[str, EventResult, Any], None] | None = None,
    slack_webhook: str | None = None,
) -> tuple[list[EventResult], int]:
    loaded = load_events(paths)
    status = EXIT_OK
    results: list[EventResult] = []
    with open_session(fleet, use_aws, mode, slack_webhook) as (watchdog, estate):
        for item in loaded:
            if item.event is None:
                err(f"{item.path}: {item.error}")
                status = EXIT_INPUT
                continue
            event = item.event
            try:
                if estate is not None:
                    estate.apply(event)
                result = watchdog.handle_event(event)
            except HandlingIncomplete as exc:  # a step failed: the Lambda would be retried; report what was done
                err(f"{item.path}: not finished: {'; '.join(exc.steps)}")
                result = exc.result
            except Exception as exc:  # noqa: BLE001 - one bad event must not hide the others
                err(f"{item.path}: handling failed: {type(exc).__name__}: {exc}")
                status = EXIT_INPUT
                continue
            results.append(result)
            if on_result:
                on_result(item.path, result, estate)
    return results, status
