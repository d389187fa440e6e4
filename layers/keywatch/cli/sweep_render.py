"""What ``keywatch sweep`` shows a person: a progress bar on stderr, then tables on stdout.

The JSON report (``--json``) is the machine contract; nothing here ever writes to stdout in that mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from keywatch.cli.render import STYLE, escape, out, para
from keywatch.notify.text import plural
from keywatch.sweep import ProgressCallback, SweepReport


@contextmanager
def sweep_progress(enabled: bool) -> Iterator[ProgressCallback | None]:
    """A rich progress bar on stderr (only for a person at a terminal), as a Sweeper progress callback."""
    if not enabled:
        yield None
        return
    progress = Progress(
        TextColumn("{task.description:<13}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = progress.add_task(phase, total=total)
        progress.update(tasks[phase], completed=done, total=total)

    with progress:
        yield update


def print_sweep(report: SweepReport, console: Console | None = None) -> None:
    """The sweep for a person: each file system at risk as a short block, IDs whole at any width."""
    c = out(console)
    s = report.summary
    para(
        c,
        f"[bold]Swept {plural(s.file_systems, 'EFS file system')}[/] in {plural(s.accounts, 'account')} x "
        f"{plural(len(s.regions), 'Region')} ({', '.join(s.regions)}): {s.customer_managed} on customer managed "
        f"keys, {s.aws_managed} on the AWS managed key, {s.unencrypted} unencrypted; "
        f"{plural(s.distinct_keys, 'distinct key')} looked up once each.",
        first="",
    )
    if report.findings:
        c.print(f"[bold]{plural(len(report.findings), 'file system')} at risk:[/]")
        for f in report.findings:
            severity = f"[{STYLE.get(f.severity.value, '')}]{f.severity.value:<8}[/]"
            para(c, f"[cyan]{f.file_system_id}[/]  {escape(f.name or '-')}", first=f"  {severity}  ")
            key = f.key_arn.rsplit("/", 1)[-1] if f.key_arn else "-"
            para(
                c, f"{f.account} / {f.region} \u00b7 key {escape(key)} \u00b7 {f.key_state}", indent=12, first=" " * 12
            )
            para(c, Text(f.reason), indent=12, first=" " * 12)
    else:
        c.print("[green]No file system is at risk.[/]")
    if report.unencrypted:
        names = ", ".join(f"{u.file_system_id} ({escape(u.name or '-')})" for u in report.unencrypted)
        para(c, f"[dim]Unencrypted (for information): {names}[/]", first="")
    for result in report.results:
        sent = ", ".join(f"{n.channel} {n.status}" for n in result.notifications) or "none"
        actions = ", ".join(f"{a.type} {a.status}" for a in result.actions) or "no actions"
        key = escape((result.key_arn or "-").rsplit("/", 1)[-1])
        para(
            c, f"incident {result.outcome.value}: key {key} ({result.key_state}); {actions}; notified: {sent}", first=""
        )
    for cd in report.countdowns:
        channels = ", ".join(f"{n.channel} {n.status}" for n in cd.notifications) or "no channel"
        para(
            c,
            f"countdown: key {escape(cd.key_arn.rsplit('/', 1)[-1])} is deleted in {plural(cd.days_left, 'day')} "
            f"({cd.threshold_days}-day reminder: {channels})",
            first="",
        )
    for e in s.errors:
        para(c, f"[bold red]error[/] {e.account}/{e.region}: {escape(e.error)}", first="")
    calls = sum(s.api_calls.values())
    para(
        c,
        f"[dim]{s.duration_seconds:.2f}s, {calls} API calls (floor for this estate: {s.api_call_floor} "
        f"+ sts/organizations/incident store); sweep {s.sweep_id}[/]",
        first="",
    )
