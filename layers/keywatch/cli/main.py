"""The ``keywatch`` command: demo, replay, sweep, restore, incidents, silences (DESIGN.md §2)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from keywatch.cli.index_cmd import add_index_parser
from keywatch.cli.session import (
    EXIT_INPUT,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    default_events_dir,
    default_fleet,
    load_events,
    open_session,
    run_replay,
)
from keywatch.cli.session import err as _err
from keywatch.errors import HandlingIncomplete
from keywatch.models import EventResult, Mode


def _quiet_powertools() -> None:
    """The CLI owns stdout: Powertools logs go to stderr at WARNING, metrics are not flushed."""
    warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_DEV", "false")
    from keywatch.observability import logger

    logger.setLevel(os.environ["POWERTOOLS_LOG_LEVEL"])
    for handler in logger.handlers:
        if hasattr(handler, "setStream"):
            handler.setStream(_STDERR)


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a log line is written (not when the CLI started)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_STDERR = _CurrentStderr()


def _report(results: Sequence[EventResult]) -> str:
    return json.dumps({"results": [r.report() for r in results]}, indent=2)


def cmd_replay(args: argparse.Namespace) -> int:
    from keywatch.cli.render import print_result

    printer = None if args.json else (lambda path, result, _estate: print_result(path, result))
    if args.slack_webhook:
        from keywatch.adapters.slack import SlackConfigError, webhook_target

        try:
            webhook_target(args.slack_webhook)
        except SlackConfigError as exc:
            raise CliError(f"--slack-webhook: {exc}") from None
    results, status = run_replay(
        args.events, args.fleet, args.aws, args.mode, printer, slack_webhook=args.slack_webhook
    )
    if args.json:
        print(_report(results))
    return status


def cmd_demo(args: argparse.Namespace) -> int:
    from keywatch.cli.render import print_demo_intro, print_result, print_summary

    events_dir = default_events_dir()
    paths = sorted(str(p) for p in events_dir.glob("*.json"))
    if not paths:
        raise CliError(f"no sample events in {events_dir}")
    if not args.json:
        print_demo_intro(default_fleet(), len(paths), args.mode)
    printer = None if args.json else (lambda path, result, _e: print_result(path, result, show_message=True))
    results, status = run_replay(paths, default_fleet(), False, args.mode, printer)
    if args.json:
        print(_report(results))
    else:
        print_summary(results)
    return status


def _prepare(watchdog: Any, estate: Any, replay: Sequence[str]) -> None:
    """For restore/incidents on a simulated estate: replay events first, so there is something to see."""
    if not replay:
        return
    for item in load_events(replay):
        if item.event is None:
            raise CliError(f"{item.path}: {item.error}")
        event = item.event
        if estate is not None:
            estate.apply(event)
        try:
            watchdog.handle_event(event)
        except HandlingIncomplete as exc:
            raise CliError(f"{item.path}: not finished: {'; '.join(exc.steps)}") from exc


def _where(watchdog: Any, args: argparse.Namespace) -> tuple[list[str], list[str]]:
    accounts = list(dict.fromkeys([*watchdog.settings.accounts] or [watchdog.clients.home_account]))
    regions = args.regions or watchdog.settings.regions or [watchdog.clients.home_region]
    return accounts, regions


def cmd_restore(args: argparse.Namespace) -> int:
    from keywatch.cli.render import print_result

    if args.aws and args.replay:
        raise CliError("--replay only applies to a simulated estate, not --aws")
    with open_session(args.fleet, args.aws, args.mode) as (watchdog, estate):
        _prepare(watchdog, estate, args.replay)
        accounts, regions = _where(watchdog, args)
        try:
            result = watchdog.restore(
                args.file_system, accounts, regions, mode=Mode.DRY_RUN if args.dry_run else Mode.ENFORCE
            )
        except LookupError as exc:
            raise CliError(str(exc)) from exc
        except HandlingIncomplete as exc:  # reported below: the failed steps are in the result
            result = exc.result
    if args.json:
        print(_report([result]))
    else:
        print_result("restore", result)
    failed = any(a.status == "failed" for a in result.actions)
    return EXIT_INPUT if failed else EXIT_OK


def cmd_incidents(args: argparse.Namespace) -> int:
    from keywatch.cli.render import print_incidents

    if args.aws and args.replay:
        raise CliError("--replay only applies to a simulated estate, not --aws")
    with open_session(args.fleet, args.aws, args.mode) as (watchdog, estate):
        _prepare(watchdog, estate, args.replay)
        if watchdog.incidents is None:
            raise CliError("no incident store: set KEYWATCH_INCIDENTS_TABLE")
        incidents = watchdog.incidents.list_all()
        _with_interactions(watchdog, incidents)
    if args.json:
        print(json.dumps({"incidents": incidents}, indent=2, default=str))
    else:
        from keywatch.cli.approvals_render import print_interactions

        print_incidents(incidents)
        print_interactions(incidents)
    return EXIT_OK


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
        print(json.dumps({"silences": [silence_document(s, now) for s in silences]}, indent=2))
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
        print(json.dumps({"cleared": silence.key_arn}))
    else:
        print(f"Silence cleared: alerts on {silence.key_arn} are sent again.")
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    """Audit every encrypted file system, in-process: bounded concurrency over account x Region."""
    from botocore.exceptions import BotoCoreError, ClientError

    from keywatch.fanout import resolve_accounts, targets_for
    from keywatch.sweep import Sweeper

    with open_session(args.fleet, args.aws, args.mode) as (watchdog, _estate):
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
        print(json.dumps(report.report(), indent=2))
    else:
        from keywatch.cli.sweep_render import print_sweep

        print_sweep(report)
    for error in report.summary.errors:
        _err(f"{error.account}/{error.region}: {error.error}")
    return EXIT_INPUT if report.summary.errors else EXIT_OK


def _accounts(value: str) -> list[str]:
    accounts = [a.strip() for a in value.split(",") if a.strip()]
    if not accounts or any(not (a.isdigit() and len(a) == 12) for a in accounts):
        raise argparse.ArgumentTypeError("give 12-digit account IDs, e.g. 111122223333,444455556666")
    return accounts


def _workers(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise argparse.ArgumentTypeError("--workers takes a number from 1 to 64")
    return int(value)


def add_sweep_parser(sub: Any, target: Callable[[argparse.ArgumentParser], None], default_mode: str) -> None:
    sweep = sub.add_parser("sweep", help="audit every encrypted EFS file system across accounts and Regions")
    target(sweep)
    sweep.add_argument(
        "--regions", type=_regions, help="Regions to sweep (default: KEYWATCH_REGIONS, the estate's or the current one)"
    )
    sweep.add_argument(
        "--accounts",
        type=_accounts,
        help="accounts to sweep (default: KEYWATCH_ACCOUNTS, else AWS Organizations ListAccounts, else this account)",
    )
    sweep.add_argument(
        "--mode",
        type=_mode,
        default=_mode(default_mode),
        help="what to do about keys at risk: notify (default), approve, dry-run, enforce",
    )
    sweep.add_argument("--workers", type=_workers, default=8, help="account-Region pairs swept at once (default 8)")
    sweep.add_argument("--json", action="store_true", help="print the JSON report")
    sweep.set_defaults(func=cmd_sweep)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keywatch",
        description="Watch KMS key changes that break encrypted Amazon EFS file systems.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    sub = parser.add_subparsers(dest="command", required=True)

    def target(p: argparse.ArgumentParser) -> None:
        group = p.add_mutually_exclusive_group()
        group.add_argument("--fleet", type=Path, help="simulated estate (default: events/fleet.yaml)")
        group.add_argument("--aws", action="store_true", help="use real AWS through the normal credential chain")

    default_mode = os.environ.get("KEYWATCH_MODE") or "notify"

    demo = sub.add_parser("demo", help="replay every sample event on the simulated demo estate")
    demo.add_argument("--mode", type=_mode, default=_mode(default_mode))
    demo.add_argument("--json", action="store_true", help="print the JSON report instead of tables")
    demo.set_defaults(func=cmd_demo)

    replay = sub.add_parser("replay", help="replay EventBridge events on a simulated estate or AWS")
    replay.add_argument("events", nargs="+", metavar="EVENT.json")
    target(replay)
    replay.add_argument(
        "--mode",
        type=_mode,
        default=_mode(default_mode),
        help="notify (default), approve (Slack buttons), dry-run, enforce",
    )
    replay.add_argument("--slack-webhook", metavar="URL", help="post to this Slack incoming webhook for real")
    replay.add_argument("--json", action="store_true", help="print the JSON report")
    replay.set_defaults(func=cmd_replay)

    restore = sub.add_parser("restore", help="re-create a file system's recorded mount targets")
    restore.add_argument("--file-system", required=True, metavar="FS_ID")
    target(restore)
    restore.add_argument("--regions", type=_regions, help="Regions to look in (default: the estate's)")
    restore.add_argument(
        "--replay", nargs="+", default=[], metavar="EVENT.json", help="simulated estate only: replay these events first"
    )
    restore.add_argument("--mode", type=_mode, default=_mode(default_mode), help="mode for the --replay events")
    restore.add_argument("--dry-run", action="store_true", help="show what would be re-created")
    restore.add_argument("--json", action="store_true")
    restore.set_defaults(func=cmd_restore)

    incidents = sub.add_parser("incidents", help="list incidents from the incident store")
    target(incidents)
    incidents.add_argument(
        "--replay", nargs="+", default=[], metavar="EVENT.json", help="simulated estate only: replay these events first"
    )
    incidents.add_argument("--mode", type=_mode, default=_mode(default_mode), help="mode for the --replay events")
    incidents.add_argument("--json", action="store_true")
    incidents.set_defaults(func=cmd_incidents)

    silences = sub.add_parser("silences", help="list the silences set from Slack (approve mode), or clear one")
    target(silences)
    silences.add_argument("--clear", metavar="KEY", help="remove the silence on this key (key ARN or key ID)")
    silences.add_argument("--json", action="store_true")
    silences.set_defaults(func=cmd_silences)

    add_sweep_parser(sub, target, default_mode)
    add_index_parser(sub, target)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except argparse.ArgumentTypeError as exc:
        _err(str(exc))
        return EXIT_USAGE
    _quiet_powertools()
    try:
        return int(args.func(args))
    except CliError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:
        if args.debug:
            raise
        _err(f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for details)")
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
