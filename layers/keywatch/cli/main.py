"""The ``keywatch`` command: demo, replay, sweep, restore, incidents, silences, index (DESIGN.md §2).

Exit status, the same in every verb: 0 all is well; 1 an event file is bad, a notification failed, an
action failed, or ``restore`` refused; 2 the command line or the configuration is wrong.
Logs go to stderr only with ``--debug`` (anywhere on the line); stdout holds the tables or the JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keywatch.cli.index_cmd import add_index_parser
from keywatch.cli.session import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Entry,
    check_enforce_on_aws,
    default_events_dir,
    default_fleet,
    err,
    failures,
    handle,
    load_settings,
    open_session,
    read_events,
    require_incidents_table,
    result_report,
    run_replay,
    status_of,
)
from keywatch.errors import HandlingIncomplete
from keywatch.models import Mode

if TYPE_CHECKING:
    from keywatch.cli.simulator import Estate
    from keywatch.engine import Watchdog


def _configure_logging(debug: bool) -> None:
    """Powertools logs go to stderr with --debug, and nowhere otherwise; metrics are never flushed."""
    warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_DEV", "false")
    from keywatch.observability import logger

    logger.setLevel(logging.DEBUG if debug else logging.CRITICAL)
    logging.getLogger(logger.name).disabled = not debug  # the stdlib logger Powertools writes through
    for handler in logger.handlers:
        # Without --debug the handler itself lets nothing through: records of child loggers (slack-sdk's,
        # "keywatch.slack_sdk") reach it by propagation, whatever the parent logger's level or state.
        handler.setLevel(logging.NOTSET if debug else logging.CRITICAL + 1)
        if hasattr(handler, "setStream"):
            handler.setStream(_STDERR)


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a log line is written (not when the CLI started)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_STDERR = _CurrentStderr()


def _print_json(document: dict[str, Any]) -> None:
    print(json.dumps(document, indent=2, default=str))


def _report(entries: Sequence[Entry]) -> dict[str, Any]:
    """One result per input file, in input order; a file that could not be used takes its place."""
    return {"results": [entry.report() for entry in entries]}


# --- verbs ------------------------------------------------------------------------------------------


def cmd_replay(args: argparse.Namespace) -> int:
    from keywatch.cli import render

    if args.slack_webhook:
        from keywatch.adapters.slack import SlackConfigError, webhook_target

        try:
            webhook_target(args.slack_webhook)
        except SlackConfigError as exc:
            raise CliError(f"--slack-webhook: {exc}") from None
    printer = None if args.json else render.print_entry
    entries, status = run_replay(args.events, args.fleet, args.aws, args.mode, printer, args.slack_webhook)
    if args.json:
        _print_json(_report(entries))
    return status


def cmd_demo(args: argparse.Namespace) -> int:
    from keywatch.cli import render

    events_dir = default_events_dir()
    paths = sorted(str(p) for p in events_dir.glob("*.json"))
    if not paths:
        raise CliError(f"no sample events in {events_dir}")
    if args.json:
        replayed, status = run_replay(paths, default_fleet(), False, args.mode)
        _print_json(_report(replayed))
        return status
    settings = load_settings(args.mode)
    demo = render.Demo(default_fleet(), len(paths), args.mode, verbose=args.verbose)
    demo.intro()
    entries: list[Entry] = []
    with open_session(default_fleet(), False, args.mode, settings=settings) as (watchdog, estate):
        for entry in handle(read_events(paths), watchdog, estate):
            entries.append(entry)
            demo.event(entry)
        demo.summary(entries, render.estate_now(watchdog, entries))
    return status_of(entries)


def _prepare(watchdog: Watchdog, estate: Estate | None, entries: Sequence[Entry]) -> int:
    """For restore/incidents on a simulated estate: replay events first, so there is something to see."""
    done = list(handle(entries, watchdog, estate))
    return status_of(done) if done else EXIT_OK


def _where(watchdog: Watchdog, args: argparse.Namespace) -> tuple[list[str], list[str]]:
    accounts = list(dict.fromkeys([*watchdog.settings.accounts] or [watchdog.clients.home_account]))
    regions = args.regions or watchdog.settings.regions or [watchdog.clients.home_region]
    return accounts, regions


def _setting_up(args: argparse.Namespace, verb: str) -> tuple[Any, list[Entry]]:
    """Settings and the --replay files, checked before anything is built."""
    if args.aws and args.replay:
        raise CliError("--replay only applies to a simulated estate, not --aws")
    entries = read_events(args.replay)
    settings = load_settings(args.mode)
    if args.aws:
        require_incidents_table(settings, f"{verb} --aws")
    return settings, entries


def cmd_restore(args: argparse.Namespace) -> int:
    from keywatch.cli import render

    settings, entries = _setting_up(args, "restore")
    with open_session(args.fleet, args.aws, args.mode, settings=settings) as (watchdog, estate):
        replayed = _prepare(watchdog, estate, entries)
        accounts, regions = _where(watchdog, args)
        unfinished: list[str] = []
        try:
            result = watchdog.restore(
                args.file_system, accounts, regions, mode=Mode.DRY_RUN if args.dry_run else Mode.ENFORCE
            )
        except LookupError as exc:
            raise CliError(str(exc)) from exc
        except HandlingIncomplete as exc:  # the failed steps are in the result, and reported below
            result, unfinished = exc.result, exc.steps
    if args.json:
        _print_json({"results": [{"file": None, **result_report(result)}]})
    else:
        render.print_entry(Entry("", result=result))
    refused = [a for a in result.actions if a.status == "skipped"]
    for action in refused:
        err(f"restore refused: {action.detail}")
    for problem in failures(result):
        err(problem)
    if unfinished:
        err(f"not finished: {'; '.join(unfinished)}")
    return EXIT_FAILED if refused or failures(result) or unfinished else replayed


def cmd_incidents(args: argparse.Namespace) -> int:
    from keywatch.cli import render

    settings, entries = _setting_up(args, "incidents")
    with open_session(args.fleet, args.aws, args.mode, settings=settings) as (watchdog, estate):
        status = _prepare(watchdog, estate, entries)
        if watchdog.incidents is None:
            raise CliError("no incident store: set KEYWATCH_INCIDENTS_TABLE")
        incidents = watchdog.incidents.list_all()
        _with_interactions(watchdog, incidents)
    if args.json:
        _print_json({"incidents": incidents})
    else:
        from keywatch.cli.approvals_render import print_interactions

        render.print_incidents(incidents)
        print_interactions(incidents)
    return status


def _with_interactions(watchdog: Any, incidents: list[dict[str, Any]]) -> None:
    """Approve mode: each incident's Slack approvals, refusals, acknowledgements and silences."""
    from keywatch.cli.approvals_render import attach_interactions
    from keywatch.runtime import build_approval_store

    attach_interactions(incidents, build_approval_store(watchdog.settings, watchdog.clients).interactions())


def cmd_silences(args: argparse.Namespace) -> int:
    """List the silences set from Slack, or clear one (``--clear KEY``)."""
    import time

    from keywatch.cli.approvals_render import print_silences, silence_document
    from keywatch.runtime import build_approval_store

    with open_session(args.fleet, args.aws, Mode.NOTIFY) as (watchdog, _estate):
        if not watchdog.settings.incidents_table:
            raise CliError("no incident store: set KEYWATCH_INCIDENTS_TABLE (silences are kept there)")
        store = build_approval_store(watchdog.settings, watchdog.clients)
        silences = store.silences()
        if args.clear:
            return _clear_silence(store, silences, args.clear, args.json)
    now = time.time()
    if args.json:
        _print_json({"silences": [silence_document(s, now) for s in silences]})
    else:
        print_silences(silences, now)
    return EXIT_OK


def _clear_silence(store: Any, silences: Sequence[Any], key: str, as_json: bool) -> int:
    import getpass
    import time

    from keywatch.approvals.models import Interaction

    matches = [s for s in silences if key in (s.key_arn, s.key_arn.rsplit("/", 1)[-1])]
    if not matches:
        raise CliError(f"no silence for {key} (give the key ARN or key ID that `keywatch silences` lists)")
    silence = matches[0]
    store.clear_silence(silence.key_arn)
    who = f"cli:{getpass.getuser()}"
    store.log(
        Interaction(key_arn=silence.key_arn, at=int(time.time()), kind="silence_cleared", user=who, detail="cleared")
    )
    if as_json:
        _print_json({"cleared": silence.key_arn})
    else:
        print(f"Silence cleared: alerts on {silence.key_arn} are sent again.")
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    """Audit every encrypted file system, in-process: bounded concurrency over account x Region."""
    from botocore.exceptions import BotoCoreError, ClientError

    from keywatch.fanout import resolve_accounts, targets_for
    from keywatch.sweep import Sweeper

    settings = load_settings(args.mode)
    check_enforce_on_aws(settings, args.aws, args.mode)
    with open_session(args.fleet, args.aws, args.mode, settings=settings) as (watchdog, _estate):
        try:
            accounts, _source = resolve_accounts(watchdog.settings, watchdog.clients, args.accounts or ())
            regions = args.regions or watchdog.settings.regions or [watchdog.clients.home_region]
        except (ClientError, BotoCoreError) as exc:
            raise CliError(f"cannot find the accounts to sweep: {exc}") from exc
        targets = targets_for(accounts, regions)
        if args.json or not sys.stderr.isatty():  # the bar is for a person at a terminal, never on stdout
            report = Sweeper(watchdog, workers=args.workers).run(targets)
        else:
            from keywatch.cli.sweep_render import sweep_progress

            with sweep_progress(enabled=True) as progress:
                report = Sweeper(watchdog, workers=args.workers, progress=progress).run(targets)
    if args.json:
        _print_json(report.report())
    else:
        from keywatch.cli.sweep_render import print_sweep

        print_sweep(report)
    for error in report.summary.errors:
        err(f"{error.account}/{error.region}: {error.error}")
    problems = [p for result in report.results for p in failures(result)]
    problems += [
        f"countdown for {c.key_arn}: the {n.channel} notification failed: {n.detail}"
        for c in report.countdowns
        for n in c.notifications
        if n.status == "failed"
    ]
    for problem in problems:
        err(problem)
    return EXIT_FAILED if report.summary.errors or problems else EXIT_OK


# --- the parser -------------------------------------------------------------------------------------


def _accounts(value: str) -> list[str]:
    accounts = [a.strip() for a in value.split(",") if a.strip()]
    if not accounts or any(not (a.isdigit() and len(a) == 12) for a in accounts):
        raise argparse.ArgumentTypeError("give 12-digit account IDs, e.g. 111122223333,444455556666")
    return accounts


def _workers(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise argparse.ArgumentTypeError("--workers takes a number from 1 to 64")
    return int(value)


def _regions(value: str) -> list[str]:
    regions = [r.strip() for r in value.split(",") if r.strip()]
    if not regions:
        raise argparse.ArgumentTypeError("give at least one Region, e.g. us-east-1,eu-west-1")
    return regions


def _mode(value: str) -> Mode:
    try:
        return Mode(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("choose notify, approve, dry-run or enforce") from exc


MODES = "notify|approve|dry-run|enforce"


def _common() -> argparse.ArgumentParser:
    """Options every verb takes, so that they work anywhere on the line (``keywatch demo --debug``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,  # keeps a --debug given before the verb
        help="log to stderr and show tracebacks of unexpected errors",
    )
    return common


def _target(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--fleet", type=Path, metavar="FLEET.yaml", help="simulated estate (default: events/fleet.yaml)")
    group.add_argument("--aws", action="store_true", help="use real AWS through the normal credential chain")


def _mode_option(p: argparse.ArgumentParser, default: Mode, help: str) -> None:
    p.add_argument("--mode", type=_mode, default=default, metavar=MODES, help=help)


def add_sweep_parser(sub: Any, parents: list[argparse.ArgumentParser], default_mode: Mode) -> None:
    sweep = sub.add_parser(
        "sweep", parents=parents, help="audit every encrypted EFS file system across accounts and Regions"
    )
    _target(sweep)
    sweep.add_argument(
        "--regions",
        type=_regions,
        metavar="R1,R2",
        help="Regions to sweep (default: KEYWATCH_REGIONS, the estate's or the current one)",
    )
    sweep.add_argument(
        "--accounts",
        type=_accounts,
        metavar="A1,A2",
        help="accounts to sweep (default: KEYWATCH_ACCOUNTS, else AWS Organizations ListAccounts, else this account)",
    )
    _mode_option(sweep, default_mode, "what to do about keys at risk (default: notify)")
    sweep.add_argument(
        "--workers", type=_workers, default=8, metavar="N", help="account-Region pairs swept at once (default 8)"
    )
    sweep.add_argument("--json", action="store_true", help="print the JSON report")
    sweep.set_defaults(func=cmd_sweep)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("keywatch")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keywatch",
        description="Watch KMS key changes that break encrypted Amazon EFS file systems.",
        epilog="Exit status: 0 all is well; 1 an event file is bad, a notification or an action failed, "
        "or restore refused; 2 the command line or the configuration is wrong.",
    )
    parser.add_argument("--version", action="version", version=f"keywatch {_version()}")
    parser.add_argument("--debug", action="store_true", help="log to stderr and show tracebacks of unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="{demo,replay,sweep,restore,incidents,silences,index}")
    parents = [_common()]
    try:  # a bad KEYWATCH_MODE is reported when the settings are read (exit 2), not here
        default_mode = _mode(os.environ.get("KEYWATCH_MODE") or "notify")
    except argparse.ArgumentTypeError:
        default_mode = Mode.NOTIFY

    demo = sub.add_parser("demo", parents=parents, help="replay every sample event on the simulated demo estate")
    _mode_option(demo, default_mode, "notify (default), approve, dry-run or enforce")
    demo.add_argument("--verbose", action="store_true", help="show every event in full, with its message")
    demo.add_argument("--json", action="store_true", help="print the JSON report instead of tables")
    demo.set_defaults(func=cmd_demo)

    replay = sub.add_parser("replay", parents=parents, help="replay EventBridge events on a simulated estate or AWS")
    replay.add_argument("events", nargs="+", metavar="EVENT.json")
    _target(replay)
    _mode_option(replay, default_mode, "notify (default), approve (Slack buttons), dry-run or enforce")
    replay.add_argument("--slack-webhook", metavar="URL", help="post to this Slack incoming webhook for real")
    replay.add_argument("--json", action="store_true", help="print the JSON report")
    replay.set_defaults(func=cmd_replay)

    add_sweep_parser(sub, parents, default_mode)

    restore = sub.add_parser("restore", parents=parents, help="re-create a file system's recorded mount targets")
    restore.add_argument("--file-system", required=True, metavar="FS_ID")
    _target(restore)
    restore.add_argument("--regions", type=_regions, metavar="R1,R2", help="Regions to look in (default: the estate's)")
    restore.add_argument(
        "--replay", nargs="+", default=[], metavar="EVENT.json", help="simulated estate only: replay these events first"
    )
    _mode_option(restore, default_mode, "mode for the --replay events")
    restore.add_argument("--dry-run", action="store_true", help="show what would be re-created")
    restore.add_argument("--json", action="store_true", help="print the JSON report")
    restore.set_defaults(func=cmd_restore)

    incidents = sub.add_parser("incidents", parents=parents, help="list incidents from the incident store")
    _target(incidents)
    incidents.add_argument(
        "--replay", nargs="+", default=[], metavar="EVENT.json", help="simulated estate only: replay these events first"
    )
    _mode_option(incidents, default_mode, "mode for the --replay events")
    incidents.add_argument("--json", action="store_true", help="print the incidents as JSON")
    incidents.set_defaults(func=cmd_incidents)

    silences = sub.add_parser(
        "silences", parents=parents, help="list the silences set from Slack (approve mode), or clear one"
    )
    _target(silences)
    silences.add_argument("--clear", metavar="KEY", help="remove the silence on this key (key ARN or key ID)")
    silences.add_argument("--json", action="store_true", help="print the silences as JSON")
    silences.set_defaults(func=cmd_silences)

    add_index_parser(sub, _target, parents)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # a usage error exits 2 here, with argparse's message
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_OK
    _configure_logging(args.debug)
    try:
        return func(args)
    except CliError as exc:
        err(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except Exception as exc:
        if args.debug:
            raise
        err(f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for details)")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
