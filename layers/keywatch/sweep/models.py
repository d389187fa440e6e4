"""The sweep's models: findings, the report and its summary, and what was learnt about each key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from keywatch.models import EventResult, KeyInfo, KeyState, NotificationResult, Policy, Severity

Problem = Literal["key_state", "grant_missing", "policy_denies", "import_expiry", "key_unreadable"]
KeyUse = Literal["unencrypted", "aws_managed", "alias", "key", "invalid"]
# Problems that open an incident and go through the engine; the others are reported only.
RESPONDED = frozenset({"key_state", "grant_missing", "policy_denies"})
SEVERITY_ORDER = {Severity.CRITICAL: 4, Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1, Severity.INFO: 0}


class Finding(BaseModel):
    """A file system at risk, and why."""

    file_system_id: str
    name: str | None = None
    account: str
    region: str
    key_arn: str | None
    key_state: KeyState
    severity: Severity
    reason: str
    problem: Problem
    policy: Policy = Policy.NOTIFY
    mount_targets: int = 0
    deletion_date: datetime | None = None
    valid_to: datetime | None = None
    days_left: int | None = None
    denied_by: str | None = None  # policy_denies: the key-policy statement that shuts EFS out, in words


class UnencryptedFileSystem(BaseModel):
    file_system_id: str
    name: str | None = None
    account: str
    region: str
    mount_targets: int = 0


class TargetError(BaseModel):
    account: str
    region: str
    error: str


class CountdownResult(BaseModel):
    key_arn: str
    threshold_days: int
    days_left: int
    deletion_date: datetime
    file_systems: list[str]
    notifications: list[NotificationResult] = []


class SweepSummary(BaseModel):
    sweep_id: str
    started_at: datetime
    duration_seconds: float
    accounts: int
    regions: list[str]
    targets: int
    targets_failed: int
    file_systems: int
    encrypted: int
    customer_managed: int
    aws_managed: int
    unencrypted: int
    distinct_keys: int
    findings: int
    by_severity: dict[str, int]
    by_problem: dict[str, int]
    incidents_opened: int = 0
    incidents_updated: int = 0
    incidents_known: int = 0
    incidents_resolved: int = 0
    countdowns_sent: int = 0
    indexed: int = 0  # entries written to the key-to-file-system index
    errors: list[TargetError] = []
    api_calls: dict[str, int] = {}
    api_call_floor: int = 0  # ceil(N/100) DescribeFileSystems per account-Region + 3 per distinct key


class SweepReport(BaseModel):
    findings: list[Finding] = []
    unencrypted: list[UnencryptedFileSystem] = []
    results: list[EventResult] = []  # what respond() did, per key
    countdowns: list[CountdownResult] = []
    summary: SweepSummary

    def report(self) -> dict[str, Any]:
        """The ``keywatch sweep --json`` document (DESIGN.md §2)."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class KeyLookup:
    """What the sweep learnt about one distinct key: DescribeKey, the file systems holding an EFS grant, and
    the statements of its key policy."""

    key: KeyInfo
    grants: frozenset[str] | None = None  # None: not listed (key not Enabled, or ListGrants failed)
    policy: tuple[dict[str, Any], ...] | None = None  # None: not read (key not Enabled, or GetKeyPolicy failed)


@dataclass
class Assessment:
    findings: list[Finding]
    unencrypted: list[UnencryptedFileSystem]
    key_of: dict[str, str | None]  # file system ID -> key ARN (lower case), for customer managed keys
    aws_managed: int
    customer_managed: int
