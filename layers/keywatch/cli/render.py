"""Human-readable CLI output (rich). The JSON report is the machine contract; this is for people."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from keywatch.models import EventResult, Mode, Outcome
from keywatch.notify import text

console = Console(highlight=False, soft_wrap=False)
if not console.is_terminal:
    console = Console(highlight=False, soft_wrap=False, width=140)

STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan", "info": "green"}
OUTCOME_STYLE = {
    Outcome.ALERT: "bold red",
    Outcome.RESOLVED: "bold green",
    Outcome.IGNORED: "dim",
    Outcome.DUPLICATE: "dim",
}


def _badge(result: EventResult) -> str:
    outcome = f"[{OUTCOME_STYLE[result.outcome]}]{result.outcome.value.upper()}[/]"
    if result.severity:
        outcome += f" [{STYLE.get(result.severity.value, '')}] {result.severity.value} [/]"
    return outcome


def print_result(path: str, result: EventResult, show_message: bool = False) -> None:
    key = result.key_arn.rsplit("/", 1)[-1] if result.key_arn else "-"
    state = result.key_state or "-"
    if result.key_state_after and result.key_state_after != result.key_state:
        state += f" -> {result.key_state_after}"
    console.print()
    console.print(
        f"{_badge(result)}  [bold]{escape(result.event_name)}[/]  key {escape(key)}  state {escape(state)}"
        f"  [dim]{escape(Path(path).name)}[/]"
    )
    console.print(f"  {escape(result.reason)}")
    if result.affected:
        table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2))
        for column in ("file system", "name", "account/region", "mount targets", "policy"):
            table.add_column(column, style="cyan" if column == "file system" else None, no_wrap=True)
        for fs in result.affected:
            mts = str(fs.mount_targets)
            if fs.mount_targets_after != fs.mount_targets:
                mts += f" -> {fs.mount_targets_after}"
            table.add_row(fs.file_system_id, escape(fs.name or "-"), f"{fs.account}/{fs.region}", mts, fs.policy.value)
        console.print(table)
    for action in result.actions:
        target = escape(action.target.rsplit("/", 1)[-1])
        console.print(f"  action {action.type} {target}: [bold]{action.status}[/] {escape(action.detail)}")
    for note in result.notifications:
        console.print(f"  [dim]notify {note.channel}: {note.status} {escape(note.detail)}[/]")
    if show_message and result.outcome in (Outcome.ALERT, Outcome.RESOLVED):
        console.print(
            Panel(
                escape(text.body(result)),
                title="message that is sent",
                title_align="left",
                border_style="dim",
                expand=False,
            )
        )


def print_demo_intro(fleet: Path, count: int, mode: Mode) -> None:
    hint = {
        Mode.NOTIFY: "Mode notify: alerts only. Try --mode dry-run to see the plan, or --mode enforce to act.",
        Mode.APPROVE: "Mode approve: actions are planned and offered as Slack buttons; nothing runs unapproved.",
        Mode.DRY_RUN: "Mode dry-run: actions are planned, nothing is changed.",
        Mode.ENFORCE: "Mode enforce: protect and unmount policies act on the simulated estate.",
    }[mode]
    console.print(
        Panel(
            f"Simulated AWS estate from [bold]{escape(str(fleet))}[/] (moto, in-process: no AWS account is used).\n"
            f"Replaying {count} sample KMS events through the same code the Lambda runs.\n{hint}",
            title="keywatch demo",
            title_align="left",
            expand=False,
        )
    )


def print_summary(results: Sequence[EventResult]) -> None:
    counts = Counter(r.outcome.value for r in results)
    hit = {fs.file_system_id for r in results if r.outcome == Outcome.ALERT for fs in r.affected}
    console.print()
    console.print(
        f"[bold]{len(results)} events:[/] "
        + ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
        + f"; {len(hit)} file systems were put at risk."
    )


def print_incidents(incidents: Sequence[dict[str, Any]]) -> None:
    if not incidents:
        console.print("No incidents.")
        return
    table = Table(box=None, padding=(0, 2))
    for column in ("key", "status", "severity", "opened", "event", "file systems", "actions"):
        table.add_column(column, no_wrap=column in ("key", "status", "opened"))
    for item in incidents:
        actions = ", ".join(f"{a['type']} {a['status']}" for a in item.get("actions", [])) or "-"
        table.add_row(
            escape(str(item["pk"]).rsplit("/", 1)[-1]),
            item.get("status", "-"),
            str(item.get("severity")),
            str(item.get("opened_at", ""))[:16].replace("T", " "),
            escape(str(item.get("event_name"))),
            escape(", ".join(fs["file_system_id"] for fs in item.get("affected", []))),
            escape(actions),
        )
    console.print(table)
