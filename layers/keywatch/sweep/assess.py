"""The sweep's pure assessment: which file systems are at risk, and what the engine should be told. No boto3."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from keywatch.assess import CRITICAL_STATES, HIGH_STATES, Verdict, decide, grant_lost
from keywatch.keys import InvalidKeyIdentifier, KeyRef
from keywatch.models import DELETED, UNKNOWN, FileSystem, KeyEvent, KeyInfo, KeyState, Outcome, Severity
from keywatch.policy import Target, analyse
from keywatch.sweep.models import (
    SEVERITY_ORDER,
    Assessment,
    Finding,
    KeyLookup,
    KeyUse,
    Problem,
    UnencryptedFileSystem,
)

EXPIRY_WARNING_DAYS = 30  # imported key material that expires within this many days is reported (low)
AWS_MANAGED_ALIAS = "alias/aws/elasticfilesystem"
PAGE_SIZE = 100  # DescribeFileSystems returns up to 100 per page


@lru_cache(maxsize=65536)
def _reference(kms_key_id: str, account: str, region: str) -> tuple[KeyUse, KeyRef | None, str | None]:
    """How a ``KmsKeyId`` names its key, parsed once per distinct (value, account, Region) however many file
    systems share it: (use, the reference located in the file system's account and Region, the key ARN in lower
    case when the value names a key rather than an alias)."""
    try:
        ref = KeyRef.parse(kms_key_id).located(account, region)
    except InvalidKeyIdentifier:
        return "invalid", None, None
    if ref.is_alias:
        return ("aws_managed" if ref.name == AWS_MANAGED_ALIAS else "alias"), ref, None
    return "key", ref, ref.arn.lower()


def classify(fs: FileSystem) -> KeyUse:
    """How a file system is encrypted, before any key is looked up."""
    if not fs.encrypted:
        return "unencrypted"
    if not fs.kms_key_id:
        return "aws_managed"  # moto stores no key; AWS reports the aws/elasticfilesystem key's ARN
    return _reference(fs.kms_key_id, fs.account, fs.region)[0]


def alias_locations(file_systems: Iterable[FileSystem]) -> set[tuple[str, str]]:
    """(account, Region) pairs whose aliases must be listed: only where a file system stores an alias."""
    found = set()
    for fs in file_systems:
        if fs.encrypted and fs.kms_key_id:
            use, ref, _ = _reference(fs.kms_key_id, fs.account, fs.region)
            if use == "alias" and ref is not None and ref.account and ref.region:
                found.add((ref.account, ref.region))
    return found


def key_arn_of(fs: FileSystem, alias_maps: Mapping[tuple[str, str], Mapping[str, str]]) -> str | None:
    """The key ARN (lower case) a customer-managed-key file system uses, or None if it can't be told."""
    if not fs.encrypted or not fs.kms_key_id:
        return None
    use, ref, arn = _reference(fs.kms_key_id, fs.account, fs.region)
    if use == "key":
        return arn
    if use != "alias" or ref is None or ref.account is None or ref.region is None:
        return None
    target = alias_maps.get((ref.account, ref.region), {}).get(ref.name)
    return KeyRef("key_id", target.lower()).located(ref.account, ref.region).arn.lower() if target else None


def _days(delta: timedelta) -> int:
    """Whole days left, rounded up: 6 days and 23 hours is "7 days left", 2 hours is "1 day left"."""
    return max(0, math.ceil(delta.total_seconds() / 86400))


def assess_one(
    fs: FileSystem, key_arn: str | None, lookup: KeyLookup | None, now: datetime, expiry_days: int = EXPIRY_WARNING_DAYS
) -> Finding | None:
    """The finding for one file system on a customer managed key, or None when it is not at risk."""

    def finding(state: KeyState, severity: Severity, problem: Problem, reason: str, **extra: Any) -> Finding:
        return Finding(
            file_system_id=fs.file_system_id,
            name=fs.name,
            account=fs.account,
            region=fs.region,
            key_arn=lookup.key.arn if lookup else key_arn,
            key_state=state,
            severity=severity,
            problem=problem,
            reason=reason,
            policy=fs.policy,
            mount_targets=fs.mount_targets,
            **extra,
        )

    if lookup is None:
        why = f"its key {fs.kms_key_id!r} can't be resolved to a KMS key (the alias points at no key?)"
        return finding(
            UNKNOWN, Severity.MEDIUM, "key_unreadable", f"keywatch cannot tell which key protects it: {why}."
        )
    key = lookup.key
    if key.key_manager == "AWS":
        return None  # the AWS managed aws/elasticfilesystem key can't be disabled or deleted by anyone
    state = key.state
    deletion = key.deletion_date
    days_left = _days(deletion - now) if deletion else None
    if state in CRITICAL_STATES:
        reason = {
            DELETED: "The key has been deleted; the data on this file system can no longer be read.",
            KeyState.PENDING_DELETION: (
                f"The key is scheduled for deletion on {deletion:%Y-%m-%d} ({days_left} days left); "
                "the data becomes unreadable for good when it is deleted."
                if deletion
                else "The key is scheduled for deletion; the data becomes unreadable for good then."
            ),
            KeyState.PENDING_REPLICA_DELETION: (
                "The key is a multi-Region primary pending deletion; the data will become unreadable."
            ),
            KeyState.PENDING_IMPORT: "The key has no key material (deleted or expired); the file system can't be read.",
        }[state]
        return finding(state, Severity.CRITICAL, "key_state", reason, deletion_date=deletion, days_left=days_left)
    if state in HIGH_STATES:
        return finding(
            state,
            Severity.HIGH,
            "key_state",
            f"The key is {state}; the file system loses access after a period of time.",
        )
    if state == UNKNOWN:
        detail = f" ({key.description})" if key.description else ""
        return finding(
            state, Severity.MEDIUM, "key_unreadable", f"keywatch cannot read the key{detail}; its state is unknown."
        )
    if state != KeyState.ENABLED:
        return None  # Creating, Updating: transient
    if lookup.grants is not None and grant_lost(fs, lookup.grants):
        return finding(
            state,
            Severity.HIGH,
            "grant_missing",
            "The key is Enabled but the EFS grant for this file system is gone; EFS will lose access to the key.",
        )
    target = Target(fs.file_system_id, fs.account, fs.region)
    if lookup.policy is not None and (lockout := analyse(lookup.policy, target).lockout) is not None:
        denied_by = lockout.describe()
        return finding(
            state,
            Severity.HIGH,
            "policy_denies",
            f"The key is Enabled but its key policy shuts EFS out: {denied_by}; EFS will lose access to the key.",
            denied_by=denied_by,
        )
    if key.valid_to is not None and key.valid_to - now <= timedelta(days=expiry_days):
        left = _days(key.valid_to - now)
        return finding(
            state,
            Severity.LOW,
            "import_expiry",
            f"The key's imported material expires on {key.valid_to:%Y-%m-%d} ({left} days left); "
            "re-import it before then.",
            valid_to=key.valid_to,
            days_left=left,
        )
    return None


def assess(
    file_systems: Iterable[FileSystem],
    lookups: Mapping[str, KeyLookup],
    alias_maps: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
    now: datetime | None = None,
    expiry_days: int = EXPIRY_WARNING_DAYS,
) -> Assessment:
    """Findings for every file system, given the distinct keys looked up (keyed by lower-case key ARN)."""
    now = now or datetime.now(UTC)
    maps = alias_maps or {}
    result = Assessment([], [], {}, 0, 0)
    for fs in file_systems:
        use = classify(fs)
        if use == "unencrypted":
            result.unencrypted.append(
                UnencryptedFileSystem(
                    file_system_id=fs.file_system_id,
                    name=fs.name,
                    account=fs.account,
                    region=fs.region,
                    mount_targets=fs.mount_targets,
                )
            )
            continue
        if use == "aws_managed":
            result.aws_managed += 1
            continue
        arn = key_arn_of(fs, maps)
        lookup = lookups.get(arn) if arn else None
        if lookup is not None and lookup.key.key_manager == "AWS":
            result.aws_managed += 1
            continue
        result.customer_managed += 1
        result.key_of[fs.file_system_id] = arn
        found = assess_one(fs, arn, lookup, now, expiry_days)
        if found is not None:
            result.findings.append(found)
    result.findings.sort(key=lambda f: (-SEVERITY_ORDER[f.severity], f.account, f.region, f.file_system_id))
    return result


def verdict_for(event: KeyEvent, key: KeyInfo, findings: Sequence[Finding], affected: list[FileSystem]) -> Verdict:
    """The engine's verdict for a key the sweep found at risk: decide() for key states, else what shuts EFS out
    of an Enabled key (its grants gone, its key policy)."""
    if any(f.problem == "key_state" for f in findings):
        return decide(event, key.state, affected)
    parts = []
    if n := sum(1 for f in findings if f.problem == "grant_missing"):
        parts.append(f"the EFS grant is gone for {n} EFS file system{'s' if n != 1 else ''}")
    if denied := [f for f in findings if f.problem == "policy_denies"]:
        n = len(denied)
        why = f" ({denied[0].denied_by})" if denied[0].denied_by else ""
        parts.append(f"its key policy shuts EFS out of {n} EFS file system{'s' if n != 1 else ''}{why}")
    return Verdict(
        Outcome.ALERT,
        Severity.HIGH,
        f"The key is Enabled but {' and '.join(parts)}; they will lose access to the key.",
    )


def needs_response(current: Mapping[str, Any] | None, severity: Severity | None, fs_ids: Iterable[str]) -> bool:
    """Respond unless an open incident already covers these file systems at this severity or worse.

    The event path normally opened the incident already; the sweep then only reports it. It responds when
    the event was missed (no open incident), when more file systems are hit, or when it got worse.
    """
    if not current or current.get("status") != "open":
        return True
    known = {str(fs.get("file_system_id")) for fs in current.get("affected") or [] if isinstance(fs, dict)}
    if set(fs_ids) - known:
        return True
    try:
        recorded = Severity(str(current.get("severity")))
    except ValueError:
        return True
    return severity is not None and SEVERITY_ORDER[severity] > SEVERITY_ORDER[recorded]


def unfinished_actions(current: Mapping[str, Any] | None) -> bool:
    """An open incident with an action whose last attempt failed: the sweep drives it again."""
    if not current or current.get("status") != "open":
        return False
    last: dict[tuple[str, str], str] = {}
    for action in current.get("actions") or []:
        if isinstance(action, Mapping):
            last[(str(action.get("type")), str(action.get("target")))] = str(action.get("status"))
    return "failed" in last.values()


def call_floor(file_systems_per_target: Iterable[int], distinct_keys: int) -> int:
    """The fewest calls the question takes: ceil(N/100) pages per account-Region + 3 per distinct key
    (DescribeKey; and, while it is Enabled, ListGrants and GetKeyPolicy)."""
    return sum(max(1, math.ceil(n / PAGE_SIZE)) for n in file_systems_per_target) + 3 * distinct_keys
