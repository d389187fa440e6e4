"""The sweep's findings are pure: file systems + the distinct keys looked up -> findings. No AWS here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from keywatch.models import DELETED, UNKNOWN, FileSystem, KeyEvent, KeyInfo, Outcome, Policy, Severity
from keywatch.sweep import (
    KeyLookup,
    alias_locations,
    assess_one,
    call_floor,
    classify,
    countdown_due,
    key_arn_of,
    needs_response,
    verdict_for,
)
from keywatch.sweep.assess import assess

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ACCOUNT, REGION = "111122223333", "us-east-1"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"


def fs(name: str, kms_key_id: str | None = KEY, encrypted: bool = True, **extra: object) -> FileSystem:
    return FileSystem(
        file_system_id=f"fs-{name}",
        name=name,
        account=ACCOUNT,
        region=REGION,
        kms_key_id=kms_key_id,
        encrypted=encrypted,
        mount_targets=2,
        **extra,
    )  # type: ignore[arg-type]


def lookup(state: str = "Enabled", grants: set[str] | None = None, **extra: object) -> KeyLookup:
    key = KeyInfo(arn=KEY, key_id=KEY_ID, state=state, key_manager="CUSTOMER", **extra)  # type: ignore[arg-type]
    return KeyLookup(key, frozenset(grants) if grants is not None else None)


@pytest.mark.parametrize(
    ("state", "severity"),
    [
        (DELETED, Severity.CRITICAL),
        ("PendingDeletion", Severity.CRITICAL),
        ("PendingReplicaDeletion", Severity.CRITICAL),
        ("PendingImport", Severity.CRITICAL),
        ("Disabled", Severity.HIGH),
        ("Unavailable", Severity.HIGH),
    ],
)
def test_given_an_unusable_key_when_assessed_then_a_finding_with_the_event_paths_severity(
    state: str, severity: Severity
) -> None:
    found = assess_one(fs("a"), KEY, lookup(state), NOW)
    assert found is not None
    assert (found.key_state, found.severity, found.problem) == (state, severity, "key_state")
    assert found.file_system_id == "fs-a" and found.key_arn == KEY and found.reason


@pytest.mark.parametrize("state", ["Enabled", "Creating", "Updating"])
def test_given_a_usable_or_transient_key_with_its_grant_when_assessed_then_no_finding(state: str) -> None:
    assert assess_one(fs("a"), KEY, lookup(state, grants={"fs-a"}), NOW) is None


def test_given_pending_deletion_when_assessed_then_the_deletion_date_and_days_left_are_reported() -> None:
    found = assess_one(fs("a"), KEY, lookup("PendingDeletion", deletion_date=NOW + timedelta(days=6, hours=2)), NOW)
    assert found is not None
    assert found.days_left == 7 and found.deletion_date == NOW + timedelta(days=6, hours=2)
    assert "2025-03-07" in found.reason


def test_given_an_enabled_key_without_the_efs_grant_when_assessed_then_high_grant_missing() -> None:
    found = assess_one(fs("a"), KEY, lookup("Enabled", grants={"fs-other"}), NOW)
    assert found is not None
    assert (found.severity, found.problem, found.key_state) == (Severity.HIGH, "grant_missing", "Enabled")


def test_given_grants_that_could_not_be_listed_when_assessed_then_no_grant_finding() -> None:
    assert assess_one(fs("a"), KEY, lookup("Enabled", grants=None), NOW) is None


def test_given_imported_material_expiring_soon_when_assessed_then_low_import_expiry() -> None:
    found = assess_one(
        fs("a"), KEY, lookup("Enabled", grants={"fs-a"}, origin="EXTERNAL", valid_to=NOW + timedelta(days=10)), NOW
    )
    assert found is not None
    assert (found.severity, found.problem, found.days_left) == (Severity.LOW, "import_expiry", 10)
    assert found.valid_to == NOW + timedelta(days=10)


def test_given_imported_material_expiring_later_than_the_window_when_assessed_then_no_finding() -> None:
    later = lookup("Enabled", grants={"fs-a"}, origin="EXTERNAL", valid_to=NOW + timedelta(days=90))
    assert assess_one(fs("a"), KEY, later, NOW) is None
    assert assess_one(fs("a"), KEY, later, NOW, expiry_days=120) is not None


def test_given_a_missing_grant_and_expiry_when_assessed_then_the_worse_problem_is_reported() -> None:
    found = assess_one(fs("a"), KEY, lookup("Enabled", grants=set(), valid_to=NOW + timedelta(days=1)), NOW)
    assert found is not None and found.problem == "grant_missing"


def test_given_a_key_keywatch_cannot_read_when_assessed_then_medium_key_unreadable() -> None:
    found = assess_one(fs("a"), KEY, lookup(UNKNOWN, description="AccessDeniedException"), NOW)
    assert found is not None
    assert (found.severity, found.problem) == (Severity.MEDIUM, "key_unreadable")
    assert "AccessDeniedException" in found.reason


def test_given_an_alias_that_points_at_no_key_when_assessed_then_key_unreadable() -> None:
    found = assess_one(fs("a", "alias/gone"), None, None, NOW)
    assert found is not None and found.problem == "key_unreadable" and found.key_state == UNKNOWN


def test_given_the_policy_tag_when_assessed_then_the_finding_carries_the_policy() -> None:
    found = assess_one(fs("a", policy=Policy.UNMOUNT), KEY, lookup("Disabled"), NOW)
    assert found is not None and found.policy == Policy.UNMOUNT and found.mount_targets == 2


@pytest.mark.parametrize(
    ("system", "use"),
    [
        (fs("plain", None, encrypted=False), "unencrypted"),
        (fs("moto-default", None), "aws_managed"),
        (fs("alias-default", "alias/aws/elasticfilesystem"), "aws_managed"),
        (fs("alias-arn-default", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/elasticfilesystem"), "aws_managed"),
        (fs("by-alias", "alias/app"), "alias"),
        (fs("by-arn", KEY), "key"),
        (fs("by-id", KEY_ID), "key"),
        (fs("garbage", "not a key"), "invalid"),
    ],
)
def test_given_how_a_file_system_is_encrypted_when_classified_then_the_key_use_is_known(
    system: FileSystem, use: str
) -> None:
    assert classify(system) == use


def test_given_unencrypted_and_aws_managed_file_systems_when_assessed_then_they_are_not_at_risk() -> None:
    aws_key = "arn:aws:kms:us-east-1:111122223333:key/0000aaaa-0000-4000-8000-000000000000"
    systems = [
        fs("plain", None, encrypted=False),
        fs("moto-default", None),
        fs("alias-default", "alias/aws/elasticfilesystem"),
        fs("aws-key-arn", aws_key),
    ]
    managed = KeyLookup(KeyInfo(arn=aws_key, key_id=aws_key.rsplit("/", 1)[1], state="Enabled", key_manager="AWS"))
    result = assess(systems, {aws_key: managed}, now=NOW)
    assert result.findings == []
    assert [u.file_system_id for u in result.unencrypted] == ["fs-plain"]
    assert (result.aws_managed, result.customer_managed) == (3, 0)


def test_given_file_systems_sharing_keys_when_assessed_then_each_uses_its_keys_lookup() -> None:
    other_id = "0987dcba-09fe-87dc-65ba-ab0987654321"
    other = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{other_id}"
    systems = [fs("a", KEY), fs("b", KEY.replace(KEY_ID, KEY_ID.upper())), fs("c", other), fs("d", "alias/app")]
    lookups = {
        KEY: lookup("Disabled"),
        other: KeyLookup(KeyInfo(arn=other, key_id=other_id, state="Enabled"), frozenset({"fs-c"})),
    }
    result = assess(systems, lookups, {(ACCOUNT, REGION): {"alias/app": KEY_ID}}, NOW)
    assert sorted(f.file_system_id for f in result.findings) == ["fs-a", "fs-b", "fs-d"]
    assert {f.key_state for f in result.findings} == {"Disabled"}
    assert result.key_of["fs-d"] == KEY and result.customer_managed == 4


def test_given_findings_when_assessed_then_the_worst_come_first() -> None:
    systems = [fs("grant", KEY), fs("gone", KEY_ID.replace("1234", "5678"))]
    gone = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID.replace('1234', '5678')}"
    lookups = {
        KEY: lookup("Enabled", grants=set()),
        gone: KeyLookup(KeyInfo(arn=gone, key_id=gone.rsplit("/", 1)[1], state=DELETED)),
    }
    result = assess(systems, lookups, now=NOW)
    assert [f.severity for f in result.findings] == [Severity.CRITICAL, Severity.HIGH]


def test_given_aliases_only_some_file_systems_store_when_located_then_only_those_places_are_listed() -> None:
    systems = [
        fs("a", KEY),
        fs("b", "alias/app"),
        fs("c", "alias/aws/elasticfilesystem"),
        fs("d", "arn:aws:kms:eu-west-1:444455556666:alias/shared"),
    ]
    assert alias_locations(systems) == {(ACCOUNT, REGION), ("444455556666", "eu-west-1")}
    assert alias_locations([fs("a", KEY)]) == set()
    assert key_arn_of(fs("b", "alias/app"), {}) is None


@pytest.mark.parametrize(
    ("left", "due"),
    [
        (timedelta(days=12), None),
        (timedelta(days=7, hours=1), None),
        (timedelta(days=7), 7),
        (timedelta(days=5), 7),
        (timedelta(days=1), 1),
        (timedelta(hours=3), 1),
        (timedelta(hours=-3), 1),
    ],
)
def test_given_days_before_deletion_when_counting_down_then_the_most_urgent_threshold_reached(
    left: timedelta, due: int | None
) -> None:
    assert countdown_due(NOW + left, NOW, [7, 1]) == due


def test_given_no_deletion_date_or_thresholds_when_counting_down_then_nothing_is_due() -> None:
    assert countdown_due(None, NOW, [7, 1]) is None
    assert countdown_due(NOW, NOW, []) is None


def event() -> KeyEvent:
    return KeyEvent(event_id="sweep-2025-03-01-x", event_name="Sweep", kind="sweep", key_arn=KEY)


def test_given_a_key_state_finding_when_judged_then_the_engine_verdict_is_used() -> None:
    found = assess_one(fs("a"), KEY, lookup("PendingDeletion"), NOW)
    assert found is not None
    verdict = verdict_for(event(), lookup("PendingDeletion").key, [found], [fs("a")])
    assert (verdict.outcome, verdict.severity) == (Outcome.ALERT, Severity.CRITICAL)


def test_given_a_missing_grant_when_judged_then_a_high_alert() -> None:
    found = assess_one(fs("a"), KEY, lookup("Enabled", grants=set()), NOW)
    assert found is not None
    verdict = verdict_for(event(), lookup().key, [found], [fs("a")])
    assert (verdict.outcome, verdict.severity) == (Outcome.ALERT, Severity.HIGH)
    assert "grant" in verdict.reason


def test_given_incidents_when_deciding_to_respond_then_only_new_or_worse_ones_go_through_the_engine() -> None:
    open_high = {"status": "open", "severity": "high", "affected": [{"file_system_id": "fs-a"}]}
    assert needs_response(None, Severity.HIGH, ["fs-a"])
    assert needs_response({**open_high, "status": "resolved"}, Severity.HIGH, ["fs-a"])
    assert not needs_response(open_high, Severity.HIGH, ["fs-a"])
    assert needs_response(open_high, Severity.HIGH, ["fs-a", "fs-b"])
    assert needs_response(open_high, Severity.CRITICAL, ["fs-a"])


def test_given_file_systems_per_target_and_keys_when_the_floor_is_computed_then_pages_plus_three_per_key() -> None:
    # DescribeKey, then ListGrants and GetKeyPolicy while the key is Enabled
    assert call_floor([0, 100, 101, 1000], 3) == 1 + 1 + 2 + 10 + 9


# --- key policies (the analysis of PutKeyPolicy events, on the policy the key holds now) ---------------------

FREEZE = (
    {"Sid": "Admins", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*"},
    {"Sid": "Freeze", "Effect": "Deny", "Principal": "*", "Action": ["kms:Decrypt", "kms:CreateGrant"]},
)
EXEMPT = (
    FREEZE[0],
    {
        "Sid": "NotViaEfs",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:Decrypt",
        "Condition": {"StringNotEquals": {"kms:ViaService": f"elasticfilesystem.{REGION}.amazonaws.com"}},
    },
)


def with_policy(policy: tuple[dict[str, object], ...] | None, grants: set[str] | None = None) -> KeyLookup:
    plain = lookup("Enabled", grants={"fs-a"} if grants is None else grants)
    return KeyLookup(plain.key, plain.grants, policy)


def test_given_a_key_policy_that_shuts_efs_out_when_assessed_then_high_policy_denies_naming_the_statement() -> None:
    found = assess_one(fs("a"), KEY, with_policy(FREEZE), NOW)
    assert found is not None
    assert (found.severity, found.problem, found.key_state) == (Severity.HIGH, "policy_denies", "Enabled")
    assert found.denied_by == "statement Freeze denies kms:Decrypt, kms:CreateGrant to everyone"
    assert found.denied_by in found.reason


def test_given_a_deny_with_a_condition_that_exempts_efs_when_assessed_then_no_finding() -> None:
    assert assess_one(fs("a"), KEY, with_policy(EXEMPT), NOW) is None


def test_given_a_policy_that_could_not_be_read_when_assessed_then_no_policy_finding() -> None:
    assert assess_one(fs("a"), KEY, with_policy(None), NOW) is None


def test_given_a_lost_grant_and_a_freezing_policy_when_judged_then_one_high_alert_says_both() -> None:
    lost = assess_one(fs("a"), KEY, with_policy(FREEZE, grants=set()), NOW)
    frozen = assess_one(fs("b"), KEY, with_policy(FREEZE, grants={"fs-b"}), NOW)
    assert lost is not None and frozen is not None
    assert (lost.problem, frozen.problem) == ("grant_missing", "policy_denies")
    verdict = verdict_for(event(), lookup().key, [lost, frozen], [fs("a"), fs("b")])
    assert (verdict.outcome, verdict.severity) == (Outcome.ALERT, Severity.HIGH)
    assert "the EFS grant is gone for 1 EFS file system" in verdict.reason
    assert "its key policy shuts EFS out of 1 EFS file system (statement Freeze denies" in verdict.reason
