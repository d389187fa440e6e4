"""End to end: an alert replayed in approve mode to a local Slack, the button it really carries clicked
through the real endpoint (functions/slack_actions/app.py) as a signed function-URL request, on moto."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from approval_support import (
    APPROVER,
    BILLING_ARN,
    BILLING_KEY,
    OUTSIDER,
    InteractiveSlack,
    buttons_of,
    click_body,
    signed_event,
)
from keywatch.parse import parse_event
from support import FakeLambdaContext, load_event, load_function

CANCEL = "keywatch_cancel_and_enable"


def key_state(estate: Any, key_id: str) -> str:
    return str(
        estate.clients.client("kms", "111122223333", "us-east-1").describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
    )


def click(app: Any, button: dict[str, Any], slack: InteractiveSlack, **kwargs: Any) -> dict[str, Any]:
    body = click_body(button, response_url=slack.response_url, **kwargs)
    return app.lambda_handler(signed_event(body), FakeLambdaContext())  # type: ignore[no-any-return]


def test_given_a_scheduled_deletion_in_approve_mode_when_an_approver_clicks_cancel_then_the_key_is_saved_once(
    estate: Any,
    slack: InteractiveSlack,
    alert: Callable[..., Any],
    env: Callable[..., Any],
    changes: dict[str, int],
) -> None:
    result = alert(parse_event(load_event("schedule_key_deletion")))
    assert [a.status for a in result.actions] == ["planned", "planned"]
    assert key_state(estate, BILLING_KEY) == "PendingDeletion"
    posted = slack.posts()[0]
    offered = buttons_of(posted)
    assert set(offered) == {
        CANCEL,
        "keywatch_ack",
        "keywatch_silence_1h",
        "keywatch_silence_1d",
        "keywatch_silence_7d",
    }

    app = load_function("slack_actions")
    response = click(app, offered[CANCEL], slack)

    assert response["statusCode"] == 200
    assert key_state(estate, BILLING_KEY) == "Enabled"
    updates = slack.to_response_url()
    assert updates and updates[-1]["replace_original"] is True
    assert f"<@{APPROVER}>" in str(updates[-1]) and "done" in str(updates[-1])
    assert CANCEL not in buttons_of(updates[-1]), "a used button is taken off the message"

    again = click(app, offered[CANCEL], slack)
    assert again["statusCode"] == 200
    reply = slack.to_response_url()[-1]
    assert reply["response_type"] == "ephemeral" and "nothing was done again" in reply["text"]
    assert changes == {"cancel_key_deletion": 1, "enable_key": 1}


def _billing_alert(alert: Callable[..., Any], slack: InteractiveSlack) -> dict[str, dict[str, Any]]:
    alert(parse_event(load_event("schedule_key_deletion")))
    return buttons_of(slack.posts()[0])


def test_given_a_forged_signature_when_clicked_then_401_and_nothing_changes(
    estate: Any, slack: InteractiveSlack, alert: Callable[..., Any], env: Callable[..., Any], changes: dict[str, int]
) -> None:
    offered = _billing_alert(alert, slack)
    body = click_body(offered[CANCEL], response_url=slack.response_url)
    app = load_function("slack_actions")

    forged = app.lambda_handler(signed_event(body, secret="not-the-signing-secret"), FakeLambdaContext())
    unsigned = app.lambda_handler(signed_event(body, signature=""), FakeLambdaContext())
    tampered = signed_event(body)
    tampered["body"] = body.replace(APPROVER, "U0MALLORY")

    assert forged["statusCode"] == unsigned["statusCode"] == 401
    assert app.lambda_handler(tampered, FakeLambdaContext())["statusCode"] == 401
    assert key_state(estate, BILLING_KEY) == "PendingDeletion"
    assert changes == {} and slack.to_response_url() == []


def test_given_a_timestamp_older_than_5_minutes_when_clicked_then_401_and_nothing_changes(
    estate: Any, slack: InteractiveSlack, alert: Callable[..., Any], env: Callable[..., Any], changes: dict[str, int]
) -> None:
    import time

    offered = _billing_alert(alert, slack)
    body = click_body(offered[CANCEL], response_url=slack.response_url)
    app = load_function("slack_actions")

    stale = app.lambda_handler(signed_event(body, timestamp=int(time.time()) - 301), FakeLambdaContext())

    assert stale["statusCode"] == 401
    assert key_state(estate, BILLING_KEY) == "PendingDeletion" and changes == {}
    fresh = app.lambda_handler(signed_event(body, base64_body=True), FakeLambdaContext())
    assert fresh["statusCode"] == 200 and key_state(estate, BILLING_KEY) == "Enabled", "base64 bodies verify too"


def test_given_a_user_not_on_the_allow_list_when_clicked_then_told_so_recorded_and_nothing_changes(
    estate: Any, slack: InteractiveSlack, alert: Callable[..., Any], env: Callable[..., Any], changes: dict[str, int]
) -> None:
    from keywatch.adapters.approvals import DynamoApprovalStore
    from keywatch.cli.simulator import INCIDENTS_TABLE

    offered = _billing_alert(alert, slack)
    app = load_function("slack_actions")

    response = click(app, offered[CANCEL], slack, user=OUTSIDER, name="mallory")

    assert response["statusCode"] == 200
    reply = slack.to_response_url()[-1]
    assert reply["response_type"] == "ephemeral" and "not allowed" in reply["text"]
    assert key_state(estate, BILLING_KEY) == "PendingDeletion" and changes == {}
    log = DynamoApprovalStore(estate.clients, INCIDENTS_TABLE, "us-east-1").interactions()
    assert [(i.kind, i.user, i.key_arn) for i in log] == [("refused", OUTSIDER, BILLING_ARN)]
    # the button still works for someone who may use it
    assert click(app, offered[CANCEL], slack)["statusCode"] == 200
    assert key_state(estate, BILLING_KEY) == "Enabled"


def test_given_a_bare_function_url_event_when_signed_then_the_click_still_counts(
    estate: Any, slack: InteractiveSlack, alert: Callable[..., Any], env: Callable[..., Any]
) -> None:
    offered = _billing_alert(alert, slack)
    full = signed_event(click_body(offered[CANCEL], response_url=slack.response_url))
    bare = {"headers": full["headers"], "body": full["body"], "isBase64Encoded": False}

    assert load_function("slack_actions").lambda_handler(bare, FakeLambdaContext())["statusCode"] == 200
    assert key_state(estate, BILLING_KEY) == "Enabled"
