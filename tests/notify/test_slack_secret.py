"""Where to post comes from Secrets Manager or SSM, through Powertools Parameters (moto)."""

from __future__ import annotations

import pytest
from keywatch.adapters.aws import AwsClients
from keywatch.adapters.slack import ParameterTarget, SlackConfigError
from keywatch.iam import declared
from keywatch.notify.slack import SlackChannel
from slack_support import TOKEN, FakeSlack, Reply, make_result

HOOK = "https://hooks.slack.com/services/T0/B0/secretFromSecretsManager"


@pytest.fixture
def clients(aws: None) -> AwsClients:
    return AwsClients(home_account="123456789012")


def secret(clients: AwsClients, value: str, name: str = "keywatch/slack") -> str:
    return str(clients.home_client("secretsmanager", "us-east-1").create_secret(Name=name, SecretString=value)["ARN"])


def test_given_a_secrets_manager_arn_when_read_then_the_webhook_is_used_and_cached(clients: AwsClients) -> None:
    source = ParameterTarget(clients, secret(clients, HOOK))
    assert source.target().kind == "webhook"
    assert source.target().secret == HOOK
    assert clients.calls["secrets-manager:GetSecretValue"] == 1  # the second read came from the cache


def test_given_a_json_secret_with_a_token_when_read_then_token_and_channel_come_from_it(clients: AwsClients) -> None:
    source = ParameterTarget(clients, secret(clients, f'{{"token": "{TOKEN}", "channel": "C0SECRET"}}'), "C0ENV")
    target = source.target()
    assert (target.kind, target.channel, target.secret) == ("token", "C0SECRET", TOKEN)


def test_given_a_bare_token_when_read_then_the_channel_comes_from_the_settings(clients: AwsClients) -> None:
    assert ParameterTarget(clients, secret(clients, TOKEN), "C0ENV").target().channel == "C0ENV"


def test_given_an_ssm_securestring_when_read_then_it_is_decrypted(clients: AwsClients) -> None:
    clients.home_client("ssm", "us-east-1").put_parameter(Name="/keywatch/slack", Value=HOOK, Type="SecureString")
    source = ParameterTarget(clients, "/keywatch/slack")
    assert source.target().secret == HOOK
    assert clients.calls["ssm:GetParameter"] == 1


def test_given_a_missing_secret_when_read_then_the_error_names_it_without_a_value(clients: AwsClients) -> None:
    with pytest.raises(SlackConfigError, match="cannot read the Slack secret"):
        ParameterTarget(clients, "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf").target()


def test_given_a_rotated_webhook_when_slack_says_the_old_one_is_gone_then_the_secret_is_read_again(
    clients: AwsClients, slack: FakeSlack
) -> None:
    arn = secret(clients, slack.base + "/services/T0/B0/old")
    source = ParameterTarget(clients, arn)
    channel = SlackChannel(source)
    source.target()  # read and cached, as by an earlier invocation in the same container
    clients.home_client("secretsmanager", "us-east-1").put_secret_value(SecretId=arn, SecretString=slack.webhook_url)
    slack.then(Reply(404, "no_service"))  # the cached (old) URL was revoked

    note = channel.send(make_result("disable_key"))
    assert note.status == "sent"
    assert [r.path.rsplit("/", 1)[-1] for r in slack.requests] == ["old", slack.webhook_url.rsplit("/", 1)[-1]]
    assert clients.calls["secrets-manager:GetSecretValue"] == 2


def test_given_an_unusable_secret_when_sending_then_slack_fails_with_the_reason(clients: AwsClients) -> None:
    note = SlackChannel(ParameterTarget(clients, secret(clients, "not-a-webhook"))).send(make_result("disable_key"))
    assert note.status == "failed" and "neither a webhook URL" in note.detail and "not-a-webhook" not in note.detail


def test_given_the_adapters_when_declared_then_slack_and_deliveries_name_their_iam_actions() -> None:
    assert {"secretsmanager:GetSecretValue", "ssm:GetParameter", "sns:Publish"} <= declared("notify")
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= declared("state")


def test_given_tracing_as_deployed_when_slack_is_posted_to_then_no_trace_document_holds_the_webhook(
    slack: FakeSlack,
) -> None:
    """X-Ray with keywatch's patch list (Tracing: Active): the webhook URL, which is the secret, and
    its path never reach a segment, whatever slack-sdk sends through http.client."""
    from aws_xray_sdk.core import patch, xray_recorder
    from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter
    from keywatch.adapters.slack import SlackPoster, webhook_target
    from keywatch.observability import TRACED_MODULES

    documents: list[str] = []

    class Capture(UDPEmitter):  # type: ignore[misc]
        def send_entity(self, entity: object) -> None:
            documents.append(entity.serialize())  # type: ignore[attr-defined]

    from aws_xray_sdk import global_sdk_config

    was_enabled = global_sdk_config.sdk_enabled()  # Powertools' disabled Tracer (as in tests) turns it off
    global_sdk_config.set_sdk_enabled(True)
    patch(TRACED_MODULES)
    xray_recorder.configure(emitter=Capture(), sampling=False, context_missing="LOG_ERROR", service="keywatch")
    try:
        xray_recorder.begin_segment("keywatch-test")
        try:
            SlackPoster().post(webhook_target(slack.webhook_url), {"text": "hello"})
        finally:
            xray_recorder.end_segment()
    finally:
        global_sdk_config.set_sdk_enabled(was_enabled)

    assert len(slack.requests) == 1 and documents
    path = slack.webhook_url.split("/services/", 1)[1]
    assert all(path not in d and "hunter2" not in d for d in documents)
    assert "httplib" not in TRACED_MODULES
