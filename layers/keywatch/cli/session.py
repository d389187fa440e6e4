"""The replay session: event files in, results out, on a simulated estate or on real AWS.

The same path as the Lambda: each event goes through :meth:`Watchdog.handle_event`; on a simulated
estate its effect is applied first, as AWS would already have done when the event arrived.

Every input is accounted for: each file becomes an :class:`Entry`, holding either its result or the
reason it could not be used. Files are read and checked before anything is built, so a bad file is
reported at once, and a run with no usable file never builds the estate.

Exit status, the same in every verb: 0 all is well; 1 an event file is bad, a notification failed or
an action failed (or ``restore`` refused); 2 the command line or the configuration is wrong.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keywatch.errors import HandlingIncomplete
from keywatch.models import EventResult, KeyEvent, Mode

if TYPE_CHECKING:
    from keywatch.cli.simulator import Estate, Fleet
    from keywatch.config import Settings
    from keywatch.efs_events import EfsEvent
    from keywatch.engine import Watchdog

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A usage or configuration problem the user can fix (exit 2); printed as one line, never a traceback."""


def err(message: str) -> None:
    """One line on stderr, whatever the message holds (a file name, an error's text)."""
    from keywatch.notify.hygiene import one_line

    print(f"keywatch: {one_line(message)}", file=sys.stderr)


def _project_dir() -> Path:
    return Path(__file__).resolve().parents[3]


def default_events_dir() -> Path:
    return Path(os.environ.get("KEYWATCH_EVENTS_DIR") or _project_dir() / "events")


def default_fleet() -> Path:
    return default_events_dir() / "fleet.yaml"


@dataclass
class Entry:
    """One input file: its event and result, or why it could not be used."""

    path: str
    event: KeyEvent | EfsEvent | None = None
    result: EventResult | None = None
    error: str | None = None
    unfinished: list[str] = field(default_factory=list)  # steps left when handling could not finish

    def report(self) -> dict[str, Any]:
        """The file's place in the ``--json`` report (DESIGN.md §2)."""
        if self.result is None:
            return {"file": self.path, "outcome": "error", "reason": self.error or "not handled"}
        return {"file": self.path, **result_report(self.result)}


def result_report(result: EventResult) -> dict[str, Any]:
    """The result's JSON, with the deletion date, the days left and the next steps a person reads."""
    from keywatch.notify import text

    deletion = text.deletion_date(result)
    return {
        **result.report(),
        "deletion_date": deletion.isoformat() if deletion else None,
        "days_left": text.days_left(deletion),
        "next_steps": [step.report() for step in text.next_steps(result)],
    }


def read_event(path: str) -> Entry:
    """Read and check one event file; never raises."""
    from keywatch.efs_events import parse_any
    from keywatch.parse import InvalidEvent, load_event_path

    try:
        return Entry(path, event=parse_any(load_event_path(path)))
    except IsADirectoryError:
        return Entry(path, error="is a directory, not an event file")
    except FileNotFoundError:
        return Entry(path, error="no such file")
    except OSError as exc:
        return Entry(path, error=f"cannot read the file ({exc.strerror or exc})")
    except InvalidEvent as exc:
        return Entry(path, error=str(exc))


def read_events(paths: Sequence[str]) -> list[Entry]:
    """Every file, in order; each one that can't be used is reported on stderr at once."""
    entries = [read_event(path) for path in paths]
    for entry in entries:
        if entry.error is not None:
            err(f"{entry.path}: {entry.error}")
    return entries


def failures(result: EventResult) -> list[str]:
    """What went wrong while handling a result: each failed action and each failed notification."""
    problems = [f"{a.type} on {a.target} failed: {a.detail}" for a in result.actions if a.status == "failed"]
    problems += [
        f"the {n.channel} notification failed: {n.detail}" for n in result.notifications if n.status == "failed"
    ]
    return problems


def not_reported(result: EventResult, steps: Sequence[str]) -> list[str]:
    """The unfinished steps that :func:`failures` does not already report (each problem is told once):
    the engine names a failed action ``"<type> on <target>"`` and a failed notification
    ``"notification by <channel>"``; anything else (the incident record, the idempotency record) is left."""
    told = {f"{a.type} on {a.target}" for a in result.actions if a.status == "failed"}
    told |= {f"notification by {n.channel}" for n in result.notifications if n.status == "failed"}
    return [step for step in steps if step not in told]


def load_settings(mode: Mode) -> Settings:
    from keywatch.config import ConfigError, Settings

    try:
        return Settings.from_env().model_copy(update={"mode": mode})
    except ConfigError as exc:
        raise CliError(f"configuration: {exc}") from exc


def load_fleet(path: Path | None) -> Fleet:
    """Read and check the fleet file (fast: no simulated AWS yet). A bad one is a usage error."""
    from keywatch.cli.simulator import Fleet, FleetError

    path = path or default_fleet()
    try:
        return Fleet.load(path)
    except FleetError as exc:
        message = str(exc)
        raise CliError(message if message.startswith(str(path)) else f"{path}: {message}") from exc


def require_incidents_table(settings: Settings, why: str) -> None:
    """On real AWS, a verb that reads or writes incident records needs the table, or it would lie."""
    if not settings.incidents_table:
        raise CliError(
            f"{why} needs KEYWATCH_INCIDENTS_TABLE: set it to the incidents table's name "
            "(the stack output IncidentsTableName)"
        )


@contextmanager
def open_session(
    fleet_path: Path | None,
    use_aws: bool,
    mode: Mode,
    slack_webhook: str | None = None,
    settings: Settings | None = None,
    fleet: Fleet | None = None,
) -> Iterator[tuple[Watchdog, Estate | None]]:
    """Yield (watchdog, estate or None): real AWS with --aws, else a fresh simulated estate."""
    from keywatch.runtime import build_watchdog

    settings = settings or load_settings(mode)
    if use_aws:
        if mode == Mode.APPROVE and not settings.incidents_table:
            # Buttons whose approvals live only in this process could never be clicked.
            raise CliError(
                "approve mode needs an incident store: set KEYWATCH_INCIDENTS_TABLE (approvals are kept there)"
            )
        yield build_watchdog(settings, slack_webhook=slack_webhook), None
        return
    fleet = fleet or load_fleet(fleet_path)
    from keywatch.cli.simulator import Estate, FleetError, simulated_aws

    path = fleet_path or default_fleet()
    with simulated_aws():
        try:
            estate = Estate.build(fleet)
        except FleetError as exc:
            message = str(exc)  # one line that names the fleet file, as for a bad event file
            raise CliError(message if message.startswith(str(path)) else f"{path}: {message}") from exc
        yield build_watchdog(estate.settings(settings), estate.clients, slack_webhook=slack_webhook), estate


def check_enforce_on_aws(settings: Settings, use_aws: bool, mode: Mode) -> None:
    """``unmount`` records mount targets before deleting them; on AWS that record must outlive the run."""
    if use_aws and mode == Mode.ENFORCE:
        require_incidents_table(settings, "--aws --mode enforce")


def handle(entries: Sequence[Entry], watchdog: Watchdog, estate: Estate | None) -> Iterator[Entry]:
    """Handle each usable entry in order, on the estate if there is one; yield every entry as it is done."""
    for entry in entries:
        if entry.event is not None and entry.result is None and entry.error is None:
            try:
                if estate is not None:
                    estate.apply(entry.event)
                entry.result = watchdog.handle_event(entry.event)
            except HandlingIncomplete as exc:  # a step failed: the Lambda would be retried; report what was done
                entry.result, entry.unfinished = exc.result, exc.steps
                rest = not_reported(exc.result, exc.steps)
                if rest:
                    err(f"{entry.path}: not finished: {'; '.join(rest)}")
            except Exception as exc:  # noqa: BLE001 - one bad event must not hide the others
                entry.error = f"handling failed: {type(exc).__name__}: {exc}"
                err(f"{entry.path}: {entry.error}")
            for problem in failures(entry.result) if entry.result is not None else []:
                err(f"{entry.path}: {problem}")
        yield entry


def status_of(entries: Sequence[Entry]) -> int:
    bad = any(e.result is None or e.unfinished or failures(e.result) for e in entries)
    return EXIT_FAILED if bad else EXIT_OK


def run_replay(
    paths: Sequence[str],
    fleet: Path | None,
    use_aws: bool,
    mode: Mode,
    on_entry: Callable[[Entry], None] | None = None,
    slack_webhook: str | None = None,
) -> tuple[list[Entry], int]:
    """Replay the files in order. Returns every entry (good or bad, in input order) and the exit status."""
    entries = read_events(paths)
    settings = load_settings(mode)
    check_enforce_on_aws(settings, use_aws, mode)
    checked_fleet = None if use_aws else load_fleet(fleet)
    if not any(e.event is not None for e in entries):
        return entries, EXIT_FAILED  # nothing to replay: don't build an estate to say so
    with open_session(fleet, use_aws, mode, slack_webhook, settings=settings, fleet=checked_fleet) as (
        watchdog,
        estate,
    ):
        for entry in handle(entries, watchdog, estate):
            if on_entry is not None and entry.result is not None:
                on_entry(entry)
    return entries, status_of(entries)
