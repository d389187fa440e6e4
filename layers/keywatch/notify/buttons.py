"""The buttons of approve mode, in Block Kit, and the message once a person has decided. Pure.

Added to the message :mod:`keywatch.notify.blocks` builds, before its footer: an ``actions`` block for
what changes AWS (block_id ``keywatch_actions``), one for Acknowledge and the silences
(``keywatch_triage``), and, once someone has clicked, a section that says who decided what, when, and
what came of it (``keywatch_decisions``). Slack's limits hold: action_ids are unique in a message, a
value is at most 2,000 characters, an actions block has at most 25 elements, 50 blocks in all.
Untrusted text (a Slack user name) is escaped as blocks.py does.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from keywatch.approvals.models import (
    ACTION_PREFIX,
    LABELS,
    SLACK_USER,
    Approval,
    Choice,
    button_value,
)
from keywatch.enums import KeyState
from keywatch.notify import text
from keywatch.notify.blocks import (
    FS_AT_RISK_TITLE,
    FS_OK_TITLE,
    MAX_BLOCKS,
    MAX_HEADER_TEXT,
    MAX_MESSAGE_TEXT,
    MAX_SECTION_TEXT,
    STATE_FIELD,
    became,
    clip,
    escape,
)
from keywatch.notify.hygiene import one_line
from keywatch.notify.text import FOUND

BLOCK_PREFIX = "keywatch_"
ACTIONS_BLOCK, TRIAGE_BLOCK, DECISIONS_BLOCK = "keywatch_actions", "keywatch_triage", "keywatch_decisions"
MAX_ELEMENTS = 25
MAX_VALUE = 2000
MAX_BUTTON_TEXT = 75
STATUS_WORDS = {
    "approved": ":hourglass_flowing_sand: approved, starting",
    "running": ":hourglass_flowing_sand: running",
    "queued": ":hourglass_flowing_sand: handed to the worker",
    "done": ":white_check_mark: done",
    "failed": ":x: failed",
}


def _button(approval: Approval) -> dict[str, Any]:
    value = button_value(approval.token, approval.key_arn)
    if len(value) > MAX_VALUE:  # a key ARN is about 80 characters; never expected
        raise ValueError("a button value is over Slack's 2,000 characters")
    button: dict[str, Any] = {
        "type": "button",
        "action_id": ACTION_PREFIX + approval.choice.value,
        "text": {"type": "plain_text", "text": clip(LABELS[approval.choice], MAX_BUTTON_TEXT), "emoji": False},
        "value": value,
    }
    if approval.choice in (Choice.CANCEL_AND_ENABLE, Choice.ENABLE, Choice.RESTORE):
        button["style"] = "primary"
    elif approval.choice == Choice.CUT:
        n = len(approval.targets)
        button["style"] = "danger"
        button["confirm"] = {
            "title": {"type": "plain_text", "text": "Cut access?"},
            "text": {
                "type": "mrkdwn",
                "text": (
                    f"This deletes the mount targets of {n} EFS file system{'s' if n != 1 else ''}: every mount "
                    "breaks at once and uncommitted writes may be lost. keywatch records them first; restore "
                    "them when the key is Enabled again."
                ),
            },
            "confirm": {"type": "plain_text", "text": "Cut access"},
            "deny": {"type": "plain_text", "text": "Keep them"},
            "style": "danger",
        }
    return button


def action_blocks(approvals: Sequence[Approval]) -> list[dict[str, Any]]:
    """The actions blocks for the buttons still pending: changes first, then Acknowledge and the silences."""
    pending = [a for a in approvals if a.status == "pending"]
    out = []
    for block_id, wanted in ((ACTIONS_BLOCK, True), (TRIAGE_BLOCK, False)):
        elements = [_button(a) for a in pending if a.choice.changes_aws is wanted][:MAX_ELEMENTS]
        if elements:
            out.append({"type": "actions", "block_id": block_id, "elements": elements})
    return out


def who(user: str, name: str | None) -> str:
    """A Slack user as a mention (checked to be a user ID), with the name they had, escaped."""
    mention = f"<@{user}>" if SLACK_USER.fullmatch(user) else escape(user, 40)
    return f"{mention} ({escape(name, 60)})" if name and name != user else mention


def _when(epoch: int | None) -> str:
    return f"{datetime.fromtimestamp(epoch, UTC):%Y-%m-%d %H:%M} UTC" if epoch else "\u2014"


def decision_line(approval: Approval) -> str:
    label = LABELS[approval.choice]
    status = STATUS_WORDS.get(approval.status, approval.status)
    by = who(approval.by_user or "?", approval.by_name)
    line = f"\u2022 *{label}* \u2014 by {by} at {_when(approval.approved_at)}"
    if approval.choice.changes_aws:
        line += f": {status}"
    if approval.summary:
        line += f" \u2014 {escape(approval.summary, 600)}"
    return line


def decision_text(approval: Approval) -> str:
    """One plain line for the notification text: who approved what, and the result."""
    by = approval.by_name or approval.by_user or "someone"
    outcome = f": {approval.status}" if approval.choice.changes_aws else ""
    return f"{LABELS[approval.choice]} by {by} ({approval.by_user}){outcome}"


def re_enabled_by(approvals: Sequence[Approval]) -> Approval | None:
    """The approval whose run re-enabled the key, if one did: after it the key is Enabled (the runner read
    it back before its summary) and the message must stop saying "at risk"."""
    return next(
        (
            a
            for a in approvals
            if a.status == "done" and any(r.type == "enable_key" and r.status == "done" for r in a.results)
        ),
        None,
    )


def fixed_line(line: str, by: str) -> str:
    """``HIGH: KMS key disabled; 3 EFS file systems at risk`` -> ``HIGH: KMS key disabled; key re-enabled
    from Slack by alice, 3 EFS file systems OK``: what the header and the notification text say once an
    approver's click re-enabled the key (``by``: the approver, already made safe for where the line goes).
    A line of any other shape is left as it is."""
    head, sep, tail = line.rpartition("; ")
    if not sep or not tail.endswith(" at risk"):
        return line
    return f"{head}; key re-enabled from Slack by {by}, {tail.removesuffix(' at risk')} OK"


def _approver(approval: Approval) -> str:
    return approval.by_name or approval.by_user or "someone"


def _say_fixed(attachment: dict[str, Any], approval: Approval) -> None:
    """Once the key is Enabled again: the header, the *Now:* line and the key's *State* say so, and the reason
    (written about the key as the event found it) says when it was true. The rest is history, kept as posted."""
    blocks = attachment["blocks"]
    for i, block in enumerate(blocks):
        said = str((block.get("text") or {}).get("text", ""))
        states = [f for f in block.get("fields") or [] if str(f.get("text", "")).startswith(STATE_FIELD)]
        for field in states:
            was = field["text"].removeprefix(STATE_FIELD)
            if "\u2192" not in was:
                field["text"] = STATE_FIELD + became(was, KeyState.ENABLED)
        reason = blocks[i - 1] if states and i > 0 else None
        if reason is not None and reason.get("type") == "section" and "fields" not in reason:
            reasoned = str(reason.get("text", {}).get("text", ""))
            if not reasoned.startswith(("*", FOUND)) and len(FOUND) + len(reasoned) <= MAX_SECTION_TEXT:
                reason["text"] = {**reason["text"], "text": FOUND + reasoned}
        if block.get("type") == "header":
            line = fixed_line(said, one_line(_approver(approval), 60))  # plain_text
            block["text"] = {**block["text"], "text": clip(line, MAX_HEADER_TEXT)}
        elif block.get("type") != "section":
            continue
        elif said.startswith(FS_AT_RISK_TITLE):
            retitled = FS_OK_TITLE + said.removeprefix(FS_AT_RISK_TITLE)
            if len(retitled) <= MAX_SECTION_TEXT:  # a listing filled to the limit keeps its first title
                block["text"] = {**block["text"], "text": retitled}
        elif said.startswith("*Next step"):
            block["text"] = {"type": "mrkdwn", "text": f"*Next step*\n{text.NOTHING_BROKEN}"}
        elif said.startswith("*Now:*"):
            by = who(approval.by_user or "?", approval.by_name)
            block["text"] = {
                "type": "mrkdwn",
                "text": f"*Now:* Fixed from Slack: {by} approved *{LABELS[approval.choice]}*; the key is Enabled "
                "and the file systems can use it.",
            }


def with_buttons(payload: dict[str, Any], approvals: Sequence[Approval]) -> dict[str, Any]:
    """The message with its buttons, and a line per decision taken so far. ``payload`` is not changed."""
    out = copy.deepcopy(payload)
    attachment = out["attachments"][0]
    fixed = re_enabled_by(approvals)
    if fixed is not None:
        _say_fixed(attachment, fixed)
    original = [b for b in attachment["blocks"] if not str(b.get("block_id", "")).startswith(BLOCK_PREFIX)]
    decided = [a for a in approvals if a.status != "pending" and a.by_user]
    added: list[dict[str, Any]] = []
    if decided:
        lines = [decision_line(a) for a in sorted(decided, key=lambda a: a.approved_at or 0)]
        body = "*Decisions*\n" + "\n".join(lines)  # each line is escaped and bounded; clip() would join them
        if len(body) > MAX_SECTION_TEXT:
            body = body[: MAX_SECTION_TEXT - 1] + "\u2026"
        added.append({"type": "section", "block_id": DECISIONS_BLOCK, "text": {"type": "mrkdwn", "text": body}})
    added += action_blocks(approvals)
    room = MAX_BLOCKS - len(added)
    body_blocks, footer = original[:-1], original[-1:]
    if len(body_blocks) + len(footer) > room:
        body_blocks = body_blocks[: max(0, room - len(footer))]
    attachment["blocks"] = [*body_blocks, *added, *footer]
    if decided:
        base = str(payload.get("text", ""))
        base = fixed_line(base, escape(_approver(fixed), 60)) if fixed is not None else base
        news = "; ".join(escape(decision_text(a)) for a in decided)
        out["text"] = clip(f"{base} \u2014 {news}", MAX_MESSAGE_TEXT)
        attachment["fallback"] = out["text"]
    return out


def ephemeral(text: str) -> dict[str, Any]:
    """A reply only the person who clicked sees; the message itself is left as it is."""
    return {"response_type": "ephemeral", "replace_original": False, "text": clip(text, MAX_MESSAGE_TEXT)}


def dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
