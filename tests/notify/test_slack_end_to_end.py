"""End to end: sample events through the real handler code on the simulated estate, Slack on 127.0.0.1."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from keywatch.cli import main
from keywatch.config import Settings
from keywatch.errors import HandlingIncomplete
from keywatch.parse import parse_event
from keywatch.runtime import build_watchdog
from slack_support import EVENTS, WEBHOOK_PATH, FakeSlack, Reply, all_text, load_sample


@pytest.fixture(autouse=True)
def log_stream_outlives_capsys() -> Iterator[None]:
    """The CLI points the Powertools logger at the sys.stderr of the moment, which capsys closes after
    each test; put the real one back so that the next test's CLI run can flush and replace it."""
    yield
    from keywatch.observability import logger

    for handler in logger.handlers:
        if hasattr(handler, "setStream"):
            handler.stream = sys.__stderr__


def replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    status = main(["replay", *args, "--json"])
    captured = capsys.readouterr()
    results = json.loads(captured.out)["results"] if captured.out.strip() else []
    return status, results, captured.err


def notes(result: dict[str, Any]) -> dict[str, str]:
    return {n["channel"]: n["status"] for n in result["notifications"]}


def test_given_a_scheduled_deletion_when_replayed_with_a_webhook_then_slack_gets_the_alert(
    slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    status, results, _ = replay(
        capsys, str(EVENTS / "03_schedule_key_deletion.json"), "--slack-webhook", slack.webhook_url
    )

    assert status == 0
    assert notes(results[0]) == {"sns": "sent", "slack": "sent"}
    assert len(slack.requests) == 1
    posted = all_text(slack.requests[0].body)
    fs_ids = [fs["file_system_id"] for fs in results[0]["affected"]]
    assert fs_ids and all(fs_id in posted for fs_id in fs_ids)
    assert all(f"#/file-systems/{fs_id}" in posted for fs_id in fs_ids)
    assert "0987dcba-09fe-87dc-65ba-ab0987654321" in posted and "kms/home?region=us-east-1#/kms/keys/" in posted
    assert "2026-12-28" in posted and "arn:aws:iam::111122223333:user/bob" in posted and "billing-reports" in posted


def test_given_slack_always_fails_when_replayed_then_slack_is_failed_sns_still_sent_and_exit_is_1(
    slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    slack.always(Reply(500, "internal_error"))
    status, results, err = replay(capsys, str(EVENTS / "01_disable_key.json"), "--slack-webhook", slack.webhook_url)

    assert status == 1  # a notification that failed is never a silent success
    [line] = [line for line in err.splitlines() if "slack notification failed" in line]
    assert line.startswith(f"keywatch: {EVENTS / '01_disable_key.json'}: ") and "HTTP 500" in line
    assert notes(results[0]) == {"sns": "sent", "slack": "failed"}
    slack_note = next(n for n in results[0]["notifications"] if n["channel"] == "slack")
    assert "HTTP 500" in slack_note["detail"]
    assert len(slack.requests) == 4  # one try and three retries, no more
    assert WEBHOOK_PATH not in json.dumps(results) and WEBHOOK_PATH not in err


def test_given_slack_cannot_be_reached_when_replayed_without_debug_then_one_plain_line_says_so_and_exit_is_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    with socket.socket() as closed:  # a port on 127.0.0.1 that nothing listens on: the connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    sample = str(EVENTS / "01_disable_key.json")

    status, results, err = replay(capsys, sample, "--slack-webhook", f"http://127.0.0.1:{port}/hook")

    assert status == 1
    assert notes(results[0]) == {"sns": "sent", "slack": "failed"}
    # slack-sdk logs each refused connection through keywatch's logger; without --debug none of it shows,
    # and the problem is told once, in words, naming the file
    [line] = err.splitlines()
    assert line.startswith(f"keywatch: {sample}: the slack notification failed: cannot reach Slack: ")


@pytest.mark.parametrize(
    "sample",
    [
        "07_retire_grant_by_efs.json",
        "12_disable_key_failed.json",
        "15_disable_unused_key.json",
        "11_put_key_policy.json",
    ],
)
def test_given_an_ignored_event_when_replayed_then_nothing_is_posted(
    slack: FakeSlack, capsys: pytest.CaptureFixture[str], sample: str
) -> None:
    status, results, _ = replay(capsys, str(EVENTS / sample), "--slack-webhook", slack.webhook_url)
    assert status == 0 and results[0]["outcome"] == "ignored"
    assert slack.requests == []


def test_given_an_incident_and_its_recovery_when_replayed_then_both_are_posted_in_order(
    slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    _, results, _ = replay(
        capsys,
        str(EVENTS / "01_disable_key.json"),
        str(EVENTS / "02_enable_key.json"),
        str(EVENTS / "01_disable_key.json"),
        "--slack-webhook",
        slack.webhook_url,
    )
    assert [r["outcome"] for r in results] == ["alert", "resolved", "duplicate"]
    assert len(slack.requests) == 2  # the duplicate event is not posted again
    assert "HIGH" in slack.requests[0].body["text"] and "RESOLVED" in slack.requests[1].body["text"]


def test_given_no_webhook_when_replayed_then_the_report_says_slack_was_skipped_and_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, results, _ = replay(capsys, str(EVENTS / "01_disable_key.json"))
    slack_note = next(n for n in results[0]["notifications"] if n["channel"] == "slack")
    assert slack_note["status"] == "skipped" and "not configured" in slack_note["detail"]


def test_given_a_plain_http_webhook_when_replayed_then_the_cli_refuses_it_without_echoing_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(
        [
            "replay",
            str(EVENTS / "01_disable_key.json"),
            "--slack-webhook",
            "http://hooks.example.com/services/T/B/leakme",
        ]
    )
    err = capsys.readouterr().err
    assert status == 2 and "https://" in err and "leakme" not in err


def test_given_the_secret_in_secrets_manager_when_the_handler_runs_twice_then_slack_gets_one_message(
    demo_estate: Any, slack: FakeSlack
) -> None:
    sm = demo_estate.clients.home_client("secretsmanager", "us-east-1")
    arn = sm.create_secret(Name="keywatch/slack", SecretString=json.dumps({"webhook_url": slack.webhook_url}))["ARN"]
    settings = demo_estate.settings(Settings(slack_secret=arn))
    event = parse_event(load_sample("disable_key"))
    demo_estate.apply(event)

    first = build_watchdog(settings, demo_estate.clients).handle_event(event)
    # A Lambda retry whose idempotency record was lost (it crashed after sending): the delivery
    # records in the incidents table stop a second message on either channel.
    retry = build_watchdog(settings.model_copy(update={"idempotency_table": None}), demo_estate.clients).handle_event(
        event
    )

    assert {n.channel: n.status for n in first.notifications} == {"sns": "sent", "slack": "sent"}
    assert {n.channel: n.status for n in retry.notifications} == {"sns": "skipped", "slack": "skipped"}
    assert all("already sent" in n.detail for n in retry.notifications)
    assert len(slack.requests) == 1
    assert demo_estate.clients.calls["secrets-manager:GetSecretValue"] >= 1


def test_given_sns_fails_when_the_handler_runs_then_slack_is_still_sent(demo_estate: Any, slack: FakeSlack) -> None:
    gone = demo_estate.settings(Settings()).topic_arn + "-deleted"
    settings = demo_estate.settings(Settings()).model_copy(update={"topic_arn": gone})
    event = parse_event(load_sample("schedule_key_deletion"))
    demo_estate.apply(event)

    with pytest.raises(HandlingIncomplete) as raised:  # so that the event is retried for SNS
        build_watchdog(settings, demo_estate.clients, slack_webhook=slack.webhook_url).handle_event(event)

    result = raised.value.result
    assert {n.channel: n.status for n in result.notifications} == {"sns": "failed", "slack": "sent"}
    assert raised.value.steps == ["notification by sns"]
    assert len(slack.requests) == 1
