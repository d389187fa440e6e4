"""Nothing lost: each fault, under at-least-once redelivery, ends with every step done exactly once.

The real handler, the template's environment (Mode enforce), a moto estate built with plain boto3;
faults only in moto's backends and in the local Slack server. End states are counted: Slack messages
taken, SNS messages delivered to a subscribed queue, the key's state, the mount targets, the records.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fault_support import (
    INCIDENTS,
    Deployed,
    Estate,
    Faults,
    cloudtrail,
    incidents_table_spec,
    table_not_found,
    throttling,
)
from notify.slack_support import FakeSlack, Reply

SLACK_TRIES = 4  # one request and slack-sdk's three retries of a 5xx (adapters/slack.py RetryPolicy)
BOTOCORE_ATTEMPTS = 9  # adapters/aws.py RETRY_CONFIG: max_attempts 8 is 8 retries after the first call


def schedule_deletion(estate: Estate, event_id: str = "evt-schedule-0001") -> dict[str, Any]:
    """ScheduleKeyDeletion on the key a ``protect`` file system uses, applied as AWS already has."""
    Estate.client("kms").schedule_key_deletion(KeyId=estate.protect_key.rsplit("/", 1)[-1], PendingWindowInDays=7)
    return cloudtrail(
        "ScheduleKeyDeletion",
        estate.protect_key,
        event_id,
        requestParameters={"keyId": estate.protect_key, "pendingWindowInDays": 7},
        responseElements={
            "keyId": estate.protect_key,
            "keyState": "PendingDeletion",
            "deletionDate": "Dec 5, 2026 10:02:11 AM",
        },
    )


def disable(estate: Estate, event_id: str = "evt-disable-0001") -> dict[str, Any]:
    """DisableKey on the key an ``unmount`` file system uses, applied as AWS already has."""
    Estate.client("kms").disable_key(KeyId=estate.unmount_key.rsplit("/", 1)[-1])
    return cloudtrail("DisableKey", estate.unmount_key, event_id)


def assert_alerted_once(estate: Estate, slack: FakeSlack) -> None:
    """Exactly one SNS message and one Slack message, whatever was retried."""
    assert len(estate.sns_messages()) == 1
    assert len(slack.delivered()) == 1


def assert_protected(estate: Estate) -> None:
    assert estate.key_state(estate.protect_key) == "Enabled"


def assert_unmounted(estate: Estate, before: set[str]) -> None:
    assert estate.mount_targets(estate.cut_fs) == []
    assert estate.recorded_mount_targets(estate.unmount_key, estate.cut_fs) == before


def live_ids(estate: Estate) -> set[str]:
    return {mt["MountTargetId"] for mt in estate.mount_targets(estate.cut_fs)}


# --- Slack answers 500 ------------------------------------------------------------------------------


def test_given_slack_answers_500_through_the_first_delivery_when_redelivered_then_one_post_and_one_sns(
    deployed: Deployed, estate: Estate, slack: FakeSlack
) -> None:
    slack.then(*[Reply(500, "internal_error")] * SLACK_TRIES)

    delivered = deployed.deliver(schedule_deletion(estate))

    assert len(delivered.failed) == 1 and "notification by slack" in str(delivered.failed[0])
    assert_alerted_once(estate, slack)
    assert_protected(estate)
    notes = {n["channel"]: n["status"] for n in delivered.report["notifications"]}
    assert notes == {"sns": "skipped", "slack": "sent"}  # SNS already went out on the first attempt


def test_given_slack_answers_500_once_when_delivered_then_slack_sdk_retries_and_the_invocation_succeeds(
    deployed: Deployed, estate: Estate, slack: FakeSlack
) -> None:
    slack.then(Reply(500, "internal_error"))

    delivered = deployed.deliver(schedule_deletion(estate))

    assert delivered.failed == []
    assert_alerted_once(estate, slack)


# --- SNS fails -----------------------------------------------------------------------------------------


def test_given_sns_publish_fails_once_when_redelivered_then_one_sns_message_and_one_post(
    deployed: Deployed, estate: Estate, slack: FakeSlack, faults: Faults, backends: dict[str, Any]
) -> None:
    from moto.sns.exceptions import SNSInvalidParameter

    faults.fail(backends["sns"], "publish", 1, lambda: SNSInvalidParameter("Invalid parameter: KMS key is disabled"))

    delivered = deployed.deliver(schedule_deletion(estate))

    assert len(delivered.failed) == 1 and "notification by sns" in str(delivered.failed[0])
    assert_alerted_once(estate, slack)
    assert_protected(estate)


def test_given_sns_has_a_passing_internal_error_when_delivered_then_botocore_absorbs_it(
    deployed: Deployed, estate: Estate, slack: FakeSlack, faults: Faults, backends: dict[str, Any]
) -> None:
    from moto.sns.exceptions import InternalError

    faults.fail(backends["sns"], "publish", 2, lambda: InternalError("Internal error"))

    delivered = deployed.deliver(schedule_deletion(estate))

    assert delivered.failed == [] and faults.raised["SNSBackend.publish"] == 2
    assert_alerted_once(estate, slack)


# --- KMS throttles CancelKeyDeletion -----------------------------------------------------------------


def test_given_kms_throttles_cancel_key_deletion_past_botocores_retries_when_redelivered_then_the_key_is_enabled(
    deployed: Deployed, estate: Estate, slack: FakeSlack, faults: Faults, backends: dict[str, Any]
) -> None:
    faults.fail(backends["kms"], "cancel_key_deletion", BOTOCORE_ATTEMPTS, throttling)

    delivered = deployed.deliver(schedule_deletion(estate))

    assert len(delivered.failed) == 1 and "cancel_key_deletion" in str(delivered.failed[0])
    assert_protected(estate)
    assert_alerted_once(estate, slack)
    actions = {a["type"]: a["status"] for a in delivered.report["actions"]}
    assert actions == {"cancel_key_deletion": "done", "enable_key": "done"}


def test_given_kms_throttles_a_few_times_when_delivered_then_botocore_absorbs_it_without_a_retry(
    deployed: Deployed, estate: Estate, slack: FakeSlack, faults: Faults, backends: dict[str, Any]
) -> None:
    faults.fail(backends["kms"], "cancel_key_deletion", 3, throttling)

    delivered = deployed.deliver(schedule_deletion(estate))

    assert delivered.failed == [] and faults.raised["KmsBackend.cancel_key_deletion"] == 3
    assert_protected(estate)
    assert_alerted_once(estate, slack)


def test_given_kms_keeps_throttling_through_every_retry_then_the_invocation_fails_each_time_for_the_dlq(
    deployed: Deployed, estate: Estate, slack: FakeSlack, faults: Faults, backends: dict[str, Any]
) -> None:
    faults.fail(backends["kms"], "cancel_key_deletion", 10**6, throttling)

    delivered = deployed.deliver(schedule_deletion(estate))

    assert len(delivered.failed) == 3  # Lambda then sends it to the OnFailure queue, which is alarmed
    assert estate.key_state(estate.protect_key) == "PendingDeletion"
    assert_alerted_once(estate, slack)  # the owners heard at once, and only once


# --- one DeleteMountTarget fails ---------------------------------------------------------------------


def test_given_one_delete_mount_target_fails_when_redelivered_then_none_are_left_and_all_are_recorded(
    deployed: Deployed, estate: Estate, slack: FakeSlack, faults: Faults, backends: dict[str, Any]
) -> None:
    from moto.efs.exceptions import EFSError

    before = live_ids(estate)
    faults.fail(backends["efs"], "delete_mount_target", 1, lambda: EFSError("IncorrectMountTargetState", "busy"))

    delivered = deployed.deliver(disable(estate))

    assert len(delivered.failed) == 1 and "delete_mount_targets" in str(delivered.failed[0])
    assert_unmounted(estate, before)
    assert_alerted_once(estate, slack)
    incident = estate.incident(estate.unmount_key)
    assert [a["M"]["status"]["S"] for a in incident["actions"]["L"]] == ["failed", "done"]


# --- the incidents table is down ----------------------------------------------------------------------


@pytest.mark.parametrize("container", ["warm", "cold"])
def test_given_the_incidents_table_is_down_when_handled_then_sns_goes_out_protect_runs_and_the_rest_is_retried(
    deployed: Deployed,
    estate: Estate,
    slack: FakeSlack,
    faults: Faults,
    backends: dict[str, Any],
    container: str,
) -> None:
    faults.fail(backends["dynamodb"], "get_table", 10**6, table_not_found, when=lambda name, *a, **k: name == INCIDENTS)
    sent_while_down: list[int] = []

    def table_back(_: int) -> None:
        sent_while_down.append(len(estate.sns_messages()))
        faults.heal(backends["dynamodb"], "get_table")

    delivered = deployed.deliver(schedule_deletion(estate), between=table_back, cold=container == "cold")

    assert sent_while_down == [1]
    assert len(delivered.failed) == 1 and "recording the incident" in str(delivered.failed[0])
    assert_protected(estate)
    assert_alerted_once(estate, slack)
    assert estate.incident(estate.protect_key)["status"]["S"] == "resolved"  # recorded on the retry


def test_given_the_incidents_table_is_down_when_an_unmount_is_due_then_it_waits_for_its_record(
    deployed: Deployed, estate: Estate, slack: FakeSlack, faults: Faults, backends: dict[str, Any]
) -> None:
    before = live_ids(estate)
    faults.fail(backends["dynamodb"], "get_table", 10**6, table_not_found, when=lambda name, *a, **k: name == INCIDENTS)
    seen: list[tuple[int, int]] = []

    def table_back(_: int) -> None:
        seen.append((len(estate.sns_messages()), len(estate.mount_targets(estate.cut_fs))))
        faults.heal(backends["dynamodb"], "get_table")

    delivered = deployed.deliver(disable(estate), between=table_back)

    assert seen == [(1, 2)]  # alerted while the table was down, and nothing deleted without a record
    assert len(delivered.failed) == 1
    assert_unmounted(estate, before)
    assert_alerted_once(estate, slack)


def test_given_the_incidents_table_was_deleted_and_made_again_when_redelivered_then_nothing_is_sent_twice(
    deployed: Deployed, estate: Estate, slack: FakeSlack
) -> None:
    dynamodb = Estate.client("dynamodb")
    dynamodb.delete_table(TableName=INCIDENTS)

    delivered = deployed.deliver(
        schedule_deletion(estate), between=lambda _: dynamodb.create_table(**incidents_table_spec()), cold=True
    )

    assert len(delivered.failed) == 1
    assert_protected(estate)
    assert_alerted_once(estate, slack)


# --- the idempotency table is down --------------------------------------------------------------------


def test_given_the_idempotency_table_is_down_when_handled_then_the_alert_goes_out_and_the_retry_repeats_nothing(
    deployed: Deployed, estate: Estate, slack: FakeSlack, faults: Faults, backends: dict[str, Any]
) -> None:
    from fault_support import IDEMPOTENCY

    faults.fail(
        backends["dynamodb"], "get_table", 10**6, table_not_found, when=lambda name, *a, **k: name == IDEMPOTENCY
    )
    sent_while_down: list[int] = []

    def table_back(_: int) -> None:
        sent_while_down.append(len(estate.sns_messages()))
        faults.heal(backends["dynamodb"], "get_table")

    delivered = deployed.deliver(schedule_deletion(estate), between=table_back, cold=True)

    assert sent_while_down == [1]
    assert len(delivered.failed) == 1 and "idempotency record" in str(delivered.failed[0])
    assert_protected(estate)
    assert_alerted_once(estate, slack)
    again = deployed.deliver(schedule_deletion(estate))
    assert again.report["outcome"] == "duplicate"


# --- a duplicate after success -----------------------------------------------------------------------


@pytest.mark.parametrize("container", ["warm", "cold"])
def test_given_a_duplicate_after_success_when_delivered_then_nothing_is_done_or_sent(
    deployed: Deployed, estate: Estate, slack: FakeSlack, container: str
) -> None:
    event = disable(estate)
    first = deployed.deliver(event)
    before = (len(estate.sns_messages()), len(slack.requests), len(estate.mount_targets(estate.cut_fs)))
    if container == "cold":
        deployed.cold_start()

    again = deployed.deliver(event)

    assert first.failed == [] and again.failed == []
    assert (first.report["outcome"], again.report["outcome"]) == ("alert", "duplicate")
    assert (len(estate.sns_messages()), len(slack.requests), len(estate.mount_targets(estate.cut_fs))) == before
    assert before == (1, 1, 0)


# --- a huge event -------------------------------------------------------------------------------------


def test_given_a_user_agent_big_enough_to_push_sns_past_256_kb_when_handled_then_the_alert_still_goes_out(
    deployed: Deployed, estate: Estate, slack: FakeSlack
) -> None:
    event = schedule_deletion(estate)
    event["detail"]["userAgent"] = "aws-cli/2.17.5 " + "x" * 120_000

    delivered = deployed.deliver(event)

    assert delivered.failed == []
    assert_alerted_once(estate, slack)


# --- a remediation that is not allowed ----------------------------------------------------------------


def test_given_the_key_lacks_the_opt_in_tag_when_kms_denies_enable_key_then_it_is_skipped_with_the_reason(
    deployed: Deployed, estate: Estate, slack: FakeSlack, faults: Faults, backends: dict[str, Any]
) -> None:
    from moto.core.exceptions import JsonRESTError

    faults.fail(backends["kms"], "enable_key", 10**6, lambda: JsonRESTError("AccessDeniedException", "not authorized"))

    delivered = deployed.deliver(schedule_deletion(estate))

    assert delivered.failed == []  # retrying can't help: said once, and alarmed (RemediationNotAllowed)
    actions = {a["type"]: (a["status"], a["detail"]) for a in delivered.report["actions"]}
    assert actions["cancel_key_deletion"][0] == "done"
    assert actions["enable_key"][0] == "skipped" and "keywatch:protect=true" in actions["enable_key"][1]
    assert_alerted_once(estate, slack)


# --- a delivery another invocation still holds --------------------------------------------------------


def test_given_a_fresh_pending_claim_from_another_invocation_when_handled_then_it_fails_loudly_and_is_sent_later(
    deployed: Deployed, estate: Estate, slack: FakeSlack
) -> None:
    from keywatch.adapters.deliveries import STALE_CLAIM_SECONDS

    event = schedule_deletion(estate)
    watchdog = deployed.module.watchdog()
    log = watchdog.channels[1]._log  # the Slack channel's delivery log
    assert log.claim("evt-schedule-0001", "slack").granted  # an invocation that died mid-send left this

    first = deployed.deliver(event, attempts=1)

    assert "notification by slack" in str(first.failed[0]) and slack.delivered() == []
    for copy in log.logs:  # later: the claim is stale
        if hasattr(copy, "_clock"):
            copy._clock = lambda: __import__("time").time() + STALE_CLAIM_SECONDS + 1
    assert deployed.deliver(event).failed == []
    assert_alerted_once(estate, slack)


# --- what the one message says when a retry finishes an action ---------------------------------------


def test_given_a_bot_token_when_a_retry_completes_an_action_then_the_one_message_is_edited_not_posted_again(
    deployed: Deployed, estate: Estate, slack: FakeSlack, faults: Faults, backends: dict[str, Any]
) -> None:
    from notify.slack_support import TOKEN

    secret = {"token": TOKEN, "channel": "C0ALERTS", "api_url": slack.api_url}
    Estate.client("secretsmanager").put_secret_value(SecretId=estate.secret_arn, SecretString=json.dumps(secret))
    faults.fail(backends["kms"], "cancel_key_deletion", BOTOCORE_ATTEMPTS, throttling)

    delivered = deployed.deliver(schedule_deletion(estate))

    assert len(delivered.failed) == 1
    paths = [r.path.rsplit("/", 1)[-1] for r in slack.requests]
    assert paths == ["chat.postMessage", "chat.update"]
    first, edit = (r.body for r in slack.requests)
    assert edit["ts"] == "1764392400.000001" and edit["channel"] == "C0ALERTS"
    assert "failed" in json.dumps(first) and "failed" not in json.dumps(edit["attachments"])
    assert len(estate.sns_messages()) == 1
    assert {n["channel"]: n["status"] for n in delivered.report["notifications"]}["slack"] == "sent"


def test_given_a_webhook_when_a_retry_completes_an_action_then_nothing_more_is_posted(
    deployed: Deployed, estate: Estate, slack: FakeSlack, faults: Faults, backends: dict[str, Any]
) -> None:
    faults.fail(backends["kms"], "cancel_key_deletion", BOTOCORE_ATTEMPTS, throttling)

    delivered = deployed.deliver(schedule_deletion(estate))

    assert len(delivered.failed) == 1
    assert len(slack.requests) == 1  # an incoming webhook can't edit what it posted (docs/reliability.md)
    assert_alerted_once(estate, slack)


def test_given_the_idempotency_table_is_down_when_an_event_is_ignored_then_it_is_not_retried_for_nothing(
    deployed: Deployed, estate: Estate, slack: FakeSlack, faults: Faults, backends: dict[str, Any]
) -> None:
    from fault_support import IDEMPOTENCY

    unused = Estate.client("kms").create_key(Description="no file system uses it")["KeyMetadata"]["Arn"]
    Estate.client("kms").disable_key(KeyId=unused.rsplit("/", 1)[-1])
    faults.fail(
        backends["dynamodb"], "get_table", 10**6, table_not_found, when=lambda name, *a, **k: name == IDEMPOTENCY
    )

    delivered = deployed.deliver(cloudtrail("DisableKey", unused, "evt-unused-0001"))

    assert delivered.failed == [] and delivered.report["outcome"] == "ignored"
    assert estate.sns_messages() == [] and slack.requests == []


def test_given_delete_mount_target_answers_not_found_for_one_still_there_when_redelivered_then_none_are_left(
    deployed: Deployed, estate: Estate, slack: FakeSlack, faults: Faults, backends: dict[str, Any]
) -> None:
    from moto.efs.exceptions import MountTargetNotFound

    before = live_ids(estate)
    faults.fail(backends["efs"], "delete_mount_target", 1, lambda: MountTargetNotFound("fsmt-x"))

    delivered = deployed.deliver(disable(estate))

    assert len(delivered.failed) == 1  # the end state is read back, not taken from the answer
    assert_unmounted(estate, before)
    assert_alerted_once(estate, slack)
