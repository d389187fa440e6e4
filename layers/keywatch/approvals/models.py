"""The approvals domain: what a button offers, the durable record behind it, silences and the log."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from keywatch.models import ActionResult

TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,31}$")


class Choice(StrEnum):
    """One button. Its value is the action_id suffix, so every button in a message has its own action_id."""

    CANCEL_AND_ENABLE = "cancel_and_enable"
    ENABLE = "enable"
    CUT = "cut"
    RESTORE = "restore"
    ACK = "ack"
    SILENCE_1H = "silence_1h"
    SILENCE_1D = "silence_1d"
    SILENCE_7D = "silence_7d"

    @property
    def changes_aws(self) -> bool:
        return self in CHANGING

    @property
    def silence_seconds(self) -> int | None:
        return SILENCES.get(self)


CHANGING = frozenset({Choice.CANCEL_AND_ENABLE, Choice.ENABLE, Choice.CUT, Choice.RESTORE})
SILENCES = {Choice.SILENCE_1H: 3600, Choice.SILENCE_1D: 86400, Choice.SILENCE_7D: 7 * 86400}
LABELS = {
    Choice.CANCEL_AND_ENABLE: "Cancel deletion and re-enable",
    Choice.ENABLE: "Re-enable key",
    Choice.CUT: "Cut access (remove mount targets)",
    Choice.RESTORE: "Restore mount targets",
    Choice.ACK: "Acknowledge",
    Choice.SILENCE_1H: "Expected: silence 1 h",
    Choice.SILENCE_1D: "Expected: silence 1 day",
    Choice.SILENCE_7D: "Expected: silence 7 days",
}
ACTION_PREFIX = "keywatch_"

Status = Literal["pending", "approved", "running", "queued", "done", "failed"]
FINAL: frozenset[str] = frozenset({"done", "failed"})


class Target(BaseModel):
    """A file system a mount-target button acts on."""

    model_config = ConfigDict(frozen=True)

    file_system_id: str
    account: str
    region: str


class Approval(BaseModel):
    """The durable record behind one button (``pk=<key ARN>, sk="approval#<token>"``).

    pending -> approved (a click claims it, once) -> running (a runner holds a lease) -> done | failed;
    running -> queued when the endpoint's time is up and the worker is to finish it.
    """

    token: str
    key_arn: str
    choice: Choice
    set_id: str  # the message whose buttons these are
    event_id: str
    event_name: str
    targets: list[Target] = []
    offered: list[Choice] = []  # every choice the message offers
    created_at: int
    valid_until: int
    status: Status = "pending"
    by_user: str | None = None
    by_name: str | None = None
    approved_at: int | None = None
    response_url: str | None = None
    lease_until: int | None = None
    results: list[ActionResult] = []  # the steps that reached their end state
    summary: str | None = None  # one line for the message: what came of it

    @property
    def final(self) -> bool:
        return self.status in FINAL


class ApprovalSet(BaseModel):
    """One message's buttons (``sk="approvalset#<set id>"``): the payload as posted, and where it went."""

    set_id: str
    key_arn: str
    event_id: str
    payload: str  # the message as posted (JSON), rebuilt with each decision
    tokens: list[str]
    channel: str | None = None
    ts: str | None = None
    created_at: int


InteractionKind = Literal[
    "approved", "refused", "repeat", "expired", "acknowledged", "silenced", "silence_cleared", "done", "failed"
]


class Interaction(BaseModel):
    """One line of the incident's record: who clicked what, when, and what came of it."""

    key_arn: str
    at: int
    kind: InteractionKind
    user: str
    user_name: str | None = None
    choice: Choice | None = None
    token: str | None = None
    detail: str = ""


class ApprovedWork(BaseModel):
    """The approved-action queue's message: which approval to run (the record holds the rest)."""

    key_arn: str
    token: str

    @field_validator("token")
    @classmethod
    def _token(cls, value: str) -> str:
        if not TOKEN.fullmatch(value):
            raise ValueError("not an approval token")
        return value


# --- the interaction as Slack sends it (parsed at the edge, after the signature is verified) ----------


class SlackUser(BaseModel):
    id: str = Field(pattern=SLACK_USER.pattern)
    username: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    team_id: str | None = None

    @property
    def display(self) -> str:
        return self.username or self.name or self.id


class SlackButton(BaseModel):
    action_id: str = Field(max_length=255)
    value: str | None = Field(default=None, max_length=2000)
    type: str = "button"
    block_id: str | None = None


class SlackContainer(BaseModel):
    channel_id: str | None = None
    message_ts: str | None = None


class BlockActions(BaseModel):
    """A ``block_actions`` interaction: a button pressed on one of keywatch's messages."""

    type: Literal["block_actions"]
    user: SlackUser
    actions: list[SlackButton] = Field(min_length=1, max_length=1)
    response_url: str | None = Field(default=None, max_length=2000)
    container: SlackContainer = Field(default_factory=SlackContainer)

    @property
    def button(self) -> SlackButton:
        return self.actions[0]


def button_value(token: str, key_arn: str) -> str:
    """What a button carries: its approval's token and the key it is about (never a secret)."""
    return f"{token}|{key_arn}"


def parse_button_value(value: str | None) -> tuple[str, str] | None:
    """(token, key ARN) from a button's value, or None when it is not one of keywatch's."""
    token, sep, key_arn = (value or "").partition("|")
    if not sep or not TOKEN.fullmatch(token) or not key_arn.startswith("arn:") or ":kms:" not in key_arn:
        return None
    return token, key_arn
