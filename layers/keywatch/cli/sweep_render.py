"""What ``keywatch sweep`` shows a person: a progress bar on stderr, then tables on stdout.

The JSON report (``--json``) is the machine contract; nothing here ever writes to stdout in that mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from keywatch.cli.render import STYLE, console
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


def print_sweep(report: SweepReport) -> None:
    s = report.summary
    console.print(
        f"[bold]Swept {s.file_systems} EFS file systems[/] in {s.accounts} account"
        f"{'s' if s.accounts != 1 else ''} x {len(s.regions)} Region{'s' if len(s.regions) != 1 else ''} "
        f"({', '.join(s.regions)}): {s.customer_managed} on customer managed keys, {s.aws_managed} on the "
        f"AWS managed key, {s.unencrypted} unencrypted; {s.distinct_keys} distinct keys looked up once each."
    )
    if report.findings:
        table = Table(
            box=None, padding=(0, 2), title=f"{len(report.findings)} file systems at risk", title_justify="left"
        )
        for column in ("severity", "file system", "account/region", "key and state"):
            table.add_column(column, no_wrap=True, style="cyan" if column == "file system" else None)
        table.add_column("reason", min_width=40, ratio=1)
        for f in report.findings:
            key = f.key_arn.rsplit("/", 1)[-1] if f.key_arn else "-"
            table.add_row(
                f"[{STYLE.get(f.severity.value, '')}]{f.severity.value}[/]",
                f"{f.file_system_id}\n[dim]{escape(f.name or '-')}[/]",
                f"{f.account}\n{f.region}",
                f"{escape(key)}\n{f.key_state}",
                escape(f.reason),
            )
        console.print(table)
    else:
        console.print("[green]No file system is at risk.[/]")
    if report.unencrypted:
        names = ", ".join(f"{u.file_system_id} ({escape(u.name or '-')})" for u in report.unencrypted)
        console.print(f"[dim]Unencrypted (for information): {names}[/]")
    for result in report.results:
        sent = ", ".join(f"{n.channel} {n.status}" for n in result.notifications) or "none"
        actions = ", ".join(f"{a.type} {a.status}" for a in result.actions) or "no actions"
        console.print(
            f"incident {result.outcome.value}: key {escape((result.key_arn or '-').rsplit('/', 1)[-1])} "
            f"({result.key_state}); {actions}; notified: {sent}"
        )
    for c in report.countdowns:
        console.print(
            f"countdown: key {escape(c.key_arn.rsplit('/', 1)[-1])} is deleted in {c.days_left} days "
            f"({c.threshold_days}-day reminder: "
            f"{', '.join(f'{n.channel} {n.status}' for n in c.notifications) or 'no channel'})"
        )
    for e in s.errors:
        console.print(f"[bold red]error[/] {e.account}/{e.region}: {escape(e.error)}")
    calls = sum(s.api_calls.values())
    console.print(
        f"[dim]{s.duration_seconds:.2f}s, {calls} API calls (floor for this estate: {s.api_call_floor} "
        f"+ sts/organizations/incident store); sweep {s.sweep_id}[/]"
    )
