"""What a person reads (rich). The JSON report is the machine contract; this is for people.

Rules that hold at every width from 80 columns up:
- an ID (file system, key ARN, event) is never cut: ID columns are as wide as their longest ID, and a
  line that holds an ARN or a command is printed without hard wrapping, so a copy gets it whole;
- commands are printed on lines of their own, never inside a box, so they copy as they are;
- the demo reads as one page: one line per event, one full message, and what is still broken.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape as markup_escape
from rich.table import Table
from rich.text import Text

from keywatch.adapters.aws import AWS_ERRORS, AccountAccessError
from keywatch.assess import grant_holders
from keywatch.models import ActionResult, Affected, EventResult, KeyState, Mode, Outcome
from keywatch.notify import text
from keywatch.notify.hygiene import neutral
from keywatch.policy import PolicyUnreadable, Target, analyse, statements

if TYPE_CHECKING:
    from keywatch.cli.session import Entry
    from keywatch.engine import Watchdog

PIPE_WIDTH = 100  # output that goes to a file or a pipe, when COLUMNS doesn't say

STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan", "info": "green"}
OUTCOME_STYLE = {
    Outcome.ALERT: "bold red",
    Outcome.RESOLVED: "bold green",
    Outcome.IGNORED: "dim",
    Outcome.DUPLICATE: "dim",
}
STATUS_STYLE = {"done": "green", "planned": "cyan", "skipped": "yellow", "failed": "bold red", "queued": "blue"}
ACTION_ON = {
    "cancel_key_deletion": "cancel the deletion of {}",
    "enable_key": "re-enable {}",
    "delete_mount_targets": "remove the mount targets of {}",
    "restore_mount_targets": "put back the mount targets of {}",
}


def escape(value: object) -> str:
    """Untrusted text (names, tags, principals, details) as rich shows it: control, line-separator and
    bidi characters neutralised (:mod:`keywatch.notify.hygiene`: an ESC or U+202E in a Name tag must
    never reach the terminal) and rich's markup escaped."""
    return markup_escape(neutral(value))


def make_console(file: Any = None, width: int | None = None) -> Console:
    console = Console(file=file, width=width, highlight=False, soft_wrap=False)
    if width is None and not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(file=file, width=PIPE_WIDTH, highlight=False, soft_wrap=False)
    return console


_console: Console | None = None


def out(console: Console | None = None) -> Console:
    """The console to print to: the one given (tests render at fixed widths), else stdout's."""
    global _console
    if console is not None:
        return console
    if _console is None:
        _console = make_console()
    return _console


# --- small pieces -----------------------------------------------------------------------------------


def badge(result: EventResult) -> str:
    outcome = f"[{OUTCOME_STYLE[result.outcome]}]{result.outcome.value.upper()}[/]"
    if result.severity and result.outcome == Outcome.ALERT:
        outcome += f" [{STYLE.get(result.severity.value, '')}]{result.severity.value}[/]"
    return outcome


def key_name(result: EventResult) -> str:
    """The key's alias, else its ID: short enough for a line about the event."""
    if result.key and result.key.aliases:
        return result.key.aliases[0]
    return result.key_arn.rsplit("/", 1)[-1] if result.key_arn else "-"


def key_states(result: EventResult) -> str:
    state = str(result.key_state or "-")
    if result.key_state_after and result.key_state_after != result.key_state:
        state += f" -> {result.key_state_after}"
    return state


def mount_targets(fs: Affected) -> str:
    if fs.mount_targets_after != fs.mount_targets:
        return f"{fs.mount_targets} -> {fs.mount_targets_after}"
    return str(fs.mount_targets)


def para(console: Console, body: str | Text, indent: int | None = None, first: str = "  ") -> None:
    """Prose wrapped to the console with a hanging indent, no trailing spaces. Markup in a str is read.

    ``first`` starts the first line (markup allowed); the lines after it are indented by ``indent``,
    or as far as ``first`` reaches.
    """
    text = Text.from_markup(body) if isinstance(body, str) else body
    lead = Text.from_markup(first)
    hang = lead.cell_len if indent is None else indent
    for i, line in enumerate(text.wrap(console, max(20, console.width - max(hang, lead.cell_len)))):
        line.rstrip()
        console.print((lead.copy() if i == 0 else Text(" " * hang)) + line, soft_wrap=True)


def block(console: Console, renderable: Any, indent: int = 2) -> None:
    """A table, indented, without the padding rich adds at the end of each line."""
    options = console.options.update_width(max(20, console.width - indent))
    for segments in console.render_lines(renderable, options, pad=False):
        line = Text(" " * indent)
        for segment in segments:
            if not segment.control:
                line.append(segment.text, segment.style)
        line.rstrip()
        console.print(line, soft_wrap=True)


def whole(console: Console, line: str, indent: int = 2) -> None:
    """A line holding an ID or a command: never hard-wrapped or cut (the terminal may fold it; a copy is whole)."""
    console.print(Text(" " * indent + line), soft_wrap=True)


def print_steps(console: Console, steps: Sequence[text.Step], indent: int = 2) -> None:
    if not steps:
        return
    console.print(" " * indent + "[bold]Next:[/]")
    for i, step in enumerate(steps, 1):
        para(console, Text(step.say), first=f"{' ' * indent}  {i}. ")
        if step.command:
            whole(console, step.command, indent + 5)


def file_system_table(affected: Sequence[Affected]) -> Table:
    table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False)
    id_width = max(len(fs.file_system_id) for fs in affected)
    table.add_column("file system", min_width=id_width, overflow="fold")
    table.add_column("account / Region", min_width=12, overflow="fold")
    table.add_column("mount targets", no_wrap=True)
    table.add_column("policy", no_wrap=True)
    for fs in affected:
        table.add_row(
            f"[cyan]{fs.file_system_id}[/]\n{escape(fs.name or '-')}",
            f"{fs.account}\n{fs.region}",
            mount_targets(fs),
            fs.policy.value,
        )
    return table


def action_table(actions: Sequence[ActionResult]) -> Table:
    table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False, show_header=False)
    table.add_column("status", no_wrap=True)
    table.add_column("action", no_wrap=True)
    ids = [a.target for a in actions if a.target.startswith("fs-")]
    table.add_column("file system", min_width=max(map(len, ids), default=0), overflow="fold")
    table.add_column("detail")
    for a in actions:
        table.add_row(
            f"[{STATUS_STYLE.get(a.status, '')}]{a.status}[/]",
            text.action_name(a.type),
            a.target if a.target.startswith("fs-") else "",
            escape(a.detail),
        )
    return table


def notified(result: EventResult) -> str:
    return ", ".join(f"{n.channel} {n.status}" for n in result.notifications) or "nothing sent"


# --- one event, in full (replay, restore, demo --verbose) --------------------------------------------


def print_entry(entry: Entry, console: Console | None = None) -> None:
    """One event in full: what happened, what is true now, the file systems, the actions, what to do."""
    result = entry.result
    if result is None:
        return
    c = out(console)
    c.print()
    para(c, f"{badge(result)}  [bold]{escape(result.event_name)}[/]  [dim]{escape(Path(entry.path).name)}[/]", first="")
    para(c, f"key {escape(key_name(result))}  {escape(key_states(result))}")
    if result.key_arn:
        whole(c, result.key_arn)
    para(c, Text(result.reason))
    if line := text.now_line(result):
        para(c, Text(line, style="bold"))
    if result.affected:
        block(c, file_system_table(result.affected))
    if result.actions:
        block(c, action_table(result.actions))
    if result.notifications:
        para(c, Text(f"notified: {notified(result)}", style="dim"))
    print_steps(c, text.next_steps(result))


def print_message(console: Console, entry: Entry) -> None:
    """The message that is sent (the SNS e-mail text; Slack gets the same in blocks), with no box around it."""
    if entry.result is None:
        return
    console.print()
    console.rule(f"The message sent for {Path(entry.path).name}", align="left", style="dim")
    for line in text.body(entry.result).splitlines():
        stripped = line.strip()
        if stripped.startswith(("aws ", "keywatch ", "Key ARN:")) or " arn:aws:" in line:
            whole(console, line, indent=0)
        else:
            lead = line[: len(line) - len(line.lstrip())]
            hang = len(lead) + (3 if stripped[:2] == "- " or stripped[:1].isdigit() else 0)
            para(console, Text(stripped), hang, first=lead)
    console.rule(style="dim")


# --- the demo ---------------------------------------------------------------------------------------


@dataclass
class Broken:
    """A file system that is still not well after the demo, and why (read from the estate, not inferred)."""

    file_system_id: str
    name: str | None
    problem: str


def estate_now(watchdog: Watchdog, entries: Sequence[Entry]) -> list[Broken]:
    """Look at the estate again: every file system an event touched whose key, grant or mount targets are wrong."""
    seen: dict[str, tuple[Affected, str]] = {}
    for entry in entries:
        result = entry.result
        if result is None or result.key_arn is None or result.outcome not in (Outcome.ALERT, Outcome.RESOLVED):
            continue
        for fs in result.affected:
            seen.setdefault(fs.file_system_id, (fs, result.key_arn))
    keys: dict[str, Any] = {}
    broken = []
    for fs_id, (first, key_arn) in seen.items():
        if key_arn not in keys:
            key = watchdog.describe_key(key_arn, with_aliases=True)
            enabled = key.state == KeyState.ENABLED
            grants = watchdog.kms.efs_grants(key_arn) if enabled else None
            recorded = watchdog.incidents.snapshots(key_arn) if watchdog.incidents is not None else {}
            policy = _key_policy(watchdog, key_arn) if enabled else None
            keys[key_arn] = (key, grant_holders(grants) if grants is not None else None, recorded, policy)
        key, grants, recorded, policy = keys[key_arn]
        label = key.aliases[0] if key.aliases else key.key_id
        problems = []
        if key.state != KeyState.ENABLED:
            problems.append(f"key {label} is {key.state}")
        elif grants is not None and fs_id.lower() not in grants:
            problems.append(f"its EFS grant on key {label} is gone")
        if policy and (lockout := analyse(policy, Target(fs_id, first.account, first.region)).lockout):
            problems.append(f"key {label}'s policy denies EFS {lockout.actions[0]} (statement {lockout.statement})")
        live = watchdog.efs.get(fs_id, first.account, first.region)
        now = len(watchdog.mounts.subnets(live)) if live is not None else 0
        if now < first.mount_targets:
            why = "removed by keywatch, recorded to put back" if fs_id in recorded else "removed"
            problems.append(f"{now} of {first.mount_targets} mount targets ({why})")
        if problems:
            broken.append(Broken(fs_id, first.name, "; ".join(problems)))
    return broken


def _key_policy(watchdog: Watchdog, key_arn: str) -> list[dict[str, Any]] | None:
    """The key's policy statements as the estate holds them now (None when they can't be read)."""
    try:
        return statements(watchdog.kms.key_policy(key_arn))
    except (*AWS_ERRORS, AccountAccessError, PolicyUnreadable):
        return None


def story(result: EventResult) -> str:
    """The compact line's text: what is true now, and what keywatch did or would do."""
    if result.outcome in (Outcome.IGNORED, Outcome.DUPLICATE):
        return result.reason
    line = text.summary(result).split(": ", 1)[-1]
    changed = [fs for fs in result.affected if fs.mount_targets_after != fs.mount_targets]
    if changed:
        line += "; " + ", ".join(f"{fs.name or fs.file_system_id} {mount_targets(fs)} mount targets" for fs in changed)
    offered = [text.action_name(a.type) for a in result.actions if a.offered]
    if offered:
        line += "; offered in Slack, waiting for an approver: " + ", ".join(offered)
    planned = [text.action_name(a.type) for a in result.actions if a.status == "planned" and not a.offered]
    skipped = [text.action_name(a.type) for a in result.actions if a.status == "skipped"]
    rehearsal = planned or any(a.detail.startswith("would") and not a.offered for a in result.actions)
    if rehearsal:
        line += "; enforce would " + (", then ".join(planned) or "do nothing")
        line += f" (and skip: {', '.join(skipped)})" if skipped else ""
    elif skipped:
        line += f"; skipped: {', '.join(skipped)}"
    failed = [f"{a.type} failed" for a in result.actions if a.status == "failed"]
    failed += [f"{n.channel} failed" for n in result.notifications if n.status == "failed"]
    if failed:
        line += "; " + ", ".join(failed)
    return line


HINTS = {
    Mode.NOTIFY: "Mode notify: alerts only, nothing is changed. Try --mode dry-run to see the plan, or --mode enforce.",
    Mode.APPROVE: "Mode approve: actions are planned and offered as Slack buttons; nothing runs unapproved.",
    Mode.DRY_RUN: "Mode dry-run: actions are planned, in the order enforce runs them; nothing is changed.",
    Mode.ENFORCE: "Mode enforce: the protect and unmount policies act on the simulated estate.",
}


def _shown_path(path: Path) -> str:
    """The path as a person would type it: relative to where they are, when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class Demo:
    """``keywatch demo``: one line per event as it is handled, one full message, then a summary."""

    def __init__(self, fleet: Path, count: int, mode: Mode, verbose: bool = False, console: Console | None = None):
        self.fleet, self.count, self.mode, self.verbose = fleet, count, mode, verbose
        self.console = out(console)
        self._grid: Table | None = None

    def intro(self) -> None:
        c = self.console
        para(
            c,
            f"[bold]keywatch demo[/]: {self.count} sample events, replayed through the code the Lambda runs, "
            f"on a simulated AWS estate built from {escape(_shown_path(self.fleet))} (moto, in-process; no AWS account "
            "is used).",
            first="",
        )
        para(c, HINTS[self.mode], first="")
        c.print()

    def event(self, entry: Entry) -> None:
        result = entry.result
        number = Path(entry.path).name.split("_", 1)[0]
        if self.verbose:
            print_entry(entry, self.console)
            if result is not None and result.outcome in (Outcome.ALERT, Outcome.RESOLVED):
                print_message(self.console, entry)
            return
        if result is None:
            line = f"[bold red]ERROR[/]  {escape(entry.error or '')}"
        else:
            head = f"{badge(result)}  [bold]{escape(result.event_name)}[/] · {escape(key_name(result))}"
            line = f"{head} · {escape(story(result))}"
        para(self.console, line, first=f"{number:<4}")

    def summary(self, entries: Sequence[Entry], broken: Sequence[Broken]) -> None:
        c = self.console
        results = [e.result for e in entries if e.result is not None]
        if not self.verbose:
            example = _example(results)
            if example is not None:
                entry = next(e for e in entries if e.result is example)
                print_message(c, entry)
                c.print("[dim]Every message: keywatch demo --verbose[/]")
        c.print()
        counts = Counter(r.outcome.value for r in results)
        plural = {"alert": "alerts", "resolved": "resolved", "ignored": "ignored", "duplicate": "duplicates"}
        tally = [f"{counts[o]} {plural[o] if counts[o] != 1 else o}" for o in plural if counts[o]]
        if len(entries) > len(results):
            tally.append(f"{len(entries) - len(results)} unreadable")
        para(
            c,
            f"[bold]Summary[/], mode {self.mode.value}: {text.plural(len(entries), 'event')}: {', '.join(tally)}",
            first="",
        )
        self._notifications(results)
        self._actions(entries)
        self._broken(broken)

    def _notifications(self, results: Sequence[EventResult]) -> None:
        """One line per channel: how many were sent, skipped or failed, and why when it was not sent."""
        notes = [n for r in results if r.outcome in (Outcome.ALERT, Outcome.RESOLVED) for n in r.notifications]
        for channel in dict.fromkeys(n.channel for n in notes):
            mine = [n for n in notes if n.channel == channel]
            counts = Counter(n.status for n in mine)
            line = f"{channel.upper() if channel == 'sns' else channel.title()}: " + ", ".join(
                f"{n} {status}" for status, n in sorted(counts.items())
            )
            why = next((n.detail for n in mine if n.status != "sent"), "")
            para(self.console, line + (f" \u2014 {why}" if why else ""), indent=4)

    def _actions(self, entries: Sequence[Entry]) -> None:
        c = self.console
        done = [(e, e.result, a) for e in entries if e.result is not None for a in e.result.actions]
        if not done:
            para(c, "keywatch changed nothing (mode notify sends alerts only).", indent=4)
            return
        heading = {
            Mode.DRY_RUN: "What enforce would do (dry run: nothing was changed)",
            Mode.APPROVE: "What keywatch offered in Slack (nothing runs until an approver clicks it)",
        }.get(self.mode, "What keywatch did")
        c.print(f"  {heading}:")
        for entry, result, a in done:
            number = Path(entry.path).name.split("_", 1)[0]
            target = a.target if a.target.startswith("fs-") else key_name(result)
            style = STATUS_STYLE.get(a.status, "")
            detail = f": {escape(a.detail)}" if a.status != "planned" else ""
            line = ACTION_ON.get(a.type, a.type + " {}").format(escape(target)) + detail
            para(c, line, first=f"    {number:<3} [{style}]{a.status:<8}[/] ")

    def _broken(self, broken: Sequence[Broken]) -> None:
        c = self.console
        if not broken:
            c.print("  [green]Nothing is broken now:[/] every file system an event touched has its key and mounts.")
            return
        c.print(
            f"  [bold red]Still broken now[/] ({text.plural(len(broken), 'file system')}, read back from the estate):"
        )
        width = max(len(b.file_system_id) for b in broken)
        for b in broken:
            para(
                c, f"{escape(b.name or '-')}: {escape(b.problem)}", first=f"    [cyan]{b.file_system_id:<{width}}[/]  "
            )


def _example(results: Iterable[EventResult]) -> EventResult | None:
    """The message worth showing in full: the first where keywatch acted, else the first alert."""
    alerts = [r for r in results if r.outcome == Outcome.ALERT]
    acted = [r for r in alerts if any(a.status in ("done", "planned", "failed") for a in r.actions)]
    return (acted or alerts)[0] if alerts else None


# --- incidents --------------------------------------------------------------------------------------


def _when(value: object) -> str:
    """``2026-11-28T09:15:42+00:00`` -> ``2026-11-28 09:15:42 UTC``."""
    text_ = str(value or "")
    return text_[:19].replace("T", " ") + " UTC" if text_ else "-"


def print_incidents(incidents: Sequence[dict[str, Any]], console: Console | None = None) -> None:
    """Each incident as a block: the key (whole ARN), what happened, the file systems, the mount-target
    records (subnet, IP address, security groups) and every action with its time, result and actor."""
    c = out(console)
    if not incidents:
        c.print("No incidents.")
        return
    ordered = sorted(incidents, key=lambda i: (i.get("status") != "open", str(i.get("opened_at", ""))))
    c.print(
        f"[bold]{text.plural(len(ordered), 'incident')}[/] ({sum(i.get('status') == 'open' for i in ordered)} open)"
    )
    for item in ordered:
        c.print()
        status = str(item.get("status", "-"))
        style = "bold red" if status == "open" else "green"
        severity = str(item.get("severity") or "-")
        event_name, state = escape(str(item.get("event_name", "-"))), escape(str(item.get("key_state", "-")))
        para(
            c,
            f"[{style}]{status.upper()}[/] [{STYLE.get(severity, '')}]{severity}[/]  {event_name} \u00b7 key {state}",
            first="",
        )
        whole(c, str(item["pk"]))
        para(c, f"opened {_when(item.get('opened_at'))} by {escape(str(item.get('opened_by', '-')))}")
        whole(c, f"event {item.get('event_id', '-')}")
        if item.get("resolved_at"):
            para(
                c,
                f"resolved {_when(item.get('resolved_at'))} by {escape(str(item.get('resolved_by', '-')))}"
                f" (event {escape(str(item.get('resolved_event', '-')))})",
            )
        if item.get("reason"):
            para(c, Text(str(item["reason"])))
        affected = item.get("affected", [])
        if affected:
            c.print("  [bold]File systems[/]")
            for fs in affected:
                counts = text.plural(int(fs.get("mount_targets") or 0), "mount target")
                para(
                    c,
                    f"[cyan]{fs['file_system_id']}[/]  {escape(str(fs.get('name') or '-'))} \u00b7 "
                    f"{fs.get('account')} / {fs.get('region')} \u00b7 {counts} then \u00b7 policy {fs.get('policy')}",
                    indent=6,
                    first="    ",
                )
        records = item.get("mount_target_records", [])
        if records:
            c.print("  [bold]Mount-target records[/] (what keywatch removed and can put back)")
            for record in records:
                restored = (
                    f", put back {_when(record['restored_at'])}" if record.get("restored_at") else ", not put back yet"
                )
                para(
                    c,
                    f"[cyan]{record['file_system_id']}[/] recorded {_when(record.get('taken_at'))}{restored}",
                    first="    ",
                )
                for mt in record.get("mount_targets", []):
                    groups = ", ".join(mt.get("security_groups") or []) or "no security groups"
                    para(
                        c,
                        f"subnet {mt.get('subnet_id')} \u00b7 IP {mt.get('ip_address') or '-'} \u00b7 "
                        f"{mt.get('availability_zone') or '-'} \u00b7 {groups}",
                        indent=8,
                        first="      ",
                    )
        actions = item.get("actions", [])
        c.print("  [bold]Actions[/]" + ("" if actions else ": none"))
        for a in actions:
            on = a["target"] if str(a.get("target", "")).startswith("fs-") else "the key"
            status_ = str(a.get("status"))
            actor = escape(str(a.get("actor", "-")))
            line = f"[{STATUS_STYLE.get(status_, '')}]{status_}[/] {a.get('type')} on {on} by {actor}"
            if a.get("detail"):
                line += f": {escape(str(a['detail']))}"
            para(c, line, first=f"    {_when(a.get('at'))}  ")
