"""Precision on moto: the grant that was really lost, EFS known by its account, KMS's repeated events,
key policies that shut EFS out, routine imports. Through the watchdog the Lambda builds, on a simulated
estate whose fleet fixes grant IDs (``grant_id``, ``grants:``) as DESIGN.md §4 states."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from keywatch.adapters.occurrences import DynamoOccurrences
from keywatch.cli.simulator import HOME_ACCOUNT, HOME_REGION, INCIDENTS_TABLE, FleetError
from keywatch.config import Settings
from keywatch.models import EventResult, Outcome, Severity
from keywatch.parse import parse_event
from keywatch.runtime import build_watchdog

ACCOUNT = "111122223333"
PARTNER = "444455556666"
REGION = "eu-west-1"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"
VAULT_ID = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
VAULT_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{VAULT_ID}"
OLD_ID = "4c5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e7f"
OLD_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{OLD_ID}"
EFS_IRELAND = "805538244694"

FLEET = {
    "accounts": [
        {
            "id": ACCOUNT,
            "regions": {
                REGION: {
                    "keys": [
                        {
                            "id": KEY_ID,
                            "grants": [
                                {
                                    "id": "g-backup",
                                    "grantee": "backup.amazonaws.com",
                                    "retiring_principal": "backup.amazonaws.com",
                                    "operations": ["Decrypt", "GenerateDataKeyWithoutPlaintext"],
                                }
                            ],
                        },
                        {"id": VAULT_ID, "origin": "EXTERNAL"},
                        {"id": OLD_ID, "state": "PendingDeletion", "pending_window_days": 7},
                    ],
                    "file_systems": [
                        {"name": "home", "key": KEY_ID, "grant_id": "g-home"},
                        {"name": "shared", "key": KEY_ID, "grant_id": "g-shared"},
                        {"name": "vault", "key": VAULT_ID},
                        {"name": "archive", "key": OLD_ID},
                    ],
                }
            },
        },
        {"id": PARTNER, "regions": {REGION: {"file_systems": [{"name": "partner", "key": KEY_ARN}]}}},
    ]
}
ALICE = {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/alice", "accountId": ACCOUNT}


def call(name: str, n: int, key_id: str = KEY_ID, **detail: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.11",
        "userIdentity": ALICE,
        "eventTime": f"2027-05-0{n % 9 + 1}T10:00:00Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": "192.0.2.10",
        "userAgent": "aws-cli/2.22",
        "requestParameters": {"keyId": key_id},
        "responseElements": None,
        "eventID": f"precision-{name}-{n}",
        "resources": [
            {"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"}
        ],
        "recipientAccountId": ACCOUNT,
    }
    record.update(detail)
    return {
        "version": "0",
        "id": f"eb-{name}-{n}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.kms",
        "account": ACCOUNT,
        "time": record["eventTime"],
        "region": REGION,
        "resources": [],
        "detail": record,
    }


def native(detail_type: str, eb_id: str, key_arn: str, at: datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": eb_id,
        "detail-type": detail_type,
        "source": "aws.kms",
        "account": ACCOUNT,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [key_arn],
        "detail": {"key-id": key_arn.rsplit("/", 1)[-1]},
    }


class World:
    """The estate, the watchdog the Lambda would build (incidents table included), and what it published."""

    def __init__(self, estate: Any) -> None:
        self.estate = estate
        settings = Settings(
            topic_arn=estate.topic_arn,
            accounts=estate.fleet.account_ids,
            incidents_table=INCIDENTS_TABLE,
            home_account=HOME_ACCOUNT,
        )
        self.watchdog = build_watchdog(settings, estate.clients)

    def handle(self, raw: dict[str, Any]) -> EventResult:
        event = parse_event(raw)
        self.estate.apply(event)
        self.estate.clients.calls.clear()
        return self.watchdog.handle_event(event)

    def grants(self, key_arn: str = KEY_ARN) -> set[str]:
        kms = self.estate.clients.client("kms", ACCOUNT, REGION)
        return {g["GrantId"] for g in kms.list_grants(KeyId=key_arn)["Grants"]}

    def published(self) -> int:
        from moto.sns.models import sns_backends

        return len(sns_backends[HOME_ACCOUNT][HOME_REGION].topics[self.estate.topic_arn].sent_notifications)


@pytest.fixture
def world(make_estate: Callable[..., Any]) -> World:
    return World(make_estate(FLEET))


def names(result: EventResult) -> list[str]:
    return sorted(fs.name or "" for fs in result.affected)


# --- grants ----------------------------------------------------------------------------------------------


def test_given_a_person_retires_one_efs_grant_when_handled_then_only_that_file_system_is_affected(world: World) -> None:
    before = world.grants()
    result = world.handle(call("RetireGrant", 1, requestParameters=None, additionalEventData={"grantId": "g-home"}))

    assert (result.outcome, result.severity, names(result)) == (Outcome.ALERT, Severity.HIGH, ["home"])
    assert before - world.grants() == {"g-home"}  # the simulator removed exactly the grant named
    assert world.published() == 1


def test_given_aws_backup_retires_its_own_grant_when_handled_then_ignored_and_nothing_sent(world: World) -> None:
    backup = {"type": "AWSService", "invokedBy": "backup.amazonaws.com"}
    raw = call(
        "RetireGrant", 2, userIdentity=backup, requestParameters=None, additionalEventData={"grantId": "g-backup"}
    )

    result = world.handle(raw)

    assert (result.outcome, result.severity, result.affected) == (Outcome.IGNORED, None, [])
    assert "still holds its EFS grant" in result.reason
    assert {"g-home", "g-shared"} <= world.grants() and "g-backup" not in world.grants()
    assert world.published() == 0


def test_given_a_revoke_of_a_grant_no_one_holds_when_handled_then_nothing_is_removed_and_ignored(world: World) -> None:
    before = world.grants()
    result = world.handle(call("RevokeGrant", 3, requestParameters={"keyId": KEY_ARN, "grantId": "g-nobody"}))
    assert world.grants() == before
    assert (result.outcome, result.affected) == (Outcome.IGNORED, [])


def test_given_efs_retiring_from_its_ireland_account_when_handled_then_ignored_without_looking_anything_up(
    world: World,
) -> None:
    efs = {"type": "AWSAccount", "principalId": "AROAEXAMPLE:efs", "accountId": EFS_IRELAND}
    raw = call(
        "RetireGrant",
        4,
        userIdentity=efs,
        sourceIPAddress="AWS Internal",
        requestParameters=None,
        additionalEventData={"grantId": "g-home"},
    )

    result = world.handle(raw)

    assert result.outcome == Outcome.IGNORED and EFS_IRELAND in result.reason
    assert world.estate.clients.total_calls("kms:") == 0 and world.estate.clients.total_calls("efs:") == 0


def test_given_list_grants_fails_when_a_person_retires_a_grant_then_a_high_alert_says_the_grants_were_unreadable(
    world: World,
) -> None:
    from botocore.awsrequest import AWSResponse

    def deny(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        response = AWSResponse("https://kms", 400, {}, None)
        return response, {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}

    world.estate.clients.client("kms", ACCOUNT, REGION).meta.events.register("before-call.kms.ListGrants", deny)
    result = world.handle(call("RetireGrant", 5, requestParameters=None, additionalEventData={"grantId": "g-home"}))

    assert (result.outcome, result.severity) == (Outcome.ALERT, Severity.HIGH)
    assert names(result) == ["home", "partner", "shared"]  # it cannot tell which: every one is listed
    assert "could not list the key's grants" in result.reason and "AccessDeniedException" in result.reason


# --- KMS's repeated events ------------------------------------------------------------------------------------


def test_given_kms_sends_a_deletion_again_under_a_new_id_when_handled_then_duplicate_and_one_alert(
    world: World,
) -> None:
    at = datetime(2027, 5, 9, 12, 0, 0, tzinfo=UTC)
    first = world.handle(native("KMS CMK Deletion", "eb-deletion-1", OLD_ARN, at))
    again = world.handle(native("KMS CMK Deletion", "eb-deletion-2", OLD_ARN, at + timedelta(seconds=3)))
    much_later = world.handle(native("KMS CMK Deletion", "eb-deletion-3", OLD_ARN, at + timedelta(days=2)))

    assert (first.outcome, first.severity) == (Outcome.ALERT, Severity.CRITICAL)
    assert again.outcome == much_later.outcome == Outcome.DUPLICATE  # a key is deleted once
    assert "eb-deletion-1" in again.reason and again.actions == [] and again.notifications == []
    assert world.published() == 1


def test_given_an_expiration_repeated_within_10_minutes_when_handled_then_duplicate_but_not_after(world: World) -> None:
    at = datetime(2027, 5, 9, 12, 0, 0, tzinfo=UTC)
    outcomes = [
        world.handle(native("KMS Imported Key Material Expiration", f"eb-expiry-{i}", VAULT_ARN, at + delay)).outcome
        for i, delay in enumerate([timedelta(0), timedelta(minutes=9, seconds=59), timedelta(minutes=20)])
    ]
    assert outcomes == [Outcome.ALERT, Outcome.DUPLICATE, Outcome.ALERT]
    assert world.published() == 2


def test_given_the_occurrence_log_when_claimed_then_the_claimer_may_claim_again_and_others_may_not(
    world: World,
) -> None:
    log = DynamoOccurrences(world.estate.clients, INCIDENTS_TABLE, HOME_REGION)
    at = datetime(2027, 5, 9, 12, 0, 0, tzinfo=UTC)
    window = timedelta(minutes=10)

    assert log.claim(VAULT_ARN, "expired", "a", at, window).granted
    assert log.claim(VAULT_ARN, "expired", "a", at, window).granted  # a retry of the same event
    other = log.claim(VAULT_ARN, "expired", "b", at - timedelta(minutes=3), window)  # out of order, still inside
    assert (other.granted, other.first_event_id, other.first_at) == (False, "a", at)
    assert log.claim(VAULT_ARN, "expired", "c", at + timedelta(minutes=11), window).granted
    assert log.claim(OLD_ARN, "deleted", "x", at, None).granted
    assert not log.claim(OLD_ARN, "deleted", "y", at + timedelta(days=400), None).granted


# --- key policies -----------------------------------------------------------------------------------------------


def put_policy(n: int, *statements: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    admin = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    policy = text if text is not None else json.dumps({"Version": "2012-10-17", "Statement": [admin, *statements]})
    return call("PutKeyPolicy", n, requestParameters={"keyId": KEY_ID, "policyName": "default", "policy": policy})


def test_given_a_policy_denying_decrypt_to_the_partner_account_when_handled_then_only_its_file_system_alerts(
    world: World,
) -> None:
    deny = {
        "Sid": "NoPartner",
        "Effect": "Deny",
        "Principal": {"AWS": f"arn:aws:iam::{PARTNER}:root"},
        "Action": ["kms:Decrypt", "kms:CreateGrant"],
        "Resource": "*",
    }
    result = world.handle(put_policy(6, deny))
    assert (result.outcome, result.severity, names(result)) == (Outcome.ALERT, Severity.HIGH, ["partner"])
    assert "NoPartner" in result.reason


def test_given_a_deny_that_exempts_efs_when_handled_then_ignored_with_the_reason(world: World) -> None:
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:*",
        "Resource": "*",
        "Condition": {"StringNotLike": {"kms:ViaService": "elasticfilesystem.*.amazonaws.com"}},
    }
    result = world.handle(put_policy(7, deny))
    assert (result.outcome, result.affected) == (Outcome.IGNORED, [])
    assert "still lets EFS use the key" in result.reason


def test_given_a_policy_that_cannot_be_parsed_when_handled_then_a_high_alert_with_the_reason(world: World) -> None:
    result = world.handle(put_policy(8, text='{"Statement": [{"Effect": "Deny"'))
    assert (result.outcome, result.severity, names(result)) == (
        Outcome.ALERT,
        Severity.HIGH,
        ["home", "partner", "shared"],
    )
    assert "cannot read" in result.reason and "not valid JSON" in result.reason


def test_given_a_policy_whose_statement_is_one_object_when_handled_then_a_high_alert_and_the_key_still_answers(
    world: World,
) -> None:
    # The policy grammar allows "Statement": {...}; moto can't evaluate it, so the simulated estate stores it
    # as a list (cli/simulator.py), while keywatch's own analysis reads the object as AWS would.
    deny = {"Sid": "NoOne", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"}
    text = json.dumps({"Version": "2012-10-17", "Statement": deny})

    result = world.handle(put_policy(9, text=text))
    after = world.handle(call("DisableKey", 9))

    assert (result.outcome, result.severity, names(result)) == (
        Outcome.ALERT,
        Severity.HIGH,
        ["home", "partner", "shared"],
    )
    assert "NoOne" in result.reason
    assert after.outcome == Outcome.ALERT


# --- imports -----------------------------------------------------------------------------------------------------


def import_material(n: int, import_type: str | None) -> dict[str, Any]:
    request: dict[str, Any] = {"keyId": VAULT_ID, "validTo": "May 21, 2028, 5:47:45 AM"}
    if import_type:
        request["importType"] = import_type
    return call(
        "ImportKeyMaterial", n, key_id=VAULT_ID, requestParameters=request, responseElements={"keyId": VAULT_ARN}
    )


def test_given_a_rotation_of_imported_material_into_a_healthy_key_when_handled_then_ignored(world: World) -> None:
    result = world.handle(import_material(1, "NEW_KEY_MATERIAL"))
    assert (result.outcome, result.severity) == (Outcome.IGNORED, None)
    assert "routine" in result.reason and world.published() == 0


def test_given_an_open_incident_when_new_key_material_is_imported_then_it_resolves_it(world: World) -> None:
    lost = world.handle(call("DeleteImportedKeyMaterial", 2, key_id=VAULT_ID))
    back = world.handle(import_material(3, "NEW_KEY_MATERIAL"))
    assert (lost.outcome, back.outcome, names(back)) == (Outcome.ALERT, Outcome.RESOLVED, ["vault"])


# --- the fleet file ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (
            lambda f: f["accounts"][0]["regions"][REGION]["file_systems"].append({"name": "x", "grant_id": "g-1"}),
            "no key",
        ),
        (lambda f: f["accounts"][0]["regions"][REGION]["file_systems"][1].update(grant_id="g-home"), "appears twice"),
        (lambda f: f["accounts"][0]["regions"][REGION]["file_systems"][0].update(grant_id="bad id!"), "grant_id"),
    ],
)
def test_given_a_fleet_with_a_bad_grant_when_built_then_a_fleet_error_says_why(
    make_estate: Callable[..., Any], change: Callable[[dict[str, Any]], None], complaint: str
) -> None:
    fleet = json.loads(json.dumps(FLEET))
    change(fleet)
    with pytest.raises((FleetError, ValueError), match=complaint):
        make_estate(fleet)  # a ValidationError (a ValueError) for the file's shape, a FleetError for the estate
