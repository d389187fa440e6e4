"""Every CloudTrail record shape of DESIGN.md §5, built from the examples AWS documents, parses. Pure.

The records follow the AWS KMS developer guide's "Examples of AWS KMS log entries" (ct-disablekey,
ct-retire-grant, ct-revoke-grant, ct-importkeymaterial, ct-deleteimportedkeymaterial, ct-delete-key,
ct-deleteexpiredkeymaterial, ct-put-key-policy, ...) and the EFS user guide's CloudTrail page (calls
EFS makes from an AWS-owned account). Each test names the shape it proves.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from keywatch.models import KeyState
from keywatch.parse import NEW_KEY_MATERIAL, parse_event

ACCOUNT = "111122223333"
REGION = "us-west-2"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"
MATERIAL = "123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"
ALICE = {
    "type": "IAMUser",
    "principalId": "EX_PRINCIPAL_ID",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/Alice",
    "accountId": ACCOUNT,
    "accessKeyId": "EXAMPLE_KEY_ID",
    "userName": "Alice",
}


def documented(event_name: str, **fields: Any) -> dict[str, Any]:
    """A record shaped like the AWS KMS developer guide's example for ``event_name``, in its envelope."""
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": copy.deepcopy(ALICE),
        "eventTime": "2022-09-01T19:39:33Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": event_name,
        "awsRegion": REGION,
        "sourceIPAddress": "192.0.2.0",
        "userAgent": "AWS Internal",
        "requestParameters": {"keyId": KEY_ID},
        "responseElements": None,
        "requestID": "1d274d57-5697-462c-a004-f25fcc29fa26",
        "eventID": f"0771bcfb-{event_name}",
        "readOnly": False,
        "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY_ARN}],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }
    detail_type = fields.pop("detail_type", "AWS API Call via CloudTrail")
    record.update(fields)
    return {
        "version": "0",
        "id": f"envelope-{event_name}",
        "detail-type": detail_type,
        "source": "aws.kms",
        "account": ACCOUNT,
        "time": "2022-09-01T19:39:40Z",
        "region": REGION,
        "resources": [],
        "detail": record,
    }


def test_given_a_record_since_december_2022_when_parsed_then_the_key_arn_comes_from_response_elements() -> None:
    raw = documented("DisableKey", responseElements={"keyId": KEY_ARN}, resources=None)
    event = parse_event(raw)
    assert (event.key_arn, event.key_ref) == (KEY_ARN, KEY_ARN)
    assert event.reported_key_state == KeyState.DISABLED


def test_given_an_older_record_with_null_response_elements_when_parsed_then_the_arn_comes_from_resources() -> None:
    event = parse_event(documented("EnableKey", responseElements=None))
    assert (event.key_arn, event.reported_key_state) == (KEY_ARN, KeyState.ENABLED)


def test_given_older_resources_entries_with_no_type_when_parsed_then_the_arn_is_still_found() -> None:
    raw = documented("DisableKey", resources=[{"accountId": ACCOUNT, "ARN": KEY_ARN}])
    assert parse_event(raw).key_arn == KEY_ARN


def test_given_resources_null_and_a_bare_key_id_when_parsed_then_the_arn_is_formed_from_account_and_region() -> None:
    raw = documented("DisableKey", resources=None)
    assert parse_event(raw).key_arn == KEY_ARN


def test_given_resources_null_and_no_resources_key_at_all_when_parsed_then_both_read_the_same() -> None:
    with_null = documented("CancelKeyDeletion", resources=None, responseElements={"keyId": KEY_ARN})
    without = copy.deepcopy(with_null)
    del without["detail"]["resources"]
    assert parse_event(with_null) == parse_event(without)


def test_given_retire_grant_with_null_request_parameters_when_parsed_then_grant_from_additional_event_data() -> None:
    grant = "abcde1237f76e4ba7987489ac329fbfba6ad343d6f7075dbd1ef191f0120514a"
    raw = documented("RetireGrant", requestParameters=None, additionalEventData={"grantId": grant})
    event = parse_event(raw)
    assert (event.key_arn, event.grant_id, event.reported_key_state) == (KEY_ARN, grant, None)


def test_given_revoke_grant_when_parsed_then_the_grant_comes_from_request_parameters() -> None:
    grant = "abcde1237f76e4ba7987489ac329fbfba6ad343d6f7075dbd1ef191f0120514a"
    event = parse_event(documented("RevokeGrant", requestParameters={"keyId": KEY_ID, "grantId": grant}))
    assert (event.key_arn, event.grant_id) == (KEY_ARN, grant)


def test_given_a_2025_delete_imported_key_material_with_key_material_id_when_parsed_then_pending_import() -> None:
    raw = documented(
        "DeleteImportedKeyMaterial",
        eventVersion="1.11",
        requestParameters={"keyId": KEY_ID, "keyMaterialId": MATERIAL},
        responseElements={"keyId": KEY_ARN, "keyMaterialId": MATERIAL},
    )
    event = parse_event(raw)
    assert (event.key_arn, event.reported_key_state) == (KEY_ARN, KeyState.PENDING_IMPORT)


def test_given_a_2025_import_of_new_key_material_when_parsed_then_its_import_type_is_kept() -> None:
    raw = documented(
        "ImportKeyMaterial",
        eventVersion="1.11",
        requestParameters={
            "keyId": KEY_ID,
            "validTo": "May 21, 2025, 5:47:45 AM",  # not ISO
            "expirationModel": "KEY_MATERIAL_EXPIRES",
            "importType": "NEW_KEY_MATERIAL",
            "keyMaterialDescription": "ExampleKeyMaterialA",
        },
        responseElements={"keyId": KEY_ARN, "keyMaterialId": MATERIAL},
    )
    event = parse_event(raw)
    assert (event.key_arn, event.import_type, event.reported_key_state) == (
        KEY_ARN,
        NEW_KEY_MATERIAL,
        KeyState.ENABLED,
    )


def test_given_an_older_import_with_no_import_type_when_parsed_then_the_import_type_is_unknown() -> None:
    raw = documented("ImportKeyMaterial", requestParameters={"keyId": KEY_ID, "validTo": "Nov 28, 2027 1:40:00 PM"})
    assert parse_event(raw).import_type is None


@pytest.mark.parametrize("valid_to", ["May 21, 2025, 5:47:45 AM", "2025-05-21T05:47:45Z", 1747806465, "soon", None])
def test_given_any_valid_to_when_parsed_then_the_import_still_parses(valid_to: Any) -> None:
    raw = documented("ImportKeyMaterial", requestParameters={"keyId": KEY_ID, "validTo": valid_to})
    assert parse_event(raw).key_arn == KEY_ARN


def test_given_a_schedule_key_deletion_whose_aws_region_differs_from_the_arn_when_parsed_then_the_arn_wins() -> None:
    raw = documented(
        "ScheduleKeyDeletion",
        awsRegion="us-east-1",
        requestParameters={"keyId": KEY_ID, "pendingWindowInDays": 30},
        responseElements={
            "keyId": KEY_ARN,
            "deletionDate": "Apr 12, 2021 18:58:30 PM",
            "keyState": "PendingDeletion",
            "pendingWindowInDays": 30,
        },
    )
    event = parse_event(raw)
    assert (event.key_arn, event.region, event.event_region) == (KEY_ARN, REGION, "us-east-1")
    assert event.deletion_date == datetime(2021, 4, 12, 18, 58, 30, tzinfo=UTC)


def test_given_a_put_key_policy_record_when_parsed_then_the_pretty_printed_policy_is_kept_verbatim() -> None:
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [
                {
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        },
        indent=2,
    )
    raw = documented(
        "PutKeyPolicy",
        requestParameters={
            "keyId": KEY_ID,
            "policyName": "default",
            "policy": policy,
            "bypassPolicyLockoutSafetyCheck": False,
        },
    )
    assert parse_event(raw).policy_document == policy


@pytest.mark.parametrize("detail_type", ["AWS API Call via CloudTrail", "AWS Service Event via CloudTrail"])
@pytest.mark.parametrize("event_name", ["DeleteKey", "DeleteExpiredKeyMaterial"])
def test_given_a_kms_internal_service_event_when_parsed_then_it_reads_with_aws_internal_as_caller(
    event_name: str, detail_type: str
) -> None:
    raw = documented(
        event_name,
        detail_type=detail_type,
        userIdentity={"accountId": ACCOUNT, "invokedBy": "AWS Internal"},  # no type at all
        awsRegion="us-east-1",  # the documented DeleteKey example's awsRegion differs from its ARN's
        sourceIPAddress="AWS Internal",
        requestParameters=None,
        eventType="AwsServiceEvent",
    )
    event = parse_event(raw)
    assert (event.event_name, event.kind, event.key_arn) == (event_name, "cloudtrail", KEY_ARN)
    assert (event.actor.type, event.actor.invoked_by, event.actor.account) == (None, "AWS Internal", ACCOUNT)


def test_given_a_call_efs_made_from_its_aws_owned_account_when_parsed_then_the_callers_account_is_kept() -> None:
    raw = documented(
        "RetireGrant",
        awsRegion="eu-west-1",
        userIdentity={"type": "AWSAccount", "principalId": "AROAEXAMPLE:efs", "accountId": "805538244694"},
        sourceIPAddress="AWS Internal",
        requestParameters=None,
        additionalEventData={"grantId": "g-efs"},
        resources=[{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY_ARN.replace(REGION, "eu-west-1")}],
    )
    actor = parse_event(raw).actor
    assert (actor.type, actor.account, actor.invoked_by, actor.arn) == ("AWSAccount", "805538244694", None, None)


def test_given_a_failed_call_when_parsed_then_it_says_nothing_about_the_key_state() -> None:
    raw = documented("DisableKey", errorCode="KMSInvalidStateException", errorMessage="pending deletion")
    event = parse_event(raw)
    assert (event.error_code, event.reported_key_state) == ("KMSInvalidStateException", None)


@pytest.mark.parametrize(
    ("detail_type", "state"),
    [
        ("KMS CMK Deletion", KeyState.DELETED),
        ("KMS Imported Key Material Expiration", KeyState.PENDING_IMPORT),
        ("KMS CMK Rotation", None),
    ],
)
def test_given_a_native_event_when_parsed_then_the_key_comes_from_the_envelope_resources(
    detail_type: str, state: KeyState | None
) -> None:
    raw = {
        "version": "0",
        "id": "e9ce3425-7d22-412a-a699-e7a5fc3fbc9a",
        "detail-type": detail_type,
        "source": "aws.kms",
        "account": ACCOUNT,
        "time": "2019-06-09T23:51:11Z",
        "region": REGION,
        "resources": [KEY_ARN],
        "detail": {"key-id": KEY_ID},
    }
    event = parse_event(raw)
    assert (event.kind, event.event_name, event.key_arn, event.reported_key_state) == (
        "native",
        detail_type,
        KEY_ARN,
        state,
    )
