"""End to end: an alert replayed in approve mode to a local Slack, the button it really carries clicked
through the real endpoint (functions/slack_actions/app.py) as a signed function-URL request, on moto."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from approval_support import (
    APPROVER,
    BILLING_KEY,
    InteractiveSlack,
    buttons_of,
    click_body,
    signed_event,
)
from keywatch.parse import parse_event
from support import FakeLambdaContext, load_event, load_function

CANCEL = "keywatch_cancel_and_enable"


def key_state(estate: Any, key_id: str) -> str:
    return str(estate.clients.client("kms", "111122223333", "us-east-1").describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"])


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
