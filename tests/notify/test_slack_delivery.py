"""Deliveries are recorded: nothing twice, nothing silently lost, one channel never stops another."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from keywatch.adapters.aws import AwsClients
from keywatch.adapters.deliveries import STALE_CLAIM_SECONDS, DynamoDeliveries, MemoryDeliveries
from keywatch.adapters.slack import StaticTarget, webhook_target
from keywatch.cli.simulator import create_incidents_table
from keywatch.models import EventResult, NotificationResult, Outcome
from keywatch.notify.channels import RecordedChannel, count_failure, recorded
from keywatch.notify.slack import SlackChannel
from slack_support import NOW, FakeSlack, Reply, make_result

TABLE = "keywatch-deliveries-test"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Counting:
    """A channel that counts what it is asked to send."""

    def __init__(self, name: str = "sns", status: str = "sent", raises: Exception | None = None) -> None:
        self.name = name
        self.status = status
        self.raises = raises
        self.sent: list[str] = []

    def send(self, result: EventResult) -> NotificationResult:
        self.sent.append(result.event_id)
        if self.raises:
            raise self.raises
        return NotificationResult(channel=self.name, status=self.status, detail=f"#{len(self.sent)}")  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def table_log(aws: None, clock: Clock) -> DynamoDeliveries:
    clients = AwsClients(home_account="123456789012")
    create_incidents_table(clients.home_client("dynamodb", "us-east-1"), TABLE)
    return DynamoDeliveries(clients, TABLE, "us-east-1", clock=clock)


@pytest.fixture(params=["memory", "dynamodb"])
def log(request: pytest.FixtureRequest, clock: Clock) -> Any:
    return MemoryDeliveries(clock=clock) if request.param == "memory" else request.getfixturevalue("table_log")


def test_given_a_delivery_that_went_out_when_the_same_event_is_handled_again_then_it_is_not_sent_twice(
    slack: FakeSlack, log: Any
) -> None:
    channel = RecordedChannel(SlackChannel(StaticTarget(webhook_target(slack.webhook_url)), clock=lambda: NOW), log)
    first = channel.send(make_result("disable_key"))
    again = channel.send(make_result("disable_key"))  # a Lambda retry of the same event

    assert first.status == "sent"
    assert again.status == "skipped" and "already sent" in again.detail
    assert len(slack.requests) == 1


def test_given_a_failed_delivery_when_the_event_is_retried_then_it_is_sent_then(slack: FakeSlack, log: Any) -> None:
    slack.then(*[Reply(500)] * 4)  # the first attempt and its three retries
    channel = RecordedChannel(SlackChannel(StaticTarget(webhook_target(slack.webhook_url))), log)
    assert channel.send(make_result("disable_key")).status == "failed"
    assert channel.send(make_result("disable_key")).status == "sent"
    assert channel.send(make_result("disable_key")).status == "skipped"
    assert len(slack.requests) == 5


def test_given_a_claim_in_progress_when_another_invocation_comes_then_it_waits_its_turn(log: Any, clock: Clock) -> None:
    assert log.claim("evt-1", "slack").granted
    assert not log.claim("evt-1", "slack").granted  # the first one is still sending
    clock.now += STALE_CLAIM_SECONDS + 1  # ...or it died: a Lambda cannot run this long
    assert log.claim("evt-1", "slack").granted


def test_given_the_record_per_channel_when_one_channel_sent_then_the_other_still_may(log: Any) -> None:
    sns, slack = Counting("sns"), Counting("slack")
    channels = recorded([sns, slack], log)
    result = make_result("disable_key")
    channels[0].send(result)
    assert channels[1].send(result).status == "sent"
    assert channels[0].send(result).status == "skipped"
    assert (sns.sent, slack.sent) == (["e1f2a3b4-0001-4c5d-8e9f-0a1b2c3d4e5f"],) * 2


def test_given_the_dynamodb_record_when_sent_then_it_is_keyed_by_event_and_channel(
    table_log: DynamoDeliveries,
) -> None:
    RecordedChannel(Counting("sns"), table_log).send(make_result("disable_key"))
    item = table_log._db.get_item(
        TableName=TABLE, Key={"pk": {"S": "delivery#e1f2a3b4-0001-4c5d-8e9f-0a1b2c3d4e5f"}, "sk": {"S": "sns"}}
    )["Item"]
    assert item["status"] == {"S": "sent"} and item["detail"] == {"S": "#1"} and "expires_at" in item


@pytest.mark.parametrize("outcome", [Outcome.IGNORED, Outcome.DUPLICATE])
def test_given_an_event_that_is_not_an_alert_when_delivered_then_nothing_is_sent(outcome: Outcome) -> None:
    inner = Counting()
    note = RecordedChannel(inner, MemoryDeliveries()).send(
        make_result("disable_key").model_copy(update={"outcome": outcome})
    )
    assert note.status == "skipped" and inner.sent == []


def test_given_one_channel_raises_when_delivering_then_the_other_still_sends(log: Any) -> None:
    broken, fine = Counting("slack", raises=RuntimeError("boom")), Counting("sns")
    notes = [c.send(make_result("disable_key")) for c in recorded([broken, fine], log)]
    assert [(n.channel, n.status) for n in notes] == [("slack", "failed"), ("sns", "sent")]
    assert "RuntimeError" in notes[0].detail


def test_given_the_record_store_is_down_when_delivering_then_the_message_still_goes_out() -> None:
    class Down:
        def claim(self, *_: Any) -> Any:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "PutItem")

        def complete(self, *_: Any) -> None:
            raise AssertionError("not called when the claim failed")

    inner = Counting()
    assert RecordedChannel(inner, Down()).send(make_result("disable_key")).status == "sent"
    assert len(inner.sent) == 1


def test_given_a_channel_that_is_not_configured_when_delivering_then_nothing_is_recorded() -> None:
    log = MemoryDeliveries()
    note = RecordedChannel(SlackChannel(None), log).send(make_result("disable_key"))
    assert note.status == "skipped" and log.deliveries == {}


def test_given_a_failure_when_metrics_are_on_then_notification_failed_is_emitted_per_channel(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    RecordedChannel(Counting("slack", status="failed"), MemoryDeliveries()).send(make_result("disable_key"))
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert len(blobs) == 1
    emf = blobs[0]
    assert emf["NotificationFailed"] == [1.0] or emf["NotificationFailed"] == 1.0
    assert emf["channel"] == "slack"
    spec = emf["_aws"]["CloudWatchMetrics"][0]
    assert spec["Namespace"] == "keywatch"
    assert [set(d) for d in spec["Dimensions"]] == [{"channel", "service"}]  # one series per failure: no double count


def test_given_metrics_are_disabled_when_a_failure_is_counted_then_nothing_is_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    count_failure("slack")
    assert '"_aws"' not in capsys.readouterr().out
