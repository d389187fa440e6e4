"""What the CLI shows of approve mode: silences, and the Slack decisions recorded on incidents.

Both are blocks, not tables: each key's ARN on a line of its own, whole at any width (cli/render.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from keywatch.approvals.models import LABELS, Choice, Interaction
from keywatch.cli.render import escape, out, para, whole
from keywatch.notify.text import plural
from keywatch.silences import Silence

if TYPE_CHECKING:
    from rich.console import Console


def _at(epoch: int) -> str:
    return f"{datetime.fromtimestamp(epoch, UTC):%Y-%m-%d %H:%M} UTC"


def silence_document(silence: Silence, now: float) -> dict[str, Any]:
    return {
        **silence.model_dump(mode="json"),
        "until_iso": datetime.fromtimestamp(silence.until, UTC).isoformat(),
        "active": silence.until > now,
    }


def _who(user: str, name: str | None) -> str:
    return escape(user + (f" ({name})" if name else ""))


def print_silences(silences: Sequence[Silence], now: float, console: Console | None = None) -> None:
    c = out(console)
    if not silences:
        c.print("No silences.")
        return
    active = sum(s.until > now for s in silences)
    c.print(f"[bold]{plural(len(silences), 'silence')}[/] ({active} active)")
    for s in silences:
        c.print()
        whole(c, s.key_arn, indent=0)
        state = f"[bold]active[/] until {_at(s.until)}" if s.until > now else f"[dim]expired[/] {_at(s.until)}"
        para(c, f"{state} \u00b7 set by {_who(s.set_by, s.set_by_name)} at {_at(s.set_at)}")


def interaction_document(item: Interaction) -> dict[str, Any]:
    return {**item.model_dump(mode="json", exclude={"key_arn", "token"}), "at_iso": _at(item.at)}


def _opened(incident: dict[str, Any]) -> float:
    try:
        return datetime.fromisoformat(str(incident.get("opened_at"))).timestamp()
    except ValueError:
        return 0.0


def attach_interactions(incidents: list[dict[str, Any]], log: Sequence[Interaction]) -> None:
    """Each Slack interaction goes to the incident on its key that was the latest opened at that time."""
    for incident in incidents:
        incident["interactions"] = []
    for item in log:
        on_key = sorted((i for i in incidents if i.get("pk") == item.key_arn), key=_opened)
        if not on_key:
            continue
        owner = next((i for i in reversed(on_key) if _opened(i) <= item.at), on_key[0])
        owner["interactions"].append(interaction_document(item))


def print_interactions(incidents: Sequence[dict[str, Any]], console: Console | None = None) -> None:
    """The Slack decisions, per incident: its key's ARN, then who did what, when, and what came of it."""
    c = out(console)
    with_decisions = [item for item in incidents if item.get("interactions")]
    if not with_decisions:
        return
    c.print()
    c.print("[bold]Slack decisions[/]")
    for item in with_decisions:
        whole(c, str(item["pk"]))
        for i in item["interactions"]:
            choice = LABELS.get(Choice(i["choice"])) if i.get("choice") else None
            what = escape(i["kind"] + (f" {choice}" if choice else ""))
            detail = f" \u00b7 {escape(i['detail'])}" if i.get("detail") else ""
            para(
                c,
                f"{i['at_iso']} \u00b7 {_who(i['user'], i.get('user_name'))} \u00b7 {what}{detail}",
                indent=6,
                first="    ",
            )
