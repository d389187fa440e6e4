"""The Slack message for a result, in Block Kit. Pure: no network, no clock unless given one.

Everything AWS hands us (names, tags, aliases, principals, user agents, error details) is
untrusted text. It goes through :func:`escape` (prose) or :func:`code` (identifiers), so that a
file system named ``<!channel>`` or ``<https://evil|click>`` can neither notify a channel nor
make a link, and ``*bold*`` stays literal.

Slack's limits (50 blocks, 3000 characters per section text, 10 fields per section, 2000 per
field, 150 for a header) are kept by construction and checked again at the end by
:func:`fit`; long lists are summarised ("…and 480 more") rather than rejected.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from keywatch.keys import InvalidKeyIdentifier, console_url, split_key_arn
from keywatch.models import ActionResult, Affected, EventResult, KeyState, Outcome
from keywatch.notify import text
from keywatch.notify.hygiene import one_line

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_MESSAGE_TEXT = 3000  # the notification text; Slack allows 40,000, a pager needs far less

MAX_FILE_SYSTEMS_LISTED = 20
MAX_ACTIONS_LISTED = 20
NAME_CHARS = 120  # a Name tag may be 256 characters; a line in a list should not be
AGENT_CHARS = 300

COLOURS = {
    "critical": "#C0152F",
    "high": "#E8710A",
    "medium": "#E8B30A",
    "low": "#3F7FBF",
    "info": "#2EB67D",
}
EMOJI = {
    "critical": ":rotating_light:",
    "high": ":large_orange_circle:",
    "medium": ":large_yellow_circle:",
    "low": ":large_blue_circle:",
    "info": ":information_source:",
}
RESOLVED_COLOUR, RESOLVED_EMOJI = "#2EB67D", ":white_check_mark:"
FS_AT_RISK_TITLE, FS_OK_TITLE = "*EFS file systems at risk*", "*EFS file systems that can use the key again*"
STATE_FIELD = "*State*\n"  # how the key block's state field begins (_fields)
STATUS_EMOJI = {
    "done": ":white_check_mark:",
    "planned": ":memo:",
    "skipped": ":fast_forward:",
    "failed": ":x:",
    "queued": ":hourglass_flowing_sand:",
}
ACTION_NAMES = text.ACTION_NAMES

# --- escaping -----------------------------------------------------------------------------------

# Slack has no backslash escape for its formatting characters; swap them for look-alikes that
# it does not interpret. Identifiers keep their real characters inside code spans (see code()).
_LOOKALIKES = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})


def _clean(value: object) -> str:
    """One line: controls, line and paragraph separators and bidi marks neutralised (notify.hygiene)."""
    return one_line(value)


def _entities(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(value: object, limit: int) -> str:
    """At most ``limit`` characters, with an ellipsis when something was cut. Works on raw text."""
    value = _clean(value)
    return value if len(value) <= limit else value[: max(0, limit - 1)].rstrip() + "\u2026"


def escape(value: object, limit: int | None = None) -> str:
    """Untrusted prose for mrkdwn: no mentions, no links, no formatting, one line."""
    raw = clip(value, limit) if limit else _clean(value)
    # "://" is what makes Slack auto-link a bare URL; a word joiner keeps it readable but inert.
    return _entities(raw).translate(_LOOKALIKES).replace("://", ":\u2060//")


def code(value: object, limit: int | None = None) -> str:
    """An identifier (ID, ARN, IP address, command) as an inline code span: copyable, never formatted."""
    raw = clip(value, limit) if limit else _clean(value)
    return f"`{_entities(raw).replace('`', chr(0x2CB))}`" if raw else "\u2014"


def link(url: str, label: str) -> str:
    """A link whose label is escaped untrusted text. ``url`` must be one keywatch built itself."""
    return f"<{url}|{label}>"


def efs_console_url(file_system_id: str, region: str) -> str:
    return f"https://{region}.console.aws.amazon.com/efs/home?region={region}#/file-systems/{file_system_id}"


# --- blocks -------------------------------------------------------------------------------------


def _header(value: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(value, MAX_HEADER_TEXT), "emoji": True}}


def _section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def became(state: str, after: str) -> str:
    """The state field's value when the key changed after the event: ``Disabled`` -> ``Enabled``."""
    return f"{state} \u2192 {code(after)}"


def _fields(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    fields = [{"type": "mrkdwn", "text": f"*{label}*\n{value}"} for label, value in pairs if value]
    return {"type": "section", "fields": fields}


def _context(*parts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": p} for p in parts if p]}


def _listing(title: str, lines: list[str], total: int, noun: str) -> list[dict[str, Any]]:
    """Sections holding ``lines`` under ``title``, each within the section limit; "and N more" at the end."""
    shown = len(lines)
    if total > shown:
        lines = [*lines, f"\u2026and {total - shown} more {noun} (every one is in the JSON report)"]
    sections: list[dict[str, Any]] = []
    current = title
    for line in lines:
        line = line if len(line) <= MAX_SECTION_TEXT - 2 else line[: MAX_SECTION_TEXT - 3] + "\u2026"
        if len(current) + 1 + len(line) > MAX_SECTION_TEXT:
            sections.append(_section(current))
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        sections.append(_section(current))
    return sections


def _severity_key(result: EventResult) -> str:
    if result.outcome == Outcome.RESOLVED:
        return "resolved"
    return result.severity.value if result.severity else "info"


def colour(result: EventResult) -> str:
    key = _severity_key(result)
    return RESOLVED_COLOUR if key == "resolved" else COLOURS.get(key, COLOURS["info"])


def emoji(result: EventResult) -> str:
    key = _severity_key(result)
    return RESOLVED_EMOJI if key == "resolved" else EMOJI.get(key, EMOJI["info"])


def header_text(result: EventResult) -> str:
    """The same line as the SNS subject and the notification text, with the severity's emoji."""
    return f"{emoji(result)} {text.summary(result)}"


def _key_parts(result: EventResult) -> tuple[str | None, str | None, str | None]:
    if not result.key_arn:
        return None, None, None
    try:
        return split_key_arn(result.key_arn)
    except InvalidKeyIdentifier:
        return None, None, None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _days(deletion: datetime, now: datetime) -> str:
    left = _utc(deletion) - _utc(now)
    if left.total_seconds() <= 0:
        return "the waiting period is over"
    days = left.days
    return "less than a day left" if days == 0 else f"{days} day{'s' if days != 1 else ''} left"


def _key_block(result: EventResult, now: datetime) -> dict[str, Any]:
    account, region, key_id = _key_parts(result)
    aliases = result.key.aliases if result.key else []
    label = escape(aliases[0], 256) if aliases else escape(key_id or result.key_arn or "unknown key")
    if len(aliases) > 1:
        label += f" (+{len(aliases) - 1} more alias{'es' if len(aliases) > 2 else ''})"
    key_value = link(console_url(result.key_arn), label) if account and result.key_arn else label

    state = code(result.key_state or "unknown")
    if result.key_state_after and result.key_state_after != result.key_state:
        state = became(state, result.key_state_after)

    deletion = text.deletion_date(result)
    pending = (result.key_state_after or result.key_state) in (
        KeyState.PENDING_DELETION,
        KeyState.PENDING_REPLICA_DELETION,
    )
    if deletion is not None and (pending or result.event_name == "ScheduleKeyDeletion"):
        deletion_value = f"{_utc(deletion):%Y-%m-%d %H:%M} UTC\n*{_days(deletion, now)}*"
    elif result.key_state == KeyState.PENDING_REPLICA_DELETION:
        deletion_value = "after its replica keys are deleted"
    else:
        deletion_value = ""

    return _fields(
        [
            ("Key", key_value),
            ("Key ID", code(key_id or result.key_arn)),
            ("State", state),
            ("Account / Region", f"{code(account)} / {code(region)}" if account else ""),
            ("Deletion date", deletion_value),
        ]
    )


def _who(result: EventResult) -> str:
    event = result.event
    if event is None:
        return "\u2014"
    if event.kind == "native":
        return "AWS KMS itself (a scheduled event, no caller)"
    if event.kind == "sweep":
        return "found by the keywatch sweep"
    if event.kind == "manual":
        return "an operator, through keywatch"
    actor = event.actor
    who = code(actor.display, 512)
    if actor.type:
        who += f" ({escape(actor.type, 40)})"
    if actor.role_arn and actor.role_arn != actor.arn:
        who += f"\nrole {code(actor.role_arn, 512)}"
    return who


def _actor_block(result: EventResult) -> dict[str, Any]:
    event = result.event
    actor = event.actor if event else None
    when = f"{_utc(event.event_time):%Y-%m-%d %H:%M:%S} UTC" if event and event.event_time else ""
    return _fields(
        [
            ("Who", _who(result)),
            ("When", when),
            ("Source IP", code(actor.source_ip, 128) if actor and actor.source_ip else ""),
            ("User agent", code(actor.user_agent, AGENT_CHARS) if actor and actor.user_agent else ""),
        ]
    )


def _fs_line(fs: Affected) -> str:
    name = escape(fs.name, NAME_CHARS) if fs.name else "_no Name tag_"
    targets = f"{fs.mount_targets}"
    if fs.mount_targets_after != fs.mount_targets:
        targets += f" \u2192 {fs.mount_targets_after}"
    noun = "mount target" if fs.mount_targets == fs.mount_targets_after == 1 else "mount targets"
    fs_link = link(efs_console_url(fs.file_system_id, fs.region), escape(fs.file_system_id, 64))
    return (
        f"\u2022 {fs_link} {name} \u00b7 {code(fs.account, 20)} / {code(fs.region, 30)} \u00b7 "
        f"{targets} {noun} \u00b7 policy {code(fs.policy.value)}"
    )


def _action_line(action: ActionResult) -> str:
    detail = f" \u2014 {escape(action.detail, 300)}" if action.detail else ""
    return (
        f"\u2022 {STATUS_EMOJI.get(action.status, '')} {ACTION_NAMES.get(action.type, action.type)} "
        f"{code(action.target, 256)}: *{action.status}*{detail}"
    )


def pre(value: object) -> str:
    """A command as a preformatted block: copied whole, never formatted, never wrapped into prose."""
    raw = _clean(value)
    return f"```{_entities(raw).replace('`', chr(0x2CB))}```" if raw else ""


def _next_steps(result: EventResult) -> str:
    steps = text.next_steps(result)
    if not steps:
        return "*Next step:* nothing to do; the key is usable again." if result.outcome == Outcome.RESOLVED else ""
    lines = ["*Next steps*" if len(steps) > 1 else "*Next step*"]
    for i, step in enumerate(steps, 1):
        lines.append(f"{i}. {escape(step.say)}" if len(steps) > 1 else escape(step.say))
        if step.command:
            lines.append(pre(step.command))
    return "\n".join(lines)


def blocks(result: EventResult, now: datetime | None = None) -> list[dict[str, Any]]:
    """The message's blocks, in reading order."""
    now = now or datetime.now(UTC)
    out: list[dict[str, Any]] = [
        _header(header_text(result)),
    ]
    if now_line := text.now_line(result):
        out.append(_section(f"*Now:* {escape(now_line, MAX_SECTION_TEXT - 20)}"))
    out += [_section(escape(result.reason, MAX_SECTION_TEXT - 10)), _key_block(result, now)]
    if result.event is not None:
        out.append(_actor_block(result))
    out.append({"type": "divider"})

    n = len(result.affected)
    if result.outcome == Outcome.RESOLVED or text.key_fixed(result):
        title = f"{FS_OK_TITLE} ({n})"
    else:
        title = f"{FS_AT_RISK_TITLE} ({n})"
    listed = [_fs_line(fs) for fs in result.affected[:MAX_FILE_SYSTEMS_LISTED]]
    out += _listing(title, listed, n, "file systems") if n else [_section(f"{title}: none")]

    if result.actions:
        listed = [_action_line(a) for a in result.actions[:MAX_ACTIONS_LISTED]]
        out += _listing("*Actions*", listed, len(result.actions), "actions")
    elif result.outcome == Outcome.ALERT:
        out.append(_section("*Actions:* none were taken automatically."))

    if steps := _next_steps(result):
        out.append(_section(steps))
    out.append(_context(f"keywatch \u00b7 {code(result.event_name, 64)} \u00b7 event {code(result.event_id, 128)}"))
    return fit(out)


def fallback_text(result: EventResult) -> str:
    """The notification line (and what clients without Block Kit show): what happened and what is true now."""
    return escape(f"keywatch {text.summary(result)}", MAX_MESSAGE_TEXT)


def message(result: EventResult, now: datetime | None = None) -> dict[str, Any]:
    """The whole payload for ``chat.postMessage`` or an incoming webhook (minus channel and thread)."""
    fallback = fallback_text(result)
    return {
        "text": fallback,
        "attachments": [{"color": colour(result), "fallback": fallback, "blocks": blocks(result, now)}],
        "unfurl_links": False,
        "unfurl_media": False,
    }


# --- limits -------------------------------------------------------------------------------------


def fit(blocks_: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Enforce Slack's limits on already-built blocks: trim texts, fields and the block count."""
    out = []
    for block in blocks_:
        block = dict(block)
        if block["type"] == "header":
            block["text"] = {**block["text"], "text": clip(block["text"]["text"], MAX_HEADER_TEXT)}
        elif block["type"] == "section":
            if "text" in block:
                body = block["text"]["text"]
                if len(body) > MAX_SECTION_TEXT:
                    body = body[: MAX_SECTION_TEXT - 1] + "\u2026"
                block["text"] = {**block["text"], "text": body}
            if "fields" in block:
                fields = [f for f in block["fields"] if f["text"]][:MAX_FIELDS]
                block["fields"] = [
                    {
                        **f,
                        "text": f["text"]
                        if len(f["text"]) <= MAX_FIELD_TEXT
                        else f["text"][: MAX_FIELD_TEXT - 1] + "\u2026",
                    }
                    for f in fields
                ]
                if not block["fields"]:
                    continue
        elif block["type"] == "context":
            block["elements"] = block["elements"][:MAX_CONTEXT_ELEMENTS]
        out.append(block)
    if len(out) > MAX_BLOCKS:
        dropped = len(out) - (MAX_BLOCKS - 1)
        out = [*out[: MAX_BLOCKS - 2], _context(f"{dropped} more blocks were left out"), out[-1]]
    return out


def violations(payload: dict[str, Any]) -> list[str]:
    """Every Slack limit the payload breaks (empty when it is sendable). For tests and a last check."""
    found = []
    all_blocks = [*payload.get("blocks", []), *(b for a in payload.get("attachments", []) for b in a.get("blocks", []))]
    if len(all_blocks) > MAX_BLOCKS:
        found.append(f"{len(all_blocks)} blocks > {MAX_BLOCKS}")
    for i, block in enumerate(all_blocks):
        kind = block.get("type")
        if kind == "header" and len(block["text"]["text"]) > MAX_HEADER_TEXT:
            found.append(f"block {i}: header of {len(block['text']['text'])} characters")
        if kind == "section":
            if "text" in block and len(block["text"]["text"]) > MAX_SECTION_TEXT:
                found.append(f"block {i}: section text of {len(block['text']['text'])} characters")
            fields = block.get("fields", [])
            if len(fields) > MAX_FIELDS:
                found.append(f"block {i}: {len(fields)} fields")
            found += [
                f"block {i}: field of {len(f['text'])} characters" for f in fields if len(f["text"]) > MAX_FIELD_TEXT
            ]
            if "text" not in block and not fields:
                found.append(f"block {i}: empty section")
        if kind == "context" and len(block.get("elements", [])) > MAX_CONTEXT_ELEMENTS:
            found.append(f"block {i}: {len(block['elements'])} context elements")
    if len(payload.get("text", "")) > MAX_MESSAGE_TEXT:
        found.append("message text too long")
    return found
