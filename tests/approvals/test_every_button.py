"""Every button, through the real endpoint (and the real worker where the work is handed over), on moto."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from approval_support import (
    APP_ARN,
    APP_KEY,
    APPROVER,
    KEY_ACCOUNT,
    InteractiveSlack,
    buttons_of,
    click_body,
    received,
    signed_event,
    sqs_record,
)
from keywatch.adapters.approvals import DynamoApprovalStore
from keywatch.cli.simulator import INCIDENTS_TABLE
from keywatch.parse import parse_event
from support import FakeLambdaContext, load_event, load_function

CUT, ENABLE, RESTORE = "keywatch_cut", "keywatch_enable", "keywatch_restore"


def kms(estate: Any) -> Any:
    return estate.clients.client("kms", KEY_ACCOUNT, "us-east-1")


def mount_targets(estate: Any, name: str) -> int:
    fs_id = estate.file_system_ids[(KEY_ACCOUNT, "us-east-1", name)]
    efs = estate.clients.client("efs", KEY_ACCOUNT, "us-east-1")
    return len(efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"])


def click(button: dict[str, Any], slack: InteractiveSlack) -> dict[str, Any]:
    app = load_function("slack_actions")
    body = click_body(button, response_url=slack.response_url)
    return app.lambda_handler(signed_event(body), FakeLambdaContext())  # type: ignore[no-any-return]


def drain(sqs: Any, url: str, receive_count: int = 1) -> dict[str, Any]:
    bodies = received(sqs, url)
    worker = load_function("approved_actions")
    event = {"Records": [sqs_record(b, receive_count) for b in bodies]}
    return worker.lambda_handler(event, FakeLambdaContext())  # type: ignore[no-any-return]


def store(estate: Any) -> DynamoApprovalStore:
    return DynamoApprovalStore(estate.clients, INCIDENTS_TABLE, "us-east-1")


def disable_app_key(alert: Callable[..., Any], slack: InteractiveSlack) -> dict[str, dict[str, Any]]:
    result = alert(parse_event(load_event("disable_key")))
    assert result.outcome == "alert"
    return buttons_of(slack.posts()[-1])


def test_given_a_disabled_key_with_protect_and_unmount_when_posted_then_it_offers_both_and_triage(
    slack: InteractiveSlack, alert: Callable[..., Any], env: Callable[..., Any]
) -> None:
    offered = disable_app_key(alert, slack)

    assert list(offered) == [
        ENABLE,
        CUT,
        "keywatch_ack",
        "keywatch_silence_1h",
        "keywatch_silence_1d",
        "keywatch_silence_7d",
    ]
    assert offered[CUT]["style"] == "danger" and "confirm" in offered[CUT]
    assert all(len(b["value"]) <= 2000 and APP_ARN in b["value"] for b in offered.values())


def test_given_a_notify_only_key_when_posted_then_only_acknowledge_and_silence(
    estate: Any, slack: InteractiveSlack, alert: Callable[..., Any], env: Callable[..., Any]
) -> None:
    event = parse_event(load_event("disable_key"))
    plain = "arn:aws:kms:us-east-1:111122223333:key/9f8e7d6c-5b4a-4392-8a1b-0c9d8e7f6a5b"
    alert(event.model_copy(update={"key_arn": plain, "key_ref": plain, "event_id": "plain-1"}))

    assert list(buttons_of(slack.posts()[-1])) == [
        "keywatch_ack",
        "keywatch_silence_1h",
        "keywatch_silence_1d",
        "keywatch_silence_7d",
    ]


def test_given_re_enable_when_approved_then_the_key_is_enabled_and_the_message_says_who(
    estate: Any, slack: InteractiveSlack, alert: Callable[..., Any], env: Callable[..., Any], changes: dict[str, int]
) -> None:
    offered = disable_app_key(alert, slack)

    assert click(offered[ENABLE], slack)["statusCode"] == 200

    assert kms(estate).describe_key(KeyId=APP_KEY)["KeyMetadata"]["KeyState"] == "Enabled"
    assert changes == {"enable_key": 1}
    update = slack.to_response_url()[-1]
    assert update["replace_original"] is True
    assert f"Re-enable key by alice ({APPROVER}): done" in update["text"]
    assert ENABLE not in buttons_of(update) and CUT in buttons_of(update), "the other buttons stay"
    from keywatch.adapters.incidents import DynamoIncidentStore

    incident = DynamoIncidentStore(estate.clients, INCIDENTS_TABLE, "us-east-1").current(APP_ARN)
    assert incident is not None and incident["status"] == "resolved"
    assert incident["actions"][-1]["actor"] == f"slack:{APPROVER} (alice)"


def test_given_cut_access_when_the_endpoint_has_no_time_then_the_worker_cuts_once_and_updates_the_message(
    estate: Any,
    slack: InteractiveSlack,
    alert: Callable[..., Any],
    queue: tuple[Any, str],
    no_time: None,
    changes: dict[str, int],
) -> None:
    sqs, url = queue
    offered = disable_app_key(alert, slack)

    started = time.monotonic()
    assert click(offered[CUT], slack)["statusCode"] == 200
    assert time.monotonic() - started < 3, "Slack wants its answer within 3 seconds"
    assert mount_targets(estate, "app-shared") == 2, "nothing cut yet: the endpoint handed it over"
    assert "handed to the worker" in str(slack.to_response_url()[-1])

    assert drain(sqs, url) == {"batchItemFailures": []}

    assert mount_targets(estate, "app-shared") == 0
    assert changes == {"delete": 2}
    assert "Cut access (remove mount targets) by alice" in slack.to_response_url()[-1]["text"]
    assert ": done" in slack.to_response_url()[-1]["text"]
    # the message again (a duplicate delivery) and a second click change nothing
    worker = load_function("approved_actions")
    body = json.dumps({"key_arn": APP_ARN, "token": offered[CUT]["value"].split("|")[0]})
    assert worker.lambda_handler({"Records": [sqs_record(body)]}, FakeLambdaContext()) == {"batchItemFailures": []}
    click(offered[CUT], slack)
    assert "already approved" in slack.to_response_url()[-1]["text"]
    assert received(sqs, url) == [], "a second click queues nothing"
    assert changes == {"delete": 2}


def test_given_cut_access_when_the_key_recovers_between_the_click_and_the_action_then_nothing_is_cut(
    estate: Any,
    slack: InteractiveSlack,
    alert: Callable[..., Any],
    queue: tuple[Any, str],
    no_time: None,
    changes: dict[str, int],
) -> None:
    sqs, url = queue
    offered = disable_app_key(alert, slack)
    click(offered[CUT], slack)

    kms(estate).enable_key(KeyId=APP_KEY)  # someone fixed it by hand meanwhile
    drain(sqs, url)

    assert mount_targets(estate, "app-shared") == 2
    assert changes == {}
    text = str(slack.to_response_url()[-1])
    assert "the key has recovered; mount targets kept" in text


def test_given_mount_targets_cut_when_the_key_is_re_enabled_by_approval_then_they_are_restored(
    estate: Any, slack: InteractiveSlack, alert: Callable[..., Any], env: Callable[..., Any], changes: dict[str, int]
) -> None:
    offered = disable_app_key(alert, slack)
    click(offered[CUT], slack)
    assert mount_targets(estate, "app-shared") == 0

    click(offered[ENABLE], slack)

    assert mount_targets(estate, "app-shared") == 2, "restore after recovery"
    assert changes == {"delete": 2, "enable_key": 1, "create": 2}


def test_given_mount_targets_cut_when_the_key_recovers_then_the_resolution_offers_restore(
    estate: Any, slack: InteractiveSlack, alert: Callable[..., Any], env: Callable[..., Any], changes: dict[str, int]
) -> None:
    offered = disable_app_key(alert, slack)
    click(offered[CUT], slack)

    resolved = alert(parse_event(load_event("enable_key")))
    assert resolved.outcome == "resolved"
    restore = buttons_of(slack.posts()[-1])
    assert list(restore) == [RESTORE], "a resolution offers the restore, and no triage"
    assert mount_targets(estate, "app-shared") == 0, "approve mode restores only when approved"

    click(restore[RESTORE], slack)

    assert mount_targets(estate, "app-shared") == 2
    assert changes == {"delete": 2, "create": 2}


def test_given_acknowledge_when_clicked_then_it_is_recorded_and_shown(
    estate: Any, slack: InteractiveSlack, alert: Callable[..., Any], env: Callable[..., Any], changes: dict[str, int]
) -> None:
    offered = disable_app_key(alert, slack)

    click(offered["keywatch_ack"], slack)

    assert changes == {}
    assert "Acknowledge by alice" in slack.to_response_url()[-1]["text"]
    log = store(estate).interactions()
    assert [(i.kind, i.user) for i in log] == [("approved", APPROVER), ("acknowledged", APPROVER)]


def test_given_each_silence_when_clicked_then_the_key_is_silenced_for_that_long(
    estate: Any, slack: InteractiveSlack, alert: Callable[..., Any], env: Callable[..., Any]
) -> None:
    offered = disable_app_key(alert, slack)
    for action_id, seconds in (
        ("keywatch_silence_1h", 3600),
        ("keywatch_silence_1d", 86400),
        ("keywatch_silence_7d", 7 * 86400),
    ):
        before = int(time.time())
        click(offered[action_id], slack)
        silence = store(estate).silence_of(APP_ARN)
        assert silence is not None and before + seconds <= silence.until <= int(time.time()) + seconds
        assert silence.set_by == APPROVER


def test_given_a_silenced_key_when_it_alerts_again_then_it_is_recorded_but_not_sent(
    estate: Any, slack: InteractiveSlack, alert: Callable[..., Any], env: Callable[..., Any]
) -> None:
    offered = disable_app_key(alert, slack)
    click(offered["keywatch_silence_1d"], slack)
    posts = len(slack.posts())

    again = alert(parse_event(load_event("disable_key")).model_copy(update={"event_id": "disable-again"}))

    assert again.outcome == "alert"
    assert {n.channel: n.status for n in again.notifications} == {"sns": "skipped", "slack": "skipped"}
    assert all("silenced until" in n.detail for n in again.notifications)
    assert len(slack.posts()) == posts
    assert store(estate).silence_of(APP_ARN) is not None


def test_given_an_expired_silence_when_the_key_alerts_then_it_is_sent(
    estate: Any, slack: InteractiveSlack, alert: Callable[..., Any], env: Callable[..., Any]
) -> None:
    from keywatch.silences import Silence

    now = int(time.time())
    store(estate).silence(Silence(key_arn=APP_ARN, until=now - 1, set_by=APPROVER, set_at=now - 3600))

    result = alert(parse_event(load_event("disable_key")))

    assert {n.channel: n.status for n in result.notifications} == {"sns": "sent", "slack": "sent"}
