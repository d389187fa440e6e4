"""The bot-token path (chat.postMessage with buttons, chat.update after a click), the approvers' user
group, an expired button, and an action that keeps failing in the worker."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from approval_support import (
    APP_ARN,
    BILLING_KEY,
    GROUP,
    GROUP_MEMBER,
    OUTSIDER,
    InteractiveSlack,
    buttons_of,
    click_body,
    received,
    signed_event,
    sqs_record,
)
from keywatch.cli.simulator import INCIDENTS_TABLE
from keywatch.parse import parse_event
from support import FakeLambdaContext, load_event, load_function

CANCEL = "keywatch_cancel_and_enable"


def bot_secret(estate: Any, slack: InteractiveSlack) -> str:
    sm = estate.clients.home_client("secretsmanager", "us-east-1")
    value = json.dumps({"token": "xoxb-1-2-approveTest", "channel": "C0ALERTS", "api_url": slack.api_url})
    return str(sm.create_secret(Name="keywatch/slack-bot", SecretString=value)["ARN"])


def click(button: dict[str, Any], slack: InteractiveSlack, **kwargs: Any) -> dict[str, Any]:
    app = load_function("slack_actions")
    body = click_body(button, response_url=slack.response_url, **kwargs)
    return app.lambda_handler(signed_event(body), FakeLambdaContext())  # type: ignore[no-any-return]


def state(estate: Any) -> str:
    kms = estate.clients.client("kms", "111122223333", "us-east-1")
    return str(kms.describe_key(KeyId=BILLING_KEY)["KeyMetadata"]["KeyState"])


def test_given_a_bot_token_when_an_approver_clicks_then_the_posted_message_is_rewritten_with_chat_update(
    estate: Any, slack: InteractiveSlack, alert: Callable[..., Any], env: Callable[..., Any]
) -> None:
    alert(parse_event(load_event("schedule_key_deletion")), token=True)
    posted = next(r for r in slack.requests if r.path.endswith("/chat.postMessage"))
    offered = buttons_of(posted.body)
    assert CANCEL in offered
    env(KEYWATCH_SLACK_SECRET=bot_secret(estate, slack))

    assert click(offered[CANCEL], slack)["statusCode"] == 200

    assert state(estate) == "Enabled"
    updates = slack.updates()
    assert len(updates) == 1 and updates[0]["channel"] == "C0ALERTS" and updates[0]["ts"] == "1764392400.000001"
    assert "Cancel deletion and re-enable by alice" in updates[0]["text"]
    assert slack.to_response_url() == [], "with a bot token the message is rewritten by chat.update"


def test_given_an_approvers_group_when_a_member_clicks_then_allowed_and_an_outsider_is_not(
    estate: Any, slack: InteractiveSlack, alert: Callable[..., Any], env: Callable[..., Any]
) -> None:
    slack.groups[GROUP] = [GROUP_MEMBER]
    alert(parse_event(load_event("schedule_key_deletion")), token=True)
    offered = buttons_of(next(r for r in slack.requests if r.path.endswith("/chat.postMessage")).body)
    env(
        KEYWATCH_SLACK_SECRET=bot_secret(estate, slack),
        KEYWATCH_SLACK_APPROVERS="",
        KEYWATCH_SLACK_APPROVER_GROUP=GROUP,
    )

    click(offered[CANCEL], slack, user=OUTSIDER, name="mallory")
    assert state(estate) == "PendingDeletion"
    assert "not allowed" in slack.to_response_url()[-1]["text"]

    click(offered[CANCEL], slack, user=GROUP_MEMBER, name="oncall")
    assert state(estate) == "Enabled"


def test_given_an_expired_button_when_clicked_then_nothing_changes_and_it_says_so(
    estate: Any, slack: InteractiveSlack, alert: Callable[..., Any], env: Callable[..., Any], changes: dict[str, int]
) -> None:
    alert(parse_event(load_event("schedule_key_deletion")))
    button = buttons_of(slack.posts()[0])[CANCEL]
    token, key_arn = button["value"].split("|")
    estate.clients.home_client("dynamodb", "us-east-1").update_item(
        TableName=INCIDENTS_TABLE,
        Key={"pk": {"S": key_arn}, "sk": {"S": f"approval#{token}"}},
        UpdateExpression="SET valid_until = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )

    click(button, slack)

    assert state(estate) == "PendingDeletion" and changes == {}
    assert "expired" in slack.to_response_url()[-1]["text"]


def test_given_an_action_that_keeps_failing_when_the_worker_tries_a_third_time_then_it_is_marked_failed(
    estate: Any,
    slack: InteractiveSlack,
    alert: Callable[..., Any],
    queue: tuple[Any, str],
    no_time: None,
    monkeypatch: Any,
) -> None:
    from botocore.exceptions import ClientError
    from keywatch.adapters.kms import KmsGateway

    sqs, url = queue
    alert(parse_event(load_event("disable_key")))
    click(buttons_of(slack.posts()[0])["keywatch_enable"], slack)
    (body,) = received(sqs, url)

    def denied(self: Any, key_arn: str) -> None:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "EnableKey")

    monkeypatch.setattr(KmsGateway, "enable_key", denied)
    worker = load_function("approved_actions")
    for attempt in (1, 2, 3):
        response = worker.lambda_handler({"Records": [sqs_record(body, attempt)]}, FakeLambdaContext())
        assert len(response["batchItemFailures"]) == 1, "a failed action is retried, then dead-lettered"

    assert "Re-enable key by alice" in slack.to_response_url()[-1]["text"]
    assert ": failed" in slack.to_response_url()[-1]["text"]
    from keywatch.adapters.approvals import DynamoApprovalStore

    token = json.loads(body)["token"]
    record = DynamoApprovalStore(estate.clients, INCIDENTS_TABLE, "us-east-1").get(APP_ARN, token)
    assert record is not None and record.status == "failed"
