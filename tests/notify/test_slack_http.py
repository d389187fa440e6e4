"""The Slack channel against a real HTTP server on 127.0.0.1: what is posted, retries, failures, secrecy."""

from __future__ import annotations

import itertools
import logging
import socket

import pytest
from keywatch.adapters.slack import (
    RetryPolicy,
    SlackConfigError,
    SlackPoster,
    SlackTarget,
    StaticTarget,
    parse_target,
    redact,
    webhook_target,
)
from keywatch.notify.slack import SlackChannel
from slack_support import NOW, TOKEN, WEBHOOK_PATH, FakeSlack, Reply, all_text, make_result


def webhook_channel(slack: FakeSlack, poster: SlackPoster | None = None) -> SlackChannel:
    return SlackChannel(StaticTarget(webhook_target(slack.webhook_url)), poster=poster, clock=lambda: NOW)


def test_given_a_webhook_when_an_alert_is_sent_then_the_posted_json_carries_what_a_responder_needs(slack) -> None:
    note = webhook_channel(slack).send(make_result("schedule_key_deletion"))

    assert (note.channel, note.status) == ("slack", "sent")
    assert [r.path for r in slack.requests] == [WEBHOOK_PATH]
    body = slack.requests[0].body
    text = all_text(body)
    assert "fs-0a1b2c3d4e5f60004" in text and "0987dcba-09fe-87dc-65ba-ab0987654321" in text
    assert "2026-12-28 10:02 UTC" in text and "arn:aws:iam::111122223333:user/bob" in text
    assert "console.aws.amazon.com/kms/home" in text and "console.aws.amazon.com/efs/home" in text
    assert body["attachments"][0]["color"] and body["unfurl_links"] is False
    assert slack.requests[0].headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("failures", [1, 3])
def test_given_slack_answers_500_n_times_when_sending_then_it_retries_until_200(slack, failures: int) -> None:
    slack.then(*[Reply(500, "internal_error")] * failures)
    note = webhook_channel(slack).send(make_result("disable_key"))
    assert note.status == "sent"
    assert len(slack.requests) == failures + 1
    assert all(r.body == slack.requests[0].body for r in slack.requests)


@pytest.mark.parametrize("status", [502, 503, 504])
def test_given_any_5xx_when_sending_then_it_is_retried(slack, status: int) -> None:
    slack.then(Reply(status, "upstream"))
    assert webhook_channel(slack).send(make_result("disable_key")).status == "sent"
    assert len(slack.requests) == 2


def test_given_slack_always_answers_500_when_sending_then_it_fails_after_a_bounded_number_of_tries(slack) -> None:
    slack.always(Reply(500, "internal_error"))
    note = webhook_channel(slack).send(make_result("disable_key"))
    assert note.status == "failed"
    assert "HTTP 500" in note.detail
    assert len(slack.requests) == 1 + RetryPolicy().server_error_retries


def test_given_backoff_when_retrying_5xx_then_the_waits_grow(slack) -> None:
    slack.then(Reply(500), Reply(500), Reply(500))
    poster = SlackPoster(RetryPolicy(backoff_factor=0.1, max_jitter=0.0))
    assert webhook_channel(slack, poster).send(make_result("disable_key")).status == "sent"
    at = [r.at for r in slack.requests]
    gaps = [b - a for a, b in itertools.pairwise(at)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39  # 0.1 s, 0.2 s, 0.4 s


def test_given_429_with_retry_after_when_sending_then_it_waits_that_long_and_retries(slack) -> None:
    slack.then(Reply(429, "rate_limited", {"Retry-After": "1"}))
    note = webhook_channel(slack).send(make_result("disable_key"))
    assert note.status == "sent"
    assert len(slack.requests) == 2
    assert slack.requests[1].at - slack.requests[0].at >= 1.0


def test_given_429_asking_for_too_long_a_wait_when_sending_then_it_fails_rather_than_hang(slack) -> None:
    slack.always(Reply(429, "rate_limited", {"Retry-After": "3600"}))
    note = webhook_channel(slack).send(make_result("disable_key"))
    assert note.status == "failed" and "HTTP 429" in note.detail
    assert len(slack.requests) == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [(400, "invalid_blocks"), (403, "invalid_token"), (404, "no_service"), (410, "channel_is_archived")],
)
def test_given_a_4xx_when_sending_then_it_is_not_retried(slack, status: int, body: str) -> None:
    slack.always(Reply(status, body))
    note = webhook_channel(slack).send(make_result("disable_key"))
    assert note.status == "failed" and body in note.detail
    assert len(slack.requests) == 1


def test_given_nobody_listens_when_sending_then_it_fails_after_bounded_connection_retries() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago, and is closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel = SlackChannel(StaticTarget(webhook_target(f"http://127.0.0.1:{port}{WEBHOOK_PATH}")))
    note = channel.send(make_result("disable_key"))
    assert note.status == "failed" and "cannot reach Slack" in note.detail


def test_given_an_ignored_event_when_sent_then_nothing_is_posted(slack) -> None:
    from keywatch.models import Outcome

    ignored = make_result("disable_key").model_copy(update={"outcome": Outcome.IGNORED, "affected": []})
    note = webhook_channel(slack).send(ignored)
    assert note.status == "skipped"
    assert slack.requests == []


def test_given_no_slack_configuration_when_sent_then_it_is_skipped_with_the_reason() -> None:
    note = SlackChannel(None).send(make_result("disable_key"))
    assert note.status == "skipped" and "KEYWATCH_SLACK_SECRET" in note.detail


# --- the secret never shows -------------------------------------------------------------------------


@pytest.mark.parametrize("reply", [Reply(500, "internal_error"), Reply(404, "no_service"), Reply(400, "x")])
def test_given_failures_when_logged_and_reported_then_the_webhook_url_never_appears(
    slack, reply: Reply, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, from every logger, slack-sdk's included
    slack.always(reply)
    channel = webhook_channel(slack)
    note = channel.send(make_result("disable_key"))

    secret = WEBHOOK_PATH.rsplit("/", 1)[-1]
    captured = capsys.readouterr()
    assert note.status == "failed"
    for where in (note.detail, note.model_dump_json(), caplog.text, captured.out, captured.err, repr(channel._source)):
        assert secret not in where
        assert slack.webhook_url not in where


def test_given_a_bot_token_when_slack_fails_then_the_token_never_appears(
    slack, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    slack.always(Reply(200, {"ok": False, "error": "invalid_auth"}))
    target = parse_target(f'{{"token": "{TOKEN}", "channel": "C0ALERTS", "api_url": "{slack.api_url}"}}')
    note = SlackChannel(StaticTarget(target)).send(make_result("disable_key"))
    assert note.status == "failed" and "invalid_auth" in note.detail
    assert slack.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"  # it was sent, to Slack only
    captured = capsys.readouterr()
    for where in (note.detail, caplog.text, captured.out, captured.err, repr(target), str(target)):
        assert TOKEN not in where


def test_given_any_text_when_redacted_then_known_secrets_and_secret_shapes_are_gone() -> None:
    webhook_target("https://hooks.slack.com/services/T1/B1/knownsecret")
    assert "knownsecret" not in redact("posting to https://hooks.slack.com/services/T1/B1/knownsecret failed")
    assert redact("token xoxb-9-9-unknownToken here") == "token [redacted] here"
    assert "abc" not in redact("https://hooks.slack.com/workflows/T1/A1/1/abc")


@pytest.mark.parametrize(
    "value",
    [
        "not a url",
        "ftp://hooks.slack.com/services/x",
        "http://hooks.slack.com/services/x",
        "xapp-1-app-level-token",
        '{"channel": "C1"}',
        '{"token": "xoxb-1"}',
        "[1, 2]",
        '{"webhook_url": "http://example.com/services/x"}',
    ],
)
def test_given_an_unusable_secret_when_parsed_then_the_error_says_why_without_the_value(value: str) -> None:
    with pytest.raises(SlackConfigError) as caught:
        parse_target(value)
    assert value not in str(caught.value)
    assert caught.value.__cause__ is None


@pytest.mark.parametrize(
    ("value", "kind", "channel"),
    [
        ("https://hooks.slack.com/services/T1/B1/x", "webhook", None),
        ('{"webhook_url": "https://hooks.slack.com/services/T1/B1/x"}', "webhook", None),
        ("xoxb-1-2-abc", "token", "C0DEFAULT"),
        ('{"token": "xoxb-1-2-abc", "channel": "C0SECRET"}', "token", "C0SECRET"),
        ('  {"token": "xoxb-1-2-abc"}  ', "token", "C0DEFAULT"),
    ],
)
def test_given_each_accepted_shape_when_parsed_then_the_target_is_right(
    value: str, kind: str, channel: str | None
) -> None:
    target = parse_target(value, default_channel="C0DEFAULT")
    assert isinstance(target, SlackTarget)
    assert (target.kind, target.channel) == (kind, channel)
    assert "abc" not in repr(target) and "/x" not in repr(target)


def test_given_slack_sdk_debug_logging_turned_on_when_sending_then_its_lines_are_scrubbed(
    slack, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keywatch.adapters.slack import SDK_LOGGER

    monkeypatch.setattr(SDK_LOGGER, "level", logging.DEBUG)  # someone debugging in production
    caplog.set_level(logging.DEBUG)
    slack.always(Reply(500, "internal_error"))
    webhook_channel(slack).send(make_result("disable_key"))
    assert "Sending a request" in caplog.text  # slack-sdk did print its URL line...
    assert WEBHOOK_PATH.rsplit("/", 1)[-1] not in caplog.text  # ...without the secret
