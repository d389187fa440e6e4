"""Domain models: the typed event, what the estate says, and the result every path reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from keywatch.enums import COUNTDOWN_EVENT, DELETED, POLICY_TAG, UNKNOWN, KeyState, Mode, Outcome, Policy, Severity

# The enums are defined in keywatch.enums (light to import) and exported from here too.
__all__ = [
    "AWAITING_APPROVAL",
    "COUNTDOWN_EVENT",
    "DELETED",
    "POLICY_TAG",
    "UNKNOWN",
    "ActionResult",
    "ActionStatus",
    "ActionType",
    "Actor",
    "Affected",
    "EventResult",
    "FileSystem",
    "IpAddressType",
    "KeyEvent",
    "KeyInfo",
    "KeyState",
    "Mode",
    "MountTargetSpec",
    "NotificationResult",
    "Outcome",
    "Policy",
    "Severity",
]


class Actor(BaseModel):
    """Who made the call, as CloudTrail recorded it."""

    model_config = ConfigDict(frozen=True)

    type: str | None = None
    arn: str | None = None
    account: str | None = None
    invoked_by: str | None = None
    role_arn: str | None = None  # the role behind an assumed-role session
    source_ip: str | None = None
    user_agent: str | None = None

    @property
    def display(self) -> str:
        return self.arn or self.invoked_by or self.type or "unknown principal"


class KeyEvent(BaseModel):
    """One KMS event, whatever shape it arrived in."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    event_name: str
    kind: Literal["cloudtrail", "native", "sweep", "manual"]
    event_time: datetime | None = None
    key_arn: str | None = None  # resolved when the event names the key in any form
    key_ref: str | None = None  # the identifier as the event carried it
    account: str | None = None  # the key's account (from its ARN when known)
    region: str | None = None  # the key's Region (from its ARN when known; never awsRegion alone)
    event_region: str | None = None  # awsRegion / envelope region, for the record
    actor: Actor = Actor()
    error_code: str | None = None
    error_message: str | None = None
    grant_id: str | None = None
    deletion_date: datetime | None = None
    pending_window_days: int | None = None
    reported_key_state: KeyState | None = None  # the state the event itself says the key is in
    policy_document: str | None = None
    import_type: str | None = None  # ImportKeyMaterial: NEW_KEY_MATERIAL (a rotation) or EXISTING_KEY_MATERIAL


class FileSystem(BaseModel):
    """An EFS file system and what keywatch needs of it."""

    file_system_id: str
    name: str | None = None
    account: str
    region: str
    arn: str | None = None
    kms_key_id: str | None = None
    encrypted: bool = False
    mount_targets: int = 0
    policy: Policy = Policy.NOTIFY
    policy_tag_invalid: str | None = None  # the tag's value when it is not a known policy


IpAddressType = Literal["IPV4_ONLY", "IPV6_ONLY", "DUAL_STACK"]


class MountTargetSpec(BaseModel):
    """What it takes to put a mount target back: the record written before it is deleted."""

    mount_target_id: str
    subnet_id: str
    ip_address: str | None = None
    ipv6_address: str | None = None
    ip_address_type: IpAddressType | None = None
    availability_zone: str | None = None
    security_groups: list[str] = []
    recorded_at: str | None = None  # when it was added to the record (the newest one per zone is restored)


class Affected(BaseModel):
    file_system_id: str
    name: str | None = None
    account: str
    region: str
    mount_targets: int
    mount_targets_after: int
    policy: Policy


ActionType = Literal["cancel_key_deletion", "enable_key", "delete_mount_targets", "restore_mount_targets"]
# queued: handed to the remediation queue, whose worker finishes it (this invocation was running out of time)
ActionStatus = Literal["planned", "done", "skipped", "failed", "queued"]


AWAITING_APPROVAL = "once approved in Slack"  # ends the detail of an action approve mode offers as a button


class ActionResult(BaseModel):
    type: ActionType
    target: str
    status: ActionStatus
    detail: str = ""
    # the file system's mount targets after the action, when the action itself knows (never reported twice)
    _mount_targets_after: int | None = PrivateAttr(default=None)

    @property
    def offered(self) -> bool:
        """Planned in approve mode: a button in the Slack alert, run only when an approver clicks it."""
        return self.status == "planned" and self.detail.endswith(AWAITING_APPROVAL)


class NotificationResult(BaseModel):
    channel: Literal["sns", "slack"]
    status: Literal["sent", "failed", "skipped"]
    detail: str = ""


class KeyInfo(BaseModel):
    """What DescribeKey says about a key right now."""

    arn: str
    key_id: str
    state: KeyState
    aliases: list[str] = []
    deletion_date: datetime | None = None
    origin: str | None = None
    multi_region: bool = False
    description: str | None = None
    key_manager: str | None = None  # "AWS" for AWS managed keys (aws/elasticfilesystem), else "CUSTOMER"
    valid_to: datetime | None = None  # when imported key material expires (Origin EXTERNAL)


class EventResult(BaseModel):
    """The one result object: the Lambda's return value, the CLI's --json, the notifications' source."""

    event_id: str
    event_name: str
    key_arn: str | None = None
    key_state: KeyState | None = None
    outcome: Outcome
    severity: Severity | None = None
    reason: str
    affected: list[Affected] = []
    actions: list[ActionResult] = []
    key_state_after: KeyState | None = None
    notifications: list[NotificationResult] = []
    # context for notifications; kept out of the JSON contract
    event: KeyEvent | None = Field(default=None, exclude=True)
    key: KeyInfo | None = Field(default=None, exclude=True)

    def report(self) -> dict[str, Any]:
        """The JSON contract of DESIGN.md section 2."""
        return self.model_dump(mode="json")

    def document(self) -> dict[str, Any]:
        """The report plus who did what, when: the JSON that programs subscribed to the alerts read."""
        document = self.report()
        if self.event is not None:
            event = self.event
            document["event"] = {
                "time": event.event_time.isoformat() if event.event_time else None,
                "actor": event.actor.model_dump(mode="json"),
                "event_region": event.event_region,
                "deletion_date": event.deletion_date.isoformat() if event.deletion_date else None,
                "grant_id": event.grant_id,
            }
        if self.key is not None:
            document["key"] = self.key.model_dump(mode="json")
        return document
