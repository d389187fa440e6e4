"""What the CLI shows of approve mode: silences, and the Slack decisions recorded on incidents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.markup import escape
from rich.table import Table

from keywatch.approvals.models import LABELS, Choice, Interaction, Silence
from keywatch.cli.render import out


def _at(epoch: int) -> str:
    return f"{datetime.fromtimestamp(epoch, UTC):%Y-%m-%d %H:%M} UTC"


def silence_document(silence: Silence, now: float) -> dict[str, Any]:
    return {
        **silence.model_dump(mode="json"),
        "until_iso": datetime.fromtimestamp(silence.until, UTC).isoformat(),
        "active": silence.until > now,
    }


def print_silences(silences: Sequence[Silence], now: float) -> None:
    if not silences:
        out().print("No silences.")
        return
    table = Table(box=None, padding=(0, 2))
    for column in ("key", "until", "state", "set by", "set at"):
        table.add_column(column, overflow="fold")
    for s in silences:
        who = s.set_by + (f" ({s.set_by_name})" if s.set_by_name else "")
        table.add_row(
            escape(s.key_arn),
            _at(s.until),
            "[bold]active[/]" if s.until > now else "[dim]expired[/]",
            escape(who),
            _at(s.set_at),
        )
    out().print(table)


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


def print_interactions(incidents: Sequence[dict[str, Any]]) -> None:
    rows = [(item, i) for item in incidents for i in item.get("interactions", [])]
    if not rows:
        return
    out().print()
    table = Table(title="Slack decisions", title_justify="left", box=None, padding=(0, 2))
    for column in ("key", "at", "who", "what", "result"):
        table.add_column(column, overflow="fold")
    for item, i in rows:
        choice = LABELS.get(Choice(i["choice"])) if i.get("choice") else ""
        who = i["user"] + (f" ({i['user_name']})" if i.get("user_name") else "")
        table.add_row(
            escape(str(item["pk"]).rsplit("/", 1)[-1]),
            i["at_iso"],
            escape(who),
            escape(f"{i['kind']} {choice}".strip()),
            escape(i.get("detail") or ""),
        )
    out().print(table)
