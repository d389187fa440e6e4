"""Parse at the edge: every watched event shape and every quirk of DESIGN.md §5 becomes one KeyEvent. Pure."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from keywatch.parse import InvalidEvent, load_event_file, parse_envelope, parse_event

ACCOUNT = "111122223333"
REGION = "us-east-1"
APP_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
APP_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{APP_ID}"
BILLING_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0987dcba-09fe-87dc-65ba-ab0987654321"
MRK_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/mrk-1234abcd12ab34cd56ef1234567890ab"
IMPORTED_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
LEGACY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/4c5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e7f"
UNUSED_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/9f8e7d6c-5b4a-4392-8a1b-0c9d8e7f6a5b"
ROTATING_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e"
ANALYTICS_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/5d6e7f80-9a0b-4c1d-8e2f-3a4b5c6d7e8f"
EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> dict[str, Any]:
    """A sample from events/ by the name after its order prefix (as the shared ``event`` fixture does)."""
    [path] = [p for p in EVENTS.glob("*.json") if p.stem.split("_", 1)[1] == name]
    return json.loads(path.read_text())


def cloudtrail(event_name: str, **detail: Any) -> dict[str, Any]:
    """A hand-built CloudTrail KMS event, as EventBridge delivers it. ``detail`` overrides fields."""
    record: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/carol", "accountId": ACCOUNT},
        "eventTime": "2027-03-01T08:00:00Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": event_name,
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "Boto3/1.34.0",
        "requestParameters": {"keyId": APP_ID},
        "responseElements": None,
        "eventID": f"held-out-{event_name}",
        "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": APP_ARN}],
        "recipientAccountId": ACCOUNT,
    }
    record.update(detail)
    return {
        "version": "0",
        "id": f"envelope-{event_name}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.kms",
        "account": ACCOUNT,
        "time": "2027-03-01T08:00:01Z",
        "region": REGION,
        "resources": [],
        "detail": record,
    }


def native(detail_type: str, key_id: str, resources: list[str], **envelope: Any) -> dict[str, Any]:
    raw = {
        "version": "0",
        "id": f"native-{key_id}",
        "detail-type": detail_type,
        "source": "aws.kms",
        "account": ACCOUNT,
        "time": "2027-03-02T00:00:00Z",
        "region": REGION,
        "resources": resources,
        "detail": {"key-id": key_id},
    }
    raw.update(envelope)
    return raw


# --- every sample ---------------------------------------------------------------------------------


SAMPLES = {
    # name: (event_name, kind, key_arn, reported_key_state)
    "disable_key": ("DisableKey", "cloudtrail", APP_ARN, "Disabled"),
    "enable_key": ("EnableKey", "cloudtrail", APP_ARN, "Enabled"),
    "schedule_key_deletion": ("ScheduleKeyDeletion", "cloudtrail", BILLING_ARN, "PendingDeletion"),
    "cancel_key_deletion": ("CancelKeyDeletion", "cloudtrail", BILLING_ARN, "Disabled"),
    "schedule_key_deletion_multi_region": ("ScheduleKeyDeletion", "cloudtrail", MRK_ARN, "PendingReplicaDeletion"),
    "retire_grant": ("RetireGrant", "cloudtrail", APP_ARN, None),
    "retire_grant_by_efs": ("RetireGrant", "cloudtrail", APP_ARN, None),
    "revoke_grant": ("RevokeGrant", "cloudtrail", APP_ARN, None),
    "delete_imported_key_material": ("DeleteImportedKeyMaterial", "cloudtrail", IMPORTED_ARN, "PendingImport"),
    "import_key_material": ("ImportKeyMaterial", "cloudtrail", IMPORTED_ARN, "Enabled"),
    "put_key_policy": ("PutKeyPolicy", "cloudtrail", APP_ARN, None),
    "disable_key_failed": ("DisableKey", "cloudtrail", APP_ARN, None),
    "kms_cmk_deletion": ("KMS CMK Deletion", "native", LEGACY_ARN, "Deleted"),
    "kms_imported_key_material_expiration": (
        "KMS Imported Key Material Expiration",
        "native",
        IMPORTED_ARN,
        "PendingImport",
    ),
    "disable_unused_key": ("DisableKey", "cloudtrail", UNUSED_ARN, "Disabled"),
    "retire_grant_by_efs_account": ("RetireGrant", "cloudtrail", APP_ARN, None),
    "kms_cmk_deletion_again": ("KMS CMK Deletion", "native", LEGACY_ARN, "Deleted"),
    "import_key_material_rotation": ("ImportKeyMaterial", "cloudtrail", ROTATING_ARN, "Enabled"),
    "put_key_policy_shuts_efs_out": ("PutKeyPolicy", "cloudtrail", APP_ARN, None),
    "kms_imported_key_material_expiration_again": (
        "KMS Imported Key Material Expiration",
        "native",
        IMPORTED_ARN,
        "PendingImport",
    ),
    "disable_analytics_key": ("DisableKey", "cloudtrail", ANALYTICS_ARN, "Disabled"),
    "enable_analytics_key": ("EnableKey", "cloudtrail", ANALYTICS_ARN, "Enabled"),
}


def test_given_the_samples_folder_when_listed_then_every_sample_is_covered_by_this_table() -> None:
    # EFS's own events (source aws.elasticfilesystem) are covered by tests/index/test_efs_events.py
    names = {p.stem.split("_", 1)[1] for p in EVENTS.glob("*.json") if json.loads(p.read_text())["source"] == "aws.kms"}
    assert names == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_given_a_sample_event_when_parsed_then_name_kind_key_and_reported_state_are_right(name: str) -> None:
    event_name, kind, arn, state = SAMPLES[name]
    raw = load_event(name)
    event = parse_event(raw)
    assert (event.event_name, event.kind, event.key_arn, event.reported_key_state) == (event_name, kind, arn, state)
    assert (event.account, event.region) == (ACCOUNT, REGION)
    expected_id = raw["detail"].get("eventID") or raw["id"]
    assert event.event_id == expected_id


def test_given_disable_key_with_a_bare_key_id_when_parsed_then_the_arn_comes_from_detail_resources() -> None:
    raw = load_event("disable_key")
    assert raw["detail"]["requestParameters"]["keyId"] == APP_ID
    event = parse_event(raw)
    assert event.key_arn == APP_ARN
    assert event.event_time == datetime(2026, 11, 28, 9, 15, 42, tzinfo=UTC)


def test_given_an_assumed_role_caller_when_parsed_then_the_actor_has_session_role_ip_and_agent() -> None:
    actor = parse_event(load_event("disable_key")).actor
    assert actor.type == "AssumedRole"
    assert actor.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/alice"
    assert actor.role_arn == f"arn:aws:iam::{ACCOUNT}:role/Admin"
    assert actor.account == ACCOUNT
    assert actor.source_ip == "203.0.113.24"
    assert actor.user_agent.startswith("aws-cli/2.17.5")
    assert actor.invoked_by is None


def test_given_efs_retiring_its_grant_when_parsed_then_the_actor_is_the_efs_service() -> None:
    actor = parse_event(load_event("retire_grant_by_efs")).actor
    assert (actor.type, actor.invoked_by, actor.arn) == ("AWSService", "elasticfilesystem.amazonaws.com", None)


def test_given_revoke_grant_when_parsed_then_the_grant_id_comes_from_request_parameters() -> None:
    event = parse_event(load_event("revoke_grant"))
    assert event.grant_id == "2cd2ce2f2d222f22fc22ee2c2f22fe22def222e222f2222222e2de2c2222cccfSAMPLE"


def test_given_put_key_policy_when_parsed_then_the_policy_is_kept_as_a_json_string() -> None:
    event = parse_event(load_event("put_key_policy"))
    assert isinstance(event.policy_document, str)
    assert json.loads(event.policy_document)["Statement"][0]["Action"] == "kms:*"


def test_given_cancel_key_deletion_when_parsed_then_the_key_is_reported_disabled_not_enabled() -> None:
    assert parse_event(load_event("cancel_key_deletion")).reported_key_state == "Disabled"


# --- RetireGrant with requestParameters null --------------------------------------------------------


def test_given_retire_grant_with_null_request_parameters_when_parsed_then_key_from_resources_and_grant_from_extra() -> (
    None
):
    raw = cloudtrail(
        "RetireGrant",
        requestParameters=None,
        additionalEventData={"grantId": "g-123"},
        resources=[{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": BILLING_ARN}],
    )
    event = parse_event(raw)
    assert event.key_arn == BILLING_ARN
    assert event.grant_id == "g-123"
    assert event.reported_key_state is None


def test_given_the_sample_retire_grant_when_parsed_then_it_matches_the_null_request_shape() -> None:
    raw = load_event("retire_grant")
    assert raw["detail"]["requestParameters"] is None
    event = parse_event(raw)
    assert event.key_arn == APP_ARN
    assert event.grant_id == raw["detail"]["additionalEventData"]["grantId"]


def test_given_retire_grant_with_no_key_anywhere_when_parsed_then_it_parses_with_no_key() -> None:
    raw = cloudtrail("RetireGrant", requestParameters=None, additionalEventData={"grantId": "g-1"}, resources=None)
    event = parse_event(raw)
    assert event.key_arn is None and event.grant_id == "g-1"


def test_given_a_resources_entry_of_another_type_when_parsed_then_only_the_kms_key_counts() -> None:
    raw = cloudtrail(
        "RetireGrant",
        requestParameters=None,
        additionalEventData={"grantId": "g-2"},
        resources=[
            {"accountId": ACCOUNT, "type": "AWS::IAM::Role", "ARN": f"arn:aws:iam::{ACCOUNT}:role/app"},
            {"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": BILLING_ARN},
        ],
    )
    assert parse_event(raw).key_arn == BILLING_ARN


# --- deletionDate is not ISO --------------------------------------------------------------------------


def test_given_the_sample_schedule_key_deletion_when_parsed_then_the_am_deletion_date_is_read() -> None:
    raw = load_event("schedule_key_deletion")
    assert raw["detail"]["responseElements"]["deletionDate"] == "Dec 28, 2026 10:02:11 AM"
    event = parse_event(raw)
    assert event.deletion_date == datetime(2026, 12, 28, 10, 2, 11, tzinfo=UTC)
    assert event.pending_window_days == 30


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Apr 12, 2021 18:58:30 PM", datetime(2021, 4, 12, 18, 58, 30, tzinfo=UTC)),  # 24-hour clock, stray PM
        ("Dec 28, 2026 10:02:11 AM", datetime(2026, 12, 28, 10, 2, 11, tzinfo=UTC)),
        ("Apr 12, 2021 6:58:30 PM", datetime(2021, 4, 12, 18, 58, 30, tzinfo=UTC)),  # a real 12-hour clock
        ("Apr 12, 2021 12:05:00 AM", datetime(2021, 4, 12, 0, 5, 0, tzinfo=UTC)),  # midnight
        ("Apr 12, 2021 12:05:00 PM", datetime(2021, 4, 12, 12, 5, 0, tzinfo=UTC)),  # noon
        ("Apr 12, 2021, 6:58:30\u202fPM", datetime(2021, 4, 12, 18, 58, 30, tzinfo=UTC)),  # newer Java formatting
        ("September 3, 2021 1:00:00 AM", datetime(2021, 9, 3, 1, 0, 0, tzinfo=UTC)),
        ("2021-04-12T18:58:30Z", datetime(2021, 4, 12, 18, 58, 30, tzinfo=UTC)),
        ("2021-04-12T18:58:30", datetime(2021, 4, 12, 18, 58, 30, tzinfo=UTC)),
        (1618253910, datetime(2021, 4, 12, 18, 58, 30, tzinfo=UTC)),  # epoch seconds
        (1618253910000, datetime(2021, 4, 12, 18, 58, 30, tzinfo=UTC)),  # epoch milliseconds
    ],
)
def test_given_a_deletion_date_in_a_known_shape_when_parsed_then_it_is_the_right_utc_moment(
    text: Any, expected: datetime
) -> None:
    raw = cloudtrail(
        "ScheduleKeyDeletion",
        requestParameters={"keyId": APP_ID, "pendingWindowInDays": 7},
        responseElements={"keyId": APP_ARN, "keyState": "PendingDeletion", "deletionDate": text},
    )
    event = parse_event(raw)
    assert event.deletion_date == expected
    assert event.pending_window_days == 7


@pytest.mark.parametrize("text", ["sometime next month", "Feb 30, 2021 1:00:00 AM", "Foo 12, 2021 1:00:00 AM"])
def test_given_an_unreadable_deletion_date_when_parsed_then_the_event_still_parses_without_it(text: str) -> None:
    raw = cloudtrail(
        "ScheduleKeyDeletion",
        requestParameters={"keyId": APP_ID, "pendingWindowInDays": 7},
        responseElements={"keyId": APP_ARN, "keyState": "PendingDeletion", "deletionDate": text},
    )
    event = parse_event(raw)  # a lost deletion alert is worse than a missing date
    assert event.deletion_date is None
    assert (event.key_arn, event.reported_key_state) == (APP_ARN, "PendingDeletion")


def test_given_a_pending_window_as_text_when_parsed_then_it_is_a_number() -> None:
    raw = cloudtrail("ScheduleKeyDeletion", requestParameters={"keyId": APP_ID, "pendingWindowInDays": "7"})
    assert parse_event(raw).pending_window_days == 7


def test_given_schedule_key_deletion_without_key_state_when_parsed_then_it_is_taken_as_pending_deletion() -> None:
    raw = cloudtrail(
        "ScheduleKeyDeletion",
        requestParameters={"keyId": APP_ID},
        responseElements={"keyId": APP_ARN, "deletionDate": "Apr 12, 2021 18:58:30 PM"},
    )
    assert parse_event(raw).reported_key_state == "PendingDeletion"


# --- awsRegion vs the key ARN ---------------------------------------------------------------------


def test_given_the_sample_whose_aws_region_differs_from_the_arn_when_parsed_then_the_arn_region_wins() -> None:
    raw = load_event("schedule_key_deletion")
    assert raw["detail"]["awsRegion"] == "us-west-2"
    event = parse_event(raw)
    assert event.region == "us-east-1"
    assert event.key_arn.split(":")[3] == "us-east-1"
    assert event.event_region == "us-west-2"


def test_given_a_bare_key_id_and_a_resource_arn_in_another_region_when_parsed_then_the_arn_wins() -> None:
    eu_arn = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{APP_ID}"
    raw = cloudtrail(
        "DisableKey",
        awsRegion="us-west-2",
        requestParameters={"keyId": APP_ID},
        resources=[{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": eu_arn}],
    )
    event = parse_event(raw)
    assert (event.key_arn, event.region, event.event_region) == (eu_arn, "eu-west-1", "us-west-2")


def test_given_a_key_arn_only_in_response_elements_when_parsed_then_that_arn_is_used() -> None:
    raw = cloudtrail(
        "CancelKeyDeletion",
        awsRegion="us-west-2",
        requestParameters={"keyId": APP_ID},
        responseElements={"keyId": APP_ARN},
        resources=None,
    )
    event = parse_event(raw)
    assert (event.key_arn, event.region) == (APP_ARN, REGION)


# --- multi-Region ------------------------------------------------------------------------------------


def test_given_a_multi_region_primary_with_replicas_when_deletion_scheduled_then_replica_deletion_no_date() -> None:
    raw = load_event("schedule_key_deletion_multi_region")
    assert "deletionDate" not in raw["detail"]["responseElements"]
    event = parse_event(raw)
    assert event.reported_key_state == "PendingReplicaDeletion"
    assert event.deletion_date is None
    assert event.pending_window_days == 7
    assert event.key_arn == MRK_ARN


def test_given_a_multi_region_replica_event_when_parsed_then_the_replica_arn_keeps_its_own_region() -> None:
    mrk = "mrk-1234abcd12ab34cd56ef1234567890ab"
    replica = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{mrk}"
    raw = cloudtrail(
        "DisableKey",
        awsRegion="eu-west-1",
        requestParameters={"keyId": mrk},
        resources=[{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": replica}],
    )
    event = parse_event(raw)
    assert (event.key_arn, event.region) == (replica, "eu-west-1")


# --- failed calls -------------------------------------------------------------------------------------


def test_given_a_failed_call_when_parsed_then_error_code_and_message_are_kept_and_no_state_is_claimed() -> None:
    event = parse_event(load_event("disable_key_failed"))
    assert event.error_code == "AccessDeniedException"
    assert "not authorized" in event.error_message
    assert event.reported_key_state is None  # the call changed nothing


def test_given_a_failed_call_naming_no_valid_key_when_parsed_then_it_still_parses() -> None:
    raw = cloudtrail(
        "ScheduleKeyDeletion",
        requestParameters={"keyId": "not-a-key", "pendingWindowInDays": 7},
        resources=None,
        errorCode="NotFoundException",
        errorMessage="Invalid keyId not-a-key",
    )
    event = parse_event(raw)
    assert (event.error_code, event.key_arn) == ("NotFoundException", None)


# --- native KMS events --------------------------------------------------------------------------------


def test_given_a_native_cmk_deletion_when_parsed_then_the_key_arn_comes_from_the_envelope_resources() -> None:
    raw = load_event("kms_cmk_deletion")
    assert set(raw["detail"]) == {"key-id"}
    event = parse_event(raw)
    assert event.kind == "native"
    assert event.event_id == raw["id"]  # native events are identified by the EventBridge id
    assert event.key_arn == LEGACY_ARN
    assert event.reported_key_state == "Deleted"
    assert event.actor.invoked_by == "kms.amazonaws.com"
    assert event.event_time == datetime.fromisoformat(raw["time"].replace("Z", "+00:00"))


def test_given_a_native_key_material_expiration_when_parsed_then_the_key_is_pending_import() -> None:
    event = parse_event(load_event("kms_imported_key_material_expiration"))
    assert (event.event_name, event.key_arn, event.reported_key_state) == (
        "KMS Imported Key Material Expiration",
        IMPORTED_ARN,
        "PendingImport",
    )


def test_given_a_native_event_in_another_account_when_parsed_then_account_and_region_come_from_the_arn() -> None:
    arn = f"arn:aws:kms:eu-central-1:444455556666:key/{APP_ID}"
    event = parse_event(native("KMS CMK Deletion", APP_ID, [arn], account=ACCOUNT, region=REGION))
    assert (event.key_arn, event.account, event.region) == (arn, "444455556666", "eu-central-1")


def test_given_a_native_event_with_no_resources_when_parsed_then_the_arn_is_formed_from_key_id_account_region() -> None:
    event = parse_event(native("KMS CMK Deletion", APP_ID, []))
    assert event.key_arn == APP_ARN


def test_given_a_native_rotation_event_when_parsed_then_it_parses_under_its_own_name() -> None:
    event = parse_event(native("KMS CMK Rotation", APP_ID, [APP_ARN]))
    assert (event.event_name, event.kind, event.reported_key_state) == ("KMS CMK Rotation", "native", None)


# --- envelopes as SQS delivers them -------------------------------------------------------------------


def test_given_a_cloudtrail_envelope_without_account_when_parsed_then_it_parses_the_same() -> None:
    raw = load_event("disable_key")
    del raw["account"]
    event = parse_event(raw)
    assert (event.key_arn, event.account) == (APP_ARN, ACCOUNT)


def test_given_a_native_envelope_without_account_when_parsed_then_the_key_still_comes_from_resources() -> None:
    raw = load_event("kms_cmk_deletion")
    del raw["account"]
    event = parse_event(raw)
    assert (event.key_arn, event.account) == (LEGACY_ARN, ACCOUNT)


def test_given_a_bare_key_id_and_no_resources_when_parsed_then_the_arn_uses_recipient_account_and_aws_region() -> None:
    raw = cloudtrail(
        "DisableKey",
        awsRegion="eu-west-1",
        requestParameters={"keyId": APP_ID},
        resources=None,
        recipientAccountId="444455556666",
    )
    del raw["account"]
    event = parse_event(raw)
    assert event.key_arn == f"arn:aws:kms:eu-west-1:444455556666:key/{APP_ID}"
    assert (event.account, event.region) == ("444455556666", "eu-west-1")


def test_given_a_bare_key_id_in_a_china_region_when_parsed_then_the_arn_is_in_the_aws_cn_partition() -> None:
    raw = cloudtrail("DisableKey", awsRegion="cn-north-1", requestParameters={"keyId": APP_ID}, resources=None)
    assert parse_event(raw).key_arn == f"arn:aws-cn:kms:cn-north-1:{ACCOUNT}:key/{APP_ID}"


def test_given_an_event_without_event_time_when_parsed_then_the_envelope_time_is_used() -> None:
    raw = cloudtrail("DisableKey")
    del raw["detail"]["eventTime"]
    assert parse_event(raw).event_time == datetime(2027, 3, 1, 8, 0, 1, tzinfo=UTC)


# --- what is not a KMS event ------------------------------------------------------------------------


def test_given_a_cloudtrail_event_from_another_service_when_parsed_then_it_names_no_kms_key() -> None:
    raw = cloudtrail("DisableKey", eventSource="ec2.amazonaws.com")
    event = parse_event(raw)
    assert event.key_arn is None
    assert event.event_name != "DisableKey"


def test_given_an_event_from_another_source_when_parsed_then_it_names_no_kms_key() -> None:
    raw = cloudtrail("DisableKey")
    raw["source"] = "aws.ec2"
    event = parse_event(raw)
    assert event.key_arn is None and event.event_name != "DisableKey"


def test_given_an_unwatched_kms_call_when_parsed_then_it_parses_under_its_own_name() -> None:
    event = parse_event(cloudtrail("CreateGrant"))
    assert (event.event_name, event.key_arn) == ("CreateGrant", APP_ARN)


# --- malformed envelopes ------------------------------------------------------------------------------


def _without(path: str) -> Any:
    def mutate(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = raw
        for part in parents:
            node = node[part]
        del node[last]

    return mutate


def _set(path: str, value: Any) -> Any:
    def mutate(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = raw
        for part in parents:
            node = node[part]
        node[last] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (_without("detail"), "detail"),
        (_without("detail-type"), "detail-type"),
        (_without("id"), "id"),
        (_without("source"), "source"),
        (_without("time"), "time"),
        (_set("detail", "DisableKey"), "detail"),
        (_set("detail", None), "detail"),
        (_set("time", "yesterday"), "time"),
        (_set("resources", "arn"), "resources"),
        (_without("detail.eventID"), "detail.eventID"),
        (_without("detail.eventName"), "detail.eventName"),
        (_set("detail.eventID", ""), "detail.eventID"),
        (_set("detail.eventTime", "not a time"), "detail.eventTime"),
        (_set("detail.requestParameters", "keyId=x"), "detail.requestParameters"),
        (_set("detail.resources", {"ARN": APP_ARN}), "detail.resources"),
    ],
)
def test_given_a_malformed_envelope_when_parsed_then_invalid_event_with_one_line_naming_the_field(
    mutate: Any, where: str
) -> None:
    raw = copy.deepcopy(load_event("disable_key"))
    mutate(raw)
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(where)


@pytest.mark.parametrize("raw", [[], [load_event("disable_key")], "DisableKey", None, 42])
def test_given_something_that_is_not_an_object_when_parsed_then_invalid_event(raw: Any) -> None:
    with pytest.raises(InvalidEvent, match="JSON object"):
        parse_event(raw)


def test_given_an_envelope_level_problem_when_only_the_envelope_is_checked_then_it_is_caught_there() -> None:
    raw = load_event("disable_key")
    del raw["detail-type"]
    with pytest.raises(InvalidEvent, match="detail-type"):
        parse_envelope(raw)


# --- event files --------------------------------------------------------------------------------------


def test_given_a_sample_file_when_loaded_then_it_is_the_same_dict_json_gives() -> None:
    path = next(EVENTS.glob("01_*.json"))
    assert load_event_file(path.read_text()) == json.loads(path.read_text())


def test_given_invalid_json_when_loaded_then_one_line_with_line_and_column() -> None:
    with pytest.raises(InvalidEvent) as caught:
        load_event_file('{"id": "x",\n  "detail": }')
    message = str(caught.value)
    assert "not valid JSON" in message and "line 2" in message and "\n" not in message


@pytest.mark.parametrize("text", ["[]", '"event"', "3", "null"])
def test_given_json_that_is_not_an_object_when_loaded_then_invalid_event(text: str) -> None:
    with pytest.raises(InvalidEvent, match="JSON object"):
        load_event_file(text)


def test_given_every_sample_file_when_loaded_and_parsed_then_none_fails() -> None:
    for path in sorted(Path(EVENTS).glob("*.json")):
        assert parse_event(load_event_file(path.read_text())).event_id
