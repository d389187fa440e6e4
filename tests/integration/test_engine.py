"""The watchdog on moto: pagination, deleted keys, other accounts, and the SNS alert as a subscriber sees it."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from keywatch.cli.simulator import HOME_ACCOUNT, HOME_REGION
from keywatch.config import Settings
from keywatch.models import Outcome, Severity
from keywatch.parse import parse_event
from keywatch.runtime import build_watchdog

ACCOUNT = "111122223333"
PARTNER = "444455556666"
REGION = "us-east-1"
APP_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
APP_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{APP_ID}"
OTHER_ID = "0987dcba-09fe-87dc-65ba-ab0987654321"
LEGACY_ID = "4c5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e7f"
LEGACY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{LEGACY_ID}"
UNUSED_ID = "9f8e7d6c-5b4a-4392-8a1b-0c9d8e7f6a5b"


def small_fleet() -> dict[str, Any]:
    """Two accounts: the key owner with its own file systems, and a partner using the shared key by ARN."""
    return {
        "accounts": [
            {
                "id": ACCOUNT,
                "regions": {
                    REGION: {
                        "keys": [
                            {"id": APP_ID, "aliases": ["alias/app"]},
                            {"id": OTHER_ID},
                            {"id": LEGACY_ID},
                            {"id": UNUSED_ID},
                        ],
                        "file_systems": [
                            {"name": "app-shared", "key": "alias/app"},
                            {"name": "app-home", "key": APP_ID},
                            {"name": "billing", "key": OTHER_ID},
                            {"name": "legacy-archive", "key": LEGACY_ID},
                            {"name": "scratch", "encrypted": False},
                        ],
                    }
                },
            },
            {"id": PARTNER, "regions": {REGION: {"file_systems": [{"name": "partner-share", "key": APP_ARN}]}}},
        ]
    }


def watchdog_for(estate: Any, accounts: list[str] | None = None) -> Any:
    settings = Settings(topic_arn=estate.topic_arn, accounts=accounts or estate.fleet.account_ids)
    return build_watchdog(settings, estate.clients)


def handled(estate: Any, watchdog: Any, raw: dict[str, Any]) -> Any:
    """Apply the event to the estate as AWS already has, then count only the calls the watchdog makes."""
    event = parse_event(raw)
    estate.apply(event)
    estate.clients.calls.clear()
    return watchdog.handle_event(event)


def names(result: Any) -> list[str]:
    return sorted(fs.name for fs in result.affected)


def fs_id(estate: Any, account: str, name: str) -> str:
    return estate.file_system_ids[(account, REGION, name)]


# --- pagination ---------------------------------------------------------------------------------------


def test_given_250_file_systems_when_a_key_used_by_40_is_disabled_then_all_40_found_in_3_pages(
    make_estate: Callable[..., Any], event: Callable[[str], dict[str, Any]]
) -> None:
    on_key = {i for i in range(250) if i % 6 == 0 and i < 240}  # 40 of them, spread over every page
    systems = []
    for i in range(250):
        if i in on_key:
            systems.append({"name": f"fs-{i:03d}", "key": APP_ID})
        elif i % 5 == 0:
            systems.append({"name": f"fs-{i:03d}", "key": OTHER_ID})
        else:
            systems.append({"name": f"fs-{i:03d}", "encrypted": False})
    estate = make_estate(
        {
            "accounts": [
                {
                    "id": ACCOUNT,
                    "regions": {REGION: {"keys": [{"id": APP_ID}, {"id": OTHER_ID}], "file_systems": systems}},
                }
            ]
        }
    )
    watchdog = watchdog_for(estate)

    result = handled(estate, watchdog, event("disable_key"))

    assert len(on_key) == 40
    assert (result.outcome, result.severity) == (Outcome.ALERT, Severity.HIGH)
    assert {fs.file_system_id for fs in result.affected} == {fs_id(estate, ACCOUNT, f"fs-{i:03d}") for i in on_key}
    assert watchdog.clients.calls["efs:DescribeFileSystems"] == math.ceil(250 / 100) == 3
    assert watchdog.clients.calls["efs:DescribeMountTargets"] == 0  # notify mode reads nothing per file system


# --- key states read from KMS -----------------------------------------------------------------------------


def test_given_a_key_that_kms_no_longer_has_when_handled_then_state_deleted_and_critical(
    make_estate: Callable[..., Any], event: Callable[[str], dict[str, Any]]
) -> None:
    estate = make_estate(small_fleet())
    watchdog = watchdog_for(estate)

    result = handled(estate, watchdog, event("kms_cmk_deletion"))

    assert result.key_state == "Deleted"
    assert (result.outcome, result.severity) == (Outcome.ALERT, Severity.CRITICAL)
    assert names(result) == ["legacy-archive"]
    assert watchdog.clients.calls["kms:DescribeKey"] == 1
    assert watchdog.clients.calls["kms:ListAliases"] == 0  # nothing to list for a key that is gone


def test_given_a_deleted_key_when_an_older_disable_event_arrives_late_then_the_live_state_wins(
    make_estate: Callable[..., Any], event: Callable[[str], dict[str, Any]]
) -> None:
    estate = make_estate(small_fleet())
    watchdog = watchdog_for(estate)
    estate.apply(parse_event(event("kms_cmk_deletion")))
    late = copy.deepcopy(event("disable_key"))
    late["detail"]["requestParameters"]["keyId"] = LEGACY_ID
    late["detail"]["resources"][0]["ARN"] = LEGACY_ARN
    estate.clients.calls.clear()

    result = watchdog.handle_event(parse_event(late))

    assert (result.key_state, result.outcome, result.severity) == ("Deleted", Outcome.ALERT, Severity.CRITICAL)


def test_given_a_multi_region_primary_pending_replica_deletion_when_handled_then_critical(
    make_estate: Callable[..., Any], event: Callable[[str], dict[str, Any]]
) -> None:
    mrk = "mrk-1234abcd12ab34cd56ef1234567890ab"
    estate = make_estate(
        {
            "accounts": [
                {
                    "id": ACCOUNT,
                    "regions": {
                        REGION: {
                            "keys": [{"id": mrk, "multi_region": True}],
                            "file_systems": [{"name": "media", "key": mrk}],
                        }
                    },
                }
            ]
        }
    )

    result = handled(estate, watchdog_for(estate), event("schedule_key_deletion_multi_region"))

    assert (result.key_state, result.outcome, result.severity) == (
        "PendingReplicaDeletion",
        Outcome.ALERT,
        Severity.CRITICAL,
    )
    assert names(result) == ["media"]


def test_given_cancel_key_deletion_when_handled_then_the_key_is_disabled_and_it_is_still_a_high_alert(
    make_estate: Callable[..., Any], event: Callable[[str], dict[str, Any]]
) -> None:
    estate = make_estate(small_fleet())
    watchdog = watchdog_for(estate)
    handled(estate, watchdog, event("schedule_key_deletion"))

    result = handled(estate, watchdog, event("cancel_key_deletion"))

    assert (result.key_state, result.outcome, result.severity) == ("Disabled", Outcome.ALERT, Severity.HIGH)
    assert names(result) == ["billing"]


# --- other accounts -----------------------------------------------------------------------------------


def test_given_a_partner_file_system_on_our_key_when_the_key_is_disabled_then_it_is_found_in_its_own_account(
    make_estate: Callable[..., Any], event: Callable[[str], dict[str, Any]]
) -> None:
    estate = make_estate(small_fleet())
    watchdog = watchdog_for(estate, [ACCOUNT, PARTNER])

    result = handled(estate, watchdog, event("disable_key"))

    assert names(result) == ["app-home", "app-shared", "partner-share"]
    partner = next(fs for fs in result.affected if fs.name == "partner-share")
    assert (partner.account, partner.region, partner.file_system_id) == (
        PARTNER,
        REGION,
        fs_id(estate, PARTNER, "partner-share"),
    )
    assert watchdog.clients.calls["efs:DescribeFileSystems"] == 2  # one page in each account


def test_given_the_partner_account_is_not_configured_when_the_key_is_disabled_then_only_our_file_systems(
    make_estate: Callable[..., Any], event: Callable[[str], dict[str, Any]]
) -> None:
    estate = make_estate(small_fleet())

    result = handled(estate, watchdog_for(estate, [ACCOUNT]), event("disable_key"))

    assert names(result) == ["app-home", "app-shared"]


def test_given_a_file_system_whose_key_is_stored_as_an_alias_when_the_key_is_disabled_then_it_is_found(
    make_estate: Callable[..., Any], event: Callable[[str], dict[str, Any]]
) -> None:
    estate = make_estate(small_fleet())
    efs = estate.clients.client("efs", ACCOUNT, REGION, "write")
    created = efs.create_file_system(
        CreationToken="by-alias", Encrypted=True, KmsKeyId="alias/app", Tags=[{"Key": "Name", "Value": "by-alias"}]
    )
    watchdog = watchdog_for(estate, [ACCOUNT])

    result = handled(estate, watchdog, event("disable_key"))

    assert "by-alias" in names(result)
    assert created["FileSystemId"] in {fs.file_system_id for fs in result.affected}


# --- the SNS alert, as a subscribed SQS queue receives it ---------------------------------------------


@pytest.fixture
def subscriber(make_estate: Callable[..., Any]) -> Callable[[Any], Callable[[], list[dict[str, Any]]]]:
    """Subscribe an SQS queue (raw delivery off) to the estate's topic; return a reader of its messages."""

    def subscribe(estate: Any) -> Callable[[], list[dict[str, Any]]]:
        sqs = estate.clients.home_client("sqs", HOME_REGION)
        url = sqs.create_queue(QueueName="keywatch-alerts-test")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns = estate.clients.home_client("sns", HOME_REGION)
        sns.subscribe(
            TopicArn=estate.topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "false"}
        )

        def read() -> list[dict[str, Any]]:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            return [json.loads(m["Body"]) for m in got]

        return read

    return subscribe


def test_given_a_subscribed_queue_when_a_key_is_disabled_then_one_readable_alert_with_filterable_attributes(
    make_estate: Callable[..., Any], event: Callable[[str], dict[str, Any]], subscriber: Any
) -> None:
    estate = make_estate(small_fleet())
    read = subscriber(estate)

    result = handled(estate, watchdog_for(estate), event("disable_key"))

    assert [(n.channel, n.status) for n in result.notifications if n.channel == "sns"] == [("sns", "sent")]
    [envelope] = read()
    assert envelope["Type"] == "Notification" and envelope["TopicArn"] == estate.topic_arn
    assert estate.topic_arn.split(":")[3:5] == [HOME_REGION, HOME_ACCOUNT]
    subject = envelope["Subject"]
    assert subject.isascii() and "\n" not in subject and len(subject) < 100
    assert "HIGH" in subject and "disabled" in subject and "3 EFS file systems" in subject
    attributes = {name: value["Value"] for name, value in envelope["MessageAttributes"].items()}
    assert attributes["severity"] == "high"
    assert attributes["event_name"] == "DisableKey"
    assert attributes["account"] == ACCOUNT
    message = envelope["Message"]
    assert "e1f2a3b4-0001-4c5d-8e9f-0a1b2c3d4e5f" in message  # the event
    assert "DisableKey" in message
    assert APP_ARN in message  # the key
    for name in ("app-shared", "app-home", "partner-share"):  # the file systems
        assert name in message


def test_given_a_subscribed_queue_when_a_key_is_disabled_then_the_message_names_the_actor_and_the_time(
    make_estate: Callable[..., Any], event: Callable[[str], dict[str, Any]], subscriber: Any
) -> None:
    estate = make_estate(small_fleet())
    read = subscriber(estate)

    handled(estate, watchdog_for(estate), event("disable_key"))

    [envelope] = read()
    assert "arn:aws:sts::111122223333:assumed-role/Admin/alice" in envelope["Message"]
    assert "2026-11-28" in envelope["Message"] and "09:15:42" in envelope["Message"]


def test_given_an_alert_when_published_then_the_text_for_people_names_event_actor_time_key_and_file_systems(
    make_estate: Callable[..., Any], event: Callable[[str], dict[str, Any]]
) -> None:
    estate = make_estate(small_fleet())
    published: list[dict[str, Any]] = []
    sns = estate.clients.home_client("sns", HOME_REGION)  # the cached client the publisher uses
    sns.meta.events.register(
        "provide-client-params.sns.Publish", lambda params, **_: published.append(copy.deepcopy(params))
    )

    handled(estate, watchdog_for(estate), event("disable_key"))

    [params] = published
    variants = json.loads(params["Message"])
    assert params["MessageStructure"] == "json"
    text = variants["default"]
    assert variants["email"] == text
    assert "DisableKey (e1f2a3b4-0001-4c5d-8e9f-0a1b2c3d4e5f)" in text
    assert "arn:aws:sts::111122223333:assumed-role/Admin/alice" in text
    assert "2026-11-28 09:15:42 UTC" in text
    assert APP_ARN in text and "alias/app" in text
    for name in ("app-shared", "app-home", "partner-share"):
        assert name in text


def test_given_ignored_events_when_handled_then_nothing_is_published(
    make_estate: Callable[..., Any], event: Callable[[str], dict[str, Any]], subscriber: Any
) -> None:
    estate = make_estate(small_fleet())
    read = subscriber(estate)
    watchdog = watchdog_for(estate)

    for sample in ("disable_key_failed", "disable_unused_key", "retire_grant_by_efs", "put_key_policy"):
        result = handled(estate, watchdog, event(sample))

        assert (result.outcome, result.affected) == (Outcome.IGNORED, []), sample
        assert watchdog.clients.calls["sns:Publish"] == 0, sample
        assert read() == [], sample


def test_given_the_same_event_twice_when_handled_then_the_second_is_a_duplicate_and_one_alert_goes_out(
    make_estate: Callable[..., Any], event: Callable[[str], dict[str, Any]], subscriber: Any
) -> None:
    estate = make_estate(small_fleet())
    read = subscriber(estate)
    watchdog = watchdog_for(estate)
    first = handled(estate, watchdog, event("disable_key"))

    again = watchdog.handle_event(parse_event(event("disable_key")))

    assert (first.outcome, again.outcome) == (Outcome.ALERT, Outcome.DUPLICATE)
    assert again.notifications == [] and again.actions == []
    assert len(read()) == 1


def test_given_the_key_is_enabled_again_when_handled_then_resolved_is_published_with_info_severity(
    make_estate: Callable[..., Any], event: Callable[[str], dict[str, Any]], subscriber: Any
) -> None:
    estate = make_estate(small_fleet())
    read = subscriber(estate)
    watchdog = watchdog_for(estate)
    handled(estate, watchdog, event("disable_key"))

    result = handled(estate, watchdog, event("enable_key"))

    assert (result.outcome, result.severity, result.key_state) == (Outcome.RESOLVED, Severity.INFO, "Enabled")
    envelopes = read()
    assert len(envelopes) == 2
    resolved = next(e for e in envelopes if e["MessageAttributes"]["event_name"]["Value"] == "EnableKey")
    assert resolved["MessageAttributes"]["severity"]["Value"] == "info"
    assert "RESOLVED" in resolved["Subject"]
