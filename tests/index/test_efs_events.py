"""EFS's own events keep the index current between sweeps: parsed at the edge, handled by the same engine (and the
real Lambda handler), each refreshing the file system's entry from a live read."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from index_support import KEY_ACCOUNT, KEY_ARN, REGION, USERS, disable_key, handle, new_container, organisation, sweep
from keywatch.adapters.index import DynamoKeyIndex
from keywatch.cli.simulator import HOME_ACCOUNT, IDEMPOTENCY_TABLE, INCIDENTS_TABLE, INDEX_TABLE, SIM_ROLE
from keywatch.efs_events import EfsEvent, ignored_because, parse_any
from keywatch.models import KeyEvent, Outcome
from keywatch.parse import InvalidEvent, parse_envelope
from support import EVENTS, FakeLambdaContext, load_event, load_function


def efs_event(name: str, account: str = USERS[0], **detail: Any) -> dict[str, Any]:
    """An EFS call in ``account``, shaped like events/16_create_file_system.json."""
    raw = copy.deepcopy(load_event("create_file_system"))
    raw["account"] = account
    raw["detail"].update(
        eventName=name,
        eventID=f"efs-{uuid.uuid4()}",
        recipientAccountId=account,
        requestParameters=detail.pop("request", None),
        responseElements=detail.pop("response", None),
        **detail,
    )
    return raw


def created(fs_id: str, key: str | None = KEY_ARN, name: str = "late-comer", **extra: Any) -> dict[str, Any]:
    response = {"fileSystemId": fs_id, "encrypted": key is not None, **({"kmsKeyId": key} if key else {})}
    request = {"creationToken": name, "encrypted": key is not None, "tags": [{"key": "Name", "value": name}]}
    if key:
        request["kmsKeyId"] = key
    return efs_event("CreateFileSystem", request=request, response=response, **extra)


def entries(estate: Any) -> dict[str, Any]:
    found, _ = DynamoKeyIndex(estate.clients, INDEX_TABLE, REGION).contents()
    return {e.file_system_id: e for e in found}


# --- parsed at the edge ----------------------------------------------------------------------------------------


def test_given_the_create_file_system_sample_when_parsed_then_where_which_and_what_it_asked_for() -> None:
    event = parse_any(load_event("create_file_system"))

    assert isinstance(event, EfsEvent)
    assert (event.event_name, event.account, event.region) == ("CreateFileSystem", "444455556666", "us-east-1")
    assert event.file_system_id == "fs-0a1b2c3d4e5f60718"
    assert event.kms_key_id == "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert event.tags == {"Name": "partner-reports"} and ignored_because(event) is None


def test_given_a_kms_event_when_parsed_then_it_is_still_a_key_event() -> None:
    assert isinstance(parse_any(load_event("disable_key")), KeyEvent)


@pytest.mark.parametrize(
    ("request_parameters", "expected"),
    [
        ({"resourceId": "fs-0123456789abcdef0"}, "fs-0123456789abcdef0"),
        (
            {"resourceId": "arn:aws:elasticfilesystem:us-east-1:210000000001:file-system/fs-0123456789abcdef0"},
            "fs-0123456789abcdef0",
        ),
        ({"resourceId": "fsap-0123456789abcdef0"}, None),  # an access point: nothing the index holds
        ({"resourceId": "fs-; DROP TABLE"}, None),
    ],
)
def test_given_a_tag_call_when_parsed_then_only_a_file_system_is_named(
    request_parameters: dict[str, Any], expected: str | None
) -> None:
    event = parse_any(efs_event("TagResource", request=request_parameters))

    assert isinstance(event, EfsEvent) and event.file_system_id == expected


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (efs_event("CreateFileSystem", errorCode="FileSystemAlreadyExists"), "failed (FileSystemAlreadyExists)"),
        (efs_event("PutLifecyclePolicy", request={"fileSystemId": "fs-0123456789abcdef0"}), "not an EFS call"),
        (efs_event("TagResource", request={"resourceId": "fsap-0123456789abcdef0"}), "names no EFS file system"),
        (efs_event("CreateFileSystem", eventSource="cloudhsm.amazonaws.com"), "not an EFS call"),
    ],
)
def test_given_an_efs_event_the_index_cannot_use_when_parsed_then_it_says_why(raw: dict[str, Any], why: str) -> None:
    event = parse_any(raw)

    assert isinstance(event, EfsEvent)
    assert why in (ignored_because(event) or "")


def test_given_an_envelope_whose_account_is_not_an_account_when_parsed_then_it_is_not_an_event() -> None:
    raw = efs_event("DeleteFileSystem", account="not-an-account", request={"fileSystemId": "fs-01234567"})
    with pytest.raises(InvalidEvent, match=r"^account:"):  # EventBridge always writes 12 digits: checked, not trusted
        parse_any(raw)


# --- handled by the engine, on a swept organisation ------------------------------------------------------------


@pytest.fixture
def swept(make_estate: Callable[..., Any]) -> Any:
    estate = make_estate(organisation(bystanders=1), index=False)
    assert sweep(estate).summary.errors == []
    return estate


def handle_efs(estate: Any, raw: dict[str, Any]) -> Any:
    return handle(estate, raw).result


def test_given_a_file_system_created_in_another_account_after_the_sweep_when_its_event_is_handled_then_found(
    swept: Any,
) -> None:
    fs_id = "fs-0123456789abcdef0"
    before = handle(swept, created(fs_id))  # the simulated estate creates it, as AWS has; then the engine reads it

    result = before.result
    assert (result.outcome, result.key_arn) == (Outcome.IGNORED, KEY_ARN.lower())
    assert f"The index now lists {fs_id} (late-comer) in {USERS[0]}/{REGION} on this key" in result.reason
    assert entries(swept)[fs_id].seen_by.startswith("CreateFileSystem ")
    assert before.calls["dynamodb:BatchWriteItem"] == 1 and before.calls["efs:DescribeFileSystems"] == 1

    after = handle(swept, disable_key())

    assert "late-comer" in after.names


def test_given_a_file_system_created_after_the_sweep_with_no_event_when_the_key_is_disabled_then_it_is_not_seen(
    swept: Any,
) -> None:
    """What the EFS events are for: without one, a file system created elsewhere waits for the next sweep."""
    efs = swept.clients.client("efs", USERS[0], REGION, "write")
    efs.create_file_system(CreationToken="quiet", Encrypted=True, KmsKeyId=KEY_ARN)

    assert len(handle(swept, disable_key()).names) == 7


def test_given_a_file_system_deleted_when_its_event_is_handled_then_its_entry_is_removed(swept: Any) -> None:
    fs_id = swept.file_system_ids[(USERS[1], REGION, "user1-a")]

    result = handle_efs(swept, efs_event("DeleteFileSystem", account=USERS[1], request={"fileSystemId": fs_id}))

    assert "1 entry removed from the index" in result.reason
    assert fs_id not in entries(swept)


def test_given_a_file_system_tagged_unmount_when_its_event_is_handled_then_the_index_holds_its_new_policy(
    swept: Any,
) -> None:
    fs_id = swept.file_system_ids[(USERS[0], REGION, "user0-a")]
    tags = [{"key": "keywatch:on-key-loss", "value": "unmount"}]

    handle_efs(swept, efs_event("TagResource", request={"resourceId": fs_id, "tags": tags}))

    assert entries(swept)[fs_id].policy.value == "unmount"
    handle_efs(swept, efs_event("UntagResource", request={"resourceId": fs_id, "tagKeys": ["keywatch:on-key-loss"]}))
    assert entries(swept)[fs_id].policy.value == "notify"


def test_given_a_mount_target_created_then_deleted_when_the_events_are_handled_then_the_count_follows(
    swept: Any,
) -> None:
    fs_id = swept.file_system_ids[(USERS[2], REGION, "user2-a")]

    handle_efs(swept, efs_event("CreateMountTarget", account=USERS[2], request={"fileSystemId": fs_id}))
    assert entries(swept)[fs_id].mount_targets == 1

    efs = swept.clients.client("efs", USERS[2], REGION)
    [target] = efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]
    request = {"mountTargetId": target["MountTargetId"]}
    result = handle_efs(swept, efs_event("DeleteMountTarget", account=USERS[2], request=request))

    # moto forgets a deleted mount target at once; AWS lists it as "deleting" for a while, which names the file system
    assert "is gone and no longer says which file system it served" in result.reason


def test_given_a_file_system_without_a_customer_key_when_created_then_nothing_is_indexed(swept: Any) -> None:
    result = handle_efs(swept, created("fs-0fedcba9876543210", key=None, name="plain-new"))

    assert "is not encrypted with a customer managed key: nothing to index" in result.reason
    assert "fs-0fedcba9876543210" not in entries(swept)


def test_given_no_index_when_an_efs_event_is_handled_then_nothing_changes_and_it_says_so(swept: Any) -> None:
    watchdog = new_container(swept, index_table=None)

    result = watchdog.handle(parse_envelope(created("fs-0123456789abcdef1")))

    assert result.outcome == Outcome.IGNORED and "No key-to-file-system index is configured" in result.reason


# --- the real Lambda handler, configured as the template deploys it ----------------------------------------------


def test_given_the_deployed_handler_when_an_efs_event_arrives_then_the_index_is_refreshed(
    swept: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "KEYWATCH_HOME_ACCOUNT": HOME_ACCOUNT,
        "KEYWATCH_TOPIC_ARN": swept.topic_arn,
        "KEYWATCH_READ_ROLE": SIM_ROLE,
        "KEYWATCH_WRITE_ROLE": SIM_ROLE,
        "KEYWATCH_INCIDENTS_TABLE": INCIDENTS_TABLE,
        "KEYWATCH_IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        "KEYWATCH_INDEX_TABLE": INDEX_TABLE,
        "KEYWATCH_SWEEP_SCHEDULE": "rate(6 hours)",
        "KEYWATCH_ACCOUNTS": "",  # organisation mode: no account list
    }.items():
        monkeypatch.setenv(name, value)
    module = load_function("key_events")
    module.watchdog.cache_clear()
    raw, disable = created("fs-0123456789abcdef2", name="via-lambda"), disable_key()
    swept.apply(parse_any(raw))  # AWS has made both calls by the time their events arrive
    swept.apply(parse_any(disable))

    try:
        report = module.lambda_handler(raw, FakeLambdaContext())
        alert = module.lambda_handler(disable, FakeLambdaContext(aws_request_id="2"))
    finally:
        module.watchdog.cache_clear()

    assert report["outcome"] == "ignored" and "via-lambda" in report["reason"]
    assert KEY_ACCOUNT in {fs["account"] for fs in alert["affected"]}
    assert "via-lambda" in {fs["name"] for fs in alert["affected"]}


def test_given_every_efs_sample_when_parsed_then_each_names_a_file_system_the_index_can_refresh() -> None:
    samples = {p.stem.split("_", 1)[1] for p in EVENTS.glob("*.json") if '"aws.elasticfilesystem"' in p.read_text()}

    assert samples == {"create_file_system", "tag_file_system", "delete_file_system"}
    for name in samples:
        event = parse_any(load_event(name))
        assert isinstance(event, EfsEvent) and ignored_because(event) is None, name
        assert event.file_system_id == "fs-0a1b2c3d4e5f60718", name


def test_given_an_index_never_swept_when_an_efs_event_named_a_file_system_then_a_key_event_still_finds_it(
    make_estate: Callable[..., Any],
) -> None:
    """Before the first sweep the event path lists the configured accounts, and still confirms what EFS events put
    in the index: here the account is not configured at all (organisation mode)."""
    estate = make_estate(organisation(bystanders=0), index=False)
    handle(estate, created("fs-0123456789abcdef3", name="early-bird"), accounts=[])

    handled = handle(estate, disable_key(), accounts=[])

    assert handled.names == ["central-home", "early-bird"]
    assert "holds no completed sweep of us-east-1 yet" in handled.result.reason
