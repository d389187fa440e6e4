"""Grant-level truth, pure: EFS known by its AWS-owned account, and exactly the file systems whose grant is gone."""

from __future__ import annotations

from typing import Any

import pytest
from keywatch.assess import aws_owned_caller, grant_holders, grant_lost, judge_grants, prefilter
from keywatch.models import Actor, FileSystem, KeyEvent, Outcome, Severity

ACCOUNT = "111122223333"
PARTNER = "444455556666"
HOME = "123456789012"
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EFS_IRELAND = "805538244694"  # EFS's own account in eu-west-1, as the EFS user guide lists it
BOB = Actor(type="IAMUser", arn=f"arn:aws:iam::{ACCOUNT}:user/bob", account=ACCOUNT, source_ip="192.0.2.0")


def grant_event(name: str = "RetireGrant", actor: Actor = BOB, grant_id: str | None = "g-home") -> KeyEvent:
    return KeyEvent(
        event_id=f"id-{name}",
        event_name=name,
        kind="cloudtrail",
        key_arn=KEY_ARN,
        account=ACCOUNT,
        region="eu-west-1",
        actor=actor,
        grant_id=grant_id,
    )


def fs(fs_id: str, account: str = ACCOUNT) -> FileSystem:
    return FileSystem(file_system_id=fs_id, name=fs_id, account=account, region="eu-west-1", kms_key_id=KEY_ARN)


HOME_FS, SHARED_FS, PARTNER_FS = (
    fs("fs-0000000000000000a"),
    fs("fs-0000000000000000b"),
    fs("fs-0000000000000000c", PARTNER),
)
USING = [HOME_FS, SHARED_FS, PARTNER_FS]


# --- EFS itself, by its account -------------------------------------------------------------------------


def efs_account_call(**identity: Any) -> Actor:
    return Actor(**{"type": "AWSAccount", "account": EFS_IRELAND, "source_ip": "AWS Internal", **identity})


@pytest.mark.parametrize("name", ["RetireGrant", "RevokeGrant"])
def test_given_a_grant_call_from_efs_own_account_without_invoked_by_when_prefiltered_then_ignored_naming_it(
    name: str,
) -> None:
    verdict = prefilter(grant_event(name, efs_account_call()), estate={ACCOUNT, HOME})
    assert verdict is not None and (verdict.outcome, verdict.severity) == (Outcome.IGNORED, None)
    assert EFS_IRELAND in verdict.reason and "EFS" in verdict.reason


def test_given_efs_own_account_with_a_network_address_when_prefiltered_then_its_listed_account_is_enough() -> None:
    actor = efs_account_call(source_ip="198.51.100.9")  # the account is listed by the EFS guide: that suffices
    assert prefilter(grant_event(actor=actor), estate={ACCOUNT}) is not None


def test_given_an_aws_owned_account_outside_the_estate_when_aws_originated_the_call_then_ignored() -> None:
    actor = Actor(type="AWSAccount", account="999900001111", source_ip="AWS Internal")
    assert aws_owned_caller(actor, {ACCOUNT, HOME}) == "999900001111"
    assert prefilter(grant_event(actor=actor), estate={ACCOUNT, HOME}) is not None


@pytest.mark.parametrize("inside", [ACCOUNT, PARTNER, HOME])
def test_given_a_caller_from_an_account_of_the_estate_when_prefiltered_then_it_is_never_taken_for_aws(
    inside: str,
) -> None:
    actor = Actor(type="AWSAccount", account=inside, source_ip="AWS Internal")
    assert prefilter(grant_event(actor=actor), estate={ACCOUNT, PARTNER, HOME}) is None


def test_given_a_person_in_another_account_when_they_take_a_grant_then_it_is_not_excused() -> None:
    actor = Actor(type="AWSAccount", account="999900001111", source_ip="198.51.100.66", user_agent="aws-cli/2")
    assert aws_owned_caller(actor, {ACCOUNT}) is None
    assert prefilter(grant_event(actor=actor), estate={ACCOUNT}) is None


def test_given_an_efs_account_id_that_is_also_in_the_estate_when_prefiltered_then_the_estate_wins() -> None:
    assert prefilter(grant_event(actor=efs_account_call()), estate={ACCOUNT, EFS_IRELAND}) is None


def test_given_a_spoofed_efs_user_agent_from_an_outside_account_when_prefiltered_then_it_is_not_excused() -> None:
    actor = Actor(type="AWSAccount", account="999900001111", user_agent="elasticfilesystem.amazonaws.com")
    assert prefilter(grant_event(actor=actor), estate={ACCOUNT}) is None


def test_given_efs_own_account_calling_disable_key_when_prefiltered_then_only_grant_calls_are_excused() -> None:
    event = grant_event("DisableKey", efs_account_call(), grant_id=None)
    assert prefilter(event, estate={ACCOUNT}) is None


# --- which file systems lost their grant ---------------------------------------------------------------------


def test_given_one_efs_grant_retired_when_judged_then_exactly_that_file_system_is_affected() -> None:
    grants = {"g-shared": SHARED_FS.file_system_id, "g-partner": PARTNER_FS.file_system_id, "g-backup-x": "fs-other"}
    affected, verdict = judge_grants(grant_event(), USING, grants)
    assert [f.file_system_id for f in affected] == [HOME_FS.file_system_id]
    assert (verdict.outcome, verdict.severity) == (Outcome.ALERT, Severity.HIGH)
    assert "g-home" in verdict.reason and "1 EFS file system" in verdict.reason


def test_given_another_services_grant_retired_when_every_file_system_keeps_its_own_then_ignored_saying_so() -> None:
    grants = {f"g-{f.name}": f.file_system_id for f in USING}
    _, verdict = judge_grants(grant_event(grant_id="g-backup"), USING, grants)
    assert (verdict.outcome, verdict.severity) == (Outcome.IGNORED, None)
    assert "still holds its EFS grant" in verdict.reason


def test_given_the_retired_grant_still_listed_just_after_when_judged_then_it_counts_as_gone() -> None:
    grants = {"g-home": HOME_FS.file_system_id, "g-shared": SHARED_FS.file_system_id, "g-p": PARTNER_FS.file_system_id}
    affected, verdict = judge_grants(grant_event(grant_id="g-home"), USING, grants)  # KMS is eventually consistent
    assert [f.name for f in affected] == [HOME_FS.name] and verdict.outcome == Outcome.ALERT


def test_given_grants_that_could_not_be_listed_when_judged_then_a_high_alert_that_says_so_on_every_file_system() -> (
    None
):
    affected, verdict = judge_grants(
        grant_event(), USING, None, "ListGrants failed: ClientError(AccessDeniedException)"
    )
    assert affected == USING
    assert (verdict.outcome, verdict.severity) == (Outcome.ALERT, Severity.HIGH)
    assert "could not list the key's grants" in verdict.reason and "AccessDeniedException" in verdict.reason


def test_given_file_system_ids_in_another_case_when_holders_are_compared_then_case_does_not_matter() -> None:
    holders = grant_holders({"g": "FS-0000000000000000A"})
    assert not grant_lost(HOME_FS, holders) and grant_lost(SHARED_FS, holders)
