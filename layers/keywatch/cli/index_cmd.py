"""``keywatch index --fleet F | --aws [--json]``: what the key-to-file-system index holds.

On a simulated estate the index is filled the way a sweep fills it (:meth:`Estate.fill_index`); with
``--aws`` it is read from the table ``KEYWATCH_INDEX_TABLE`` names (a Scan, with your credentials).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from keywatch.cli.session import EXIT_OK, CliError, open_session
from keywatch.models import Mode

if TYPE_CHECKING:  # imported when the command runs: every other command starts without them
    from rich.console import Console

    from keywatch.sweep.index import IndexEntry, SweptMarker


def index_document(
    entries: Sequence[IndexEntry], markers: Sequence[SweptMarker], table: str | None, now: datetime
) -> dict[str, Any]:
    """The ``keywatch index --json`` document: entries grouped by key, and which account-Regions were swept."""
    by_key: dict[str, list[IndexEntry]] = defaultdict(list)
    for entry in entries:
        by_key[entry.key_arn].append(entry)
    live = [e for e in entries if e.live(now)]
    return {
        "index": {
            "table": table,
            "filled": any(m.live(now) for m in markers),
            "swept": [{**m.model_dump(mode="json"), "expired": not m.live(now)} for m in markers],
            "keys": [
                {
                    "key_arn": key_arn,
                    "file_systems": [
                        {
                            **e.model_dump(mode="json", exclude={"key_arn"}),
                            "expired": not e.live(now),
                        }
                        for e in sorted(found, key=lambda e: e.where)
                    ],
                }
                for key_arn, found in sorted(by_key.items())
            ],
            "summary": {
                "keys": len({e.key_arn for e in live}),
                "file_systems": len(live),
                "accounts": len({e.account for e in live}),
                "swept_targets": sum(1 for m in markers if m.live(now)),
                "expired": len(entries) - len(live) + sum(1 for m in markers if not m.live(now)),
            },
        }
    }


def print_index(document: dict[str, Any], console: Console | None = None) -> None:
    """Each key's ARN on a line of its own, then its file systems: IDs whole at any width (cli/render.py)."""
    from keywatch.cli.render import escape, out, para, whole
    from keywatch.notify.text import plural

    console = out(console)
    index = document["index"]
    summary = index["summary"]
    if not index["filled"]:
        para(
            console,
            "[yellow]No sweep has filled the index yet[/]: events list the configured accounts instead.",
            first="",
        )
    para(
        console,
        f"[bold]{plural(summary['file_systems'], 'EFS file system')} on "
        f"{plural(summary['keys'], 'customer managed key')}[/] in {plural(summary['accounts'], 'account')}; "
        f"{plural(summary['swept_targets'], 'account-Region')} swept"
        + (f"; {plural(summary['expired'], 'expired item')} awaiting deletion" if summary["expired"] else "")
        + (f" (table {escape(index['table'])})" if index["table"] else ""),
        first="",
    )
    for key in index["keys"]:
        console.print()
        whole(console, key["key_arn"], indent=0)
        for fs in key["file_systems"]:
            seen = f"{fs['last_seen'][:19].replace('T', ' ')} UTC" + (" (expired)" if fs["expired"] else "")
            para(
                console,
                f"[cyan]{fs['file_system_id']}[/]  {escape(fs['name'] or '-')} \u00b7 {fs['account']}/{fs['region']} "
                f"\u00b7 {plural(fs['mount_targets'], 'mount target')} \u00b7 policy {fs['policy']} \u00b7 seen {seen}",
                indent=4,
            )
    if index["swept"]:
        console.print()
        console.print("[bold]Swept[/]")
        for m in index["swept"]:
            at = f"{m['swept_at'][:19].replace('T', ' ')} UTC" + (" (expired)" if m["expired"] else "")
            para(
                console,
                f"{m['account']}/{m['region']} \u00b7 {at} \u00b7 {escape(m['sweep_id'] or '-')} \u00b7 "
                + plural(m["file_systems"], "file system"),
                indent=4,
            )


def cmd_index(args: argparse.Namespace) -> int:
    with open_session(args.fleet, args.aws, Mode.NOTIFY) as (watchdog, _estate):
        if watchdog.index is None:
            raise CliError("no key-to-file-system index: set KEYWATCH_INDEX_TABLE (the stack's KeyIndexTableName)")
        entries, markers = watchdog.index.contents()
        document = index_document(entries, markers, watchdog.settings.index_table, datetime.now(UTC))
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print_index(document)
    return EXIT_OK


def add_index_parser(
    sub: Any, target: Callable[[argparse.ArgumentParser], None], parents: Sequence[argparse.ArgumentParser] = ()
) -> None:
    index = sub.add_parser(
        "index", parents=list(parents), help="show the key-to-file-system index (which file systems use each key)"
    )
    target(index)
    index.add_argument("--json", action="store_true", help="print the JSON document")
    index.set_defaults(func=cmd_index)
