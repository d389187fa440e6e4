"""keywatch.assess: prefilter, decide (DESIGN.md §3 exactly) and the key-to-file-system mapping. Pure, no AWS."""

from __future__ import annotations

from typing import Any

import pytest
from keywatch.assess import decide, file_systems_using, is_own_action, normalise_key_arn, prefilter
from keywatch.models import DELETED, UNKNOWN, Actor, FileSystem, KeyEvent, Outcome, Severity

ACCOUNT = "111122223333"
PARTNER = "444455556666"
REGION = "us-east-1"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"
OTHER_ID = "0987dcba-09fe-87dc-65ba-ab0987654321"
OTHER_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{OTHER_ID}"
EFS = "elasticfilesystem.amazonaws.com"
ALICE = Actor(
    type="AssumedRole",
    arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/alice",
    role_arn=f"arn:aws:iam::{ACCOUNT}:role/Admin",
    source_ip="203.0.113.24",
    user_agent="aws-cli/2",
)


def key_event(name: str, **fields: Any) -> KeyEvent:
    values: dict[str, Any] = {
        "event_id": f"id-{name}",
        "event_name": name,
        "kind": "cloudtrail",
        "key_arn": KEY_ARN,
        "account": ACCOUNT,
        "region": REGION,
        "actor": ALICE,
    }
    values.update(fields)
    return KeyEvent(**values)


def fs(
    name: str, kms_key_id: str | None = KEY_ARN, account: str = ACCOUNT, region: str = REGION, encrypted: bool = True
) -> FileSystem:
    return FileSystem(
        file_system_id=f"fs-{name.encode().hex()[:17]:0<17}",
        name=name,
        account=account,
        region=region,
        kms_key_id=kms_key_id,
        encrypted=encrypted,
        mount_targets=1,
    )


ONE = [fs("app-shared")]


# --- prefilter ----------------------------------------------------------------------------------------


def test_given_a_failed_call_when_prefiltered_then_ignored_with_the_error_code_in_the_reason() -> None:
    verdict = prefilter(key_event("DisableKey", error_code="AccessDeniedException"))
    assert verdict is not None
    assert (verdict.outcome, verdict.severity) == (Outcome.IGNORED, None)
    assert "AccessDeniedException" in verdict.reason


@pytest.mark.parametrize("name", ["CreateKey", "CreateGrant", "TagResource", "KMS CMK Rotation", "Decrypt"])
def test_given_an_unwatched_event_when_prefiltered_then_ignored(name: str) -> None:
    verdict = prefilter(key_event(name))
    assert verdict is not None and verdict.outcome == Outcome.IGNORED
    assert name in verdict.reason


@pytest.mark.parametrize(
    "name",
    [
        "DisableKey",
        "EnableKey",
        "ScheduleKeyDeletion",
        "CancelKeyDeletion",
        "RetireGrant",
        "RevokeGrant",
        "DeleteImportedKeyMaterial",
        "ImportKeyMaterial",
        "PutKeyPolicy",
        "KMS CMK Deletion",
        "KMS Imported Key Material Expiration",
    ],
)
def test_given_a_watched_event_by_a_person_when_prefiltered_then_it_goes_on_to_the_estate(name: str) -> None:
    assert prefilter(key_event(name)) is None


@pytest.mark.parametrize("name", ["RetireGrant", "RevokeGrant"])
def test_given_efs_invoking_a_grant_call_when_prefiltered_then_ignored_as_routine(name: str) -> None:
    event = key_event(name, actor=Actor(type="AWSService", invoked_by=EFS))
    verdict = prefilter(event)
    assert verdict is not None and verdict.outcome == Outcome.IGNORED
    assert "EFS" in verdict.reason


def test_given_efs_as_the_source_ip_address_when_a_grant_is_retired_then_ignored() -> None:
    event = key_event("RetireGrant", actor=Actor(type="AWSService", source_ip=EFS))
    assert prefilter(event) is not None


def test_given_a_user_whose_user_agent_claims_to_be_efs_when_a_grant_is_retired_then_it_is_not_ignored() -> None:
    # userAgent is whatever the caller sends; only invokedBy / sourceIPAddress are written by AWS
    spoof = Actor(type="IAMUser", arn=f"arn:aws:iam::{ACCOUNT}:user/mallory", source_ip="198.51.100.66", user_agent=EFS)
    assert prefilter(key_event("RetireGrant", actor=spoof)) is None


def test_given_efs_as_caller_of_a_non_grant_event_when_prefiltered_then_it_is_not_excused() -> None:
    assert prefilter(key_event("DisableKey", actor=Actor(type="AWSService", invoked_by=EFS))) is None


def test_given_an_event_that_names_no_key_when_prefiltered_then_ignored() -> None:
    verdict = prefilter(key_event("RetireGrant", key_arn=None))
    assert verdict is not None and verdict.outcome == Outcome.IGNORED


@pytest.mark.parametrize(
    "own",
    [
        "keywatch-remediate",  # a bare role name, as KEYWATCH_WRITE_ROLE holds it
        f"arn:aws:iam::{ACCOUNT}:role/keywatch-remediate",  # the role ARN
        "KEYWATCH-REMEDIATE",  # any case
    ],
)
def test_given_keywatch_own_role_made_the_call_when_prefiltered_then_ignored(own: str) -> None:
    actor = Actor(
        type="AssumedRole",
        arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/keywatch-remediate/keywatch",
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/keywatch-remediate",
    )
    verdict = prefilter(key_event("CancelKeyDeletion", actor=actor), [own])
    assert verdict is not None and verdict.outcome == Outcome.IGNORED
    assert "own" in verdict.reason


def test_given_another_role_made_the_call_when_prefiltered_with_own_roles_then_it_goes_on() -> None:
    assert prefilter(key_event("DisableKey"), ["keywatch-remediate", ""]) is None


def test_given_a_role_name_that_only_starts_like_keywatch_when_matched_then_it_is_not_keywatch() -> None:
    actor = Actor(type="AssumedRole", arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/keywatch-remediate-evil/x")
    assert not is_own_action(key_event("EnableKey", actor=actor), ["keywatch-remediate"])


def test_given_no_own_roles_when_matched_then_nothing_is_keywatch() -> None:
    assert not is_own_action(key_event("EnableKey"), [])


# --- decide: every key state -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "event_name", "outcome", "severity"),
    [
        (DELETED, "KMS CMK Deletion", Outcome.ALERT, Severity.CRITICAL),
        ("PendingDeletion", "ScheduleKeyDeletion", Outcome.ALERT, Severity.CRITICAL),
        ("PendingReplicaDeletion", "ScheduleKeyDeletion", Outcome.ALERT, Severity.CRITICAL),
        ("PendingImport", "DeleteImportedKeyMaterial", Outcome.ALERT, Severity.CRITICAL),
        ("PendingImport", "KMS Imported Key Material Expiration", Outcome.ALERT, Severity.CRITICAL),
        ("Disabled", "DisableKey", Outcome.ALERT, Severity.HIGH),
        ("Unavailable", "DisableKey", Outcome.ALERT, Severity.HIGH),
        ("Disabled", "CancelKeyDeletion", Outcome.ALERT, Severity.HIGH),  # cancelling leaves the key Disabled
        ("Enabled", "EnableKey", Outcome.RESOLVED, Severity.INFO),
        ("Enabled", "ImportKeyMaterial", Outcome.RESOLVED, Severity.INFO),
        ("Enabled", "RetireGrant", Outcome.ALERT, Severity.HIGH),
        ("Enabled", "RevokeGrant", Outcome.ALERT, Severity.HIGH),
        ("Enabled", "DisableKey", Outcome.IGNORED, None),  # re-enabled before keywatch looked
        ("Enabled", "PutKeyPolicy", Outcome.IGNORED, None),
        ("Enabled", "KMS CMK Deletion", Outcome.IGNORED, None),
    ],
)
def test_given_a_key_state_when_decided_then_outcome_and_severity_follow_design_section_3(
    state: str, event_name: str, outcome: Outcome, severity: Severity | None
) -> None:
    verdict = decide(key_event(event_name), state, ONE)
    assert (verdict.outcome, verdict.severity) == (outcome, severity)
    assert verdict.reason.endswith(".")


def test_given_cancel_key_deletion_leaving_the_key_disabled_when_decided_then_high_alert_saying_so() -> None:
    verdict = decide(key_event("CancelKeyDeletion"), "Disabled", ONE)
    assert (verdict.outcome, verdict.severity) == (Outcome.ALERT, Severity.HIGH)
    assert "Disabled" in verdict.reason


@pytest.mark.parametrize("event_name", ["EnableKey", "ImportKeyMaterial"])
@pytest.mark.parametrize(
    ("state", "severity"),
    [("Disabled", Severity.HIGH), ("PendingDeletion", Severity.CRITICAL), ("PendingImport", Severity.CRITICAL)],
)
def test_given_a_recovery_event_but_the_key_still_unusable_when_decided_then_still_an_alert(
    event_name: str, state: str, severity: Severity
) -> None:
    verdict = decide(key_event(event_name), state, ONE)
    assert (verdict.outcome, verdict.severity) == (Outcome.ALERT, severity)


@pytest.mark.parametrize("name", ["RetireGrant", "RevokeGrant"])
def test_given_a_user_taking_a_grant_on_an_enabled_key_when_decided_then_high_alert_naming_the_user(name: str) -> None:
    verdict = decide(key_event(name), "Enabled", ONE)
    assert (verdict.outcome, verdict.severity) == (Outcome.ALERT, Severity.HIGH)
    assert ALICE.arn in verdict.reason


@pytest.mark.parametrize(
    ("state", "name"),
    [
        (DELETED, "KMS CMK Deletion"),
        ("Disabled", "DisableKey"),
        ("PendingDeletion", "ScheduleKeyDeletion"),
        ("Enabled", "EnableKey"),
        ("Enabled", "RevokeGrant"),
    ],
)
def test_given_no_file_system_uses_the_key_when_decided_then_ignored_whatever_the_state(state: str, name: str) -> None:
    verdict = decide(key_event(name), state, [])
    assert (verdict.outcome, verdict.severity) == (Outcome.IGNORED, None)
    assert "No EFS file system" in verdict.reason


def test_given_an_unreadable_key_when_the_event_reports_a_state_then_that_state_decides() -> None:
    verdict = decide(key_event("ScheduleKeyDeletion", reported_key_state="PendingDeletion"), UNKNOWN, ONE)
    assert (verdict.outcome, verdict.severity) == (Outcome.ALERT, Severity.CRITICAL)


def test_given_an_unreadable_key_and_no_reported_state_when_decided_then_high_alert_to_check() -> None:
    verdict = decide(key_event("PutKeyPolicy"), UNKNOWN, ONE)
    assert (verdict.outcome, verdict.severity) == (Outcome.ALERT, Severity.HIGH)
    assert "cannot read" in verdict.reason


def test_given_several_file_systems_when_decided_then_the_reason_counts_them() -> None:
    verdict = decide(key_event("DisableKey"), "Disabled", [fs("a"), fs("b"), fs("c")])
    assert "3 EFS file systems" in verdict.reason
    assert "1 EFS file system " in decide(key_event("DisableKey"), "Disabled", ONE).reason


# --- file_systems_using: every stored KmsKeyId form --------------------------------------------------------


ALIASES = {(ACCOUNT, REGION, "alias/app"): KEY_ID, (ACCOUNT, REGION, "alias/other"): OTHER_ID}


def resolver(account: str, region: str, alias: str) -> str | None:
    return ALIASES.get((account, region, alias))


@pytest.mark.parametrize(
    "stored",
    [
        KEY_ARN,
        KEY_ID,
        "alias/app",
        f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/app",
        f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID.upper()}",  # upper-case key ID in the ARN
        KEY_ID.upper(),
    ],
)
def test_given_a_file_system_storing_the_key_in_any_form_when_mapped_then_it_uses_the_key(stored: str) -> None:
    found = file_systems_using(KEY_ARN, [fs("app", stored)], resolver)
    assert [f.name for f in found] == ["app"]


def test_given_the_event_arn_in_upper_case_when_mapped_then_case_does_not_matter() -> None:
    wanted = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID.upper()}"
    assert len(file_systems_using(wanted, [fs("app", KEY_ID)], resolver)) == 1


def test_given_a_mixed_estate_when_mapped_then_only_file_systems_on_that_key_come_back_in_order() -> None:
    estate = [
        fs("by-arn", KEY_ARN),
        fs("other-key", OTHER_ARN),
        fs("by-id", KEY_ID),
        fs("plain", None, encrypted=False),
        fs("aws-managed", None),  # moto: encrypted with no KmsKeyId
        fs("by-alias", "alias/app"),
        fs("other-alias", "alias/other"),
        fs("dangling-alias", "alias/gone"),
        fs("garbage", "not-a-key"),
        fs("by-alias-arn", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/app"),
    ]
    found = file_systems_using(KEY_ARN, estate, resolver)
    assert [f.name for f in found] == ["by-arn", "by-id", "by-alias", "by-alias-arn"]


def test_given_an_alias_and_no_resolver_when_mapped_then_the_file_system_is_not_claimed() -> None:
    assert file_systems_using(KEY_ARN, [fs("by-alias", "alias/app")]) == []


def test_given_a_file_system_in_another_account_with_the_key_arn_when_mapped_then_it_uses_the_key() -> None:
    partner = fs("partner-share", KEY_ARN, account=PARTNER)
    assert file_systems_using(KEY_ARN, [partner], resolver) == [partner]


def test_given_a_bare_key_id_in_another_account_when_mapped_then_it_means_that_accounts_key_not_ours() -> None:
    assert file_systems_using(KEY_ARN, [fs("partner-own", KEY_ID, account=PARTNER)], resolver) == []


def test_given_an_alias_arn_of_another_account_when_mapped_then_it_is_resolved_in_that_account() -> None:
    calls: list[tuple[str, str, str]] = []

    def resolve(account: str, region: str, alias: str) -> str | None:
        calls.append((account, region, alias))
        return resolver(account, region, alias)

    partner = fs("partner-by-alias-arn", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/app", account=PARTNER)
    assert file_systems_using(KEY_ARN, [partner], resolve) == [partner]
    assert calls == [(ACCOUNT, REGION, "alias/app")]


def test_given_an_alias_name_when_resolved_then_it_is_looked_up_in_the_file_systems_own_account() -> None:
    seen: list[str] = []

    def resolve(account: str, region: str, alias: str) -> str | None:
        seen.append(account)
        return KEY_ID

    file_systems_using(KEY_ARN, [fs("partner", "alias/app", account=PARTNER)], resolve)
    assert seen == [PARTNER]


def test_given_a_multi_region_replica_when_the_primary_is_hit_then_the_replica_file_system_is_not_claimed() -> None:
    mrk = "mrk-1234abcd12ab34cd56ef1234567890ab"
    primary = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{mrk}"
    replica_fs = fs("eu-media", f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{mrk}", region="eu-west-1")
    bare_replica_fs = fs("eu-media-bare", mrk, region="eu-west-1")
    primary_fs = fs("us-media", mrk)
    assert file_systems_using(primary, [replica_fs, bare_replica_fs, primary_fs]) == [primary_fs]


def test_given_a_file_system_in_china_with_a_bare_key_id_when_mapped_then_it_matches_the_aws_cn_key_arn() -> None:
    china = fs("cn-share", KEY_ID, region="cn-north-1")
    assert normalise_key_arn(china) == f"arn:aws-cn:kms:cn-north-1:{ACCOUNT}:key/{KEY_ID}"
    assert file_systems_using(f"arn:aws-cn:kms:cn-north-1:{ACCOUNT}:key/{KEY_ID}", [china]) == [china]


def test_given_an_unencrypted_file_system_with_a_stray_key_id_when_normalised_then_it_has_no_key() -> None:
    assert normalise_key_arn(fs("odd", KEY_ARN, encrypted=False)) is None
