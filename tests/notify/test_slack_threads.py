"""Threading with a bot token: one Slack thread per incident on a key, against a local chat.postMessage."""

from __future__ import annotations

from typing import Any

import pytest
from keywatch.adapters.aws import AwsClients
from keywatch.adapters.deliveries import DynamoDeliveries, MemoryDeliveries, Thread
from keywatch.adapters.slack import StaticTarget, parse_target
from keywatch.cli.simulator import create_incidents_table
from keywatch.notify.slack import SlackChannel
from slack_support import NOW, TOKEN, FakeSlack, Reply, make_result

TABLE = "keywatch-incidents-test"


def bot(slack: FakeSlack, threads: Any) -> SlackChannel:
    target = parse_target(f'{{"token": "{TOKEN}", "channel": "C0ALERTS", "api_url": "{slack.api_url}"}}')
    return SlackChannel(StaticTarget(target), threads=threads, clock=lambda: NOW)


@pytest.fixture
def table(aws: None) -> DynamoDeliveries:
    clients = AwsClients(home_account="123456789012")
    create_incidents_table(clients.home_client("dynamodb", "us-east-1"), TABLE)
    return DynamoDeliveries(clients, TABLE, "us-east-1")


@pytest.fixture(params=["memory", "dynamodb"])
def threads(request: pytest.FixtureRequest) -> Any:
    return MemoryDeliveries() if request.param == "memory" else request.getfixturevalue("table")


def test_given_a_bot_token_when_a_second_message_is_about_the_same_key_then_it_goes_in_the_first_ones_thread(
    slack: FakeSlack, threads: Any
) -> None:
    channel = bot(slack, threads)
    first = channel.send(make_result("disable_key", event_id="evt-1"))
    second = channel.send(make_result("disable_key", event_id="evt-2"))  # e.g. actions taken, a countdown

    assert first.status == second.status == "sent"
    assert [r.path for r in slack.requests] == ["/api/chat.postMessage"] * 2
    opening, reply = (r.body for r in slack.requests)
    assert "thread_ts" not in opening and opening["channel"] == "C0ALERTS"
    assert reply["thread_ts"] == "1764392400.000001" and reply["channel"] == "C0ALERTS"
    assert "reply_broadcast" not in reply
    assert "in the thread of 1764392400.000001" in second.detail
    assert slack.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_given_an_open_thread_when_the_key_recovers_then_the_recovery_is_broadcast_in_it_and_the_thread_closes(
    slack: FakeSlack, threads: Any
) -> None:
    channel = bot(slack, threads)
    channel.send(make_result("disable_key", event_id="evt-1"))
    channel.send(make_result("enable_key"))
    channel.send(make_result("disable_key", event_id="evt-3"))  # a new incident on the same key

    _opening, recovery, new_incident = (r.body for r in slack.requests)
    assert recovery["thread_ts"] == "1764392400.000001" and recovery["reply_broadcast"] is True
    assert "thread_ts" not in new_incident
    key_arn = make_result("disable_key").key_arn
    assert threads.thread(key_arn) == Thread(channel="C0ALERTS", ts="1764392400.000003")


def test_given_different_keys_when_alerted_then_each_gets_its_own_thread(slack: FakeSlack, threads: Any) -> None:
    channel = bot(slack, threads)
    channel.send(make_result("disable_key"))
    channel.send(make_result("schedule_key_deletion"))
    assert all("thread_ts" not in r.body for r in slack.requests)


def test_given_the_threads_first_message_was_deleted_when_replying_then_a_new_thread_starts(
    slack: FakeSlack, threads: Any
) -> None:
    channel = bot(slack, threads)
    channel.send(make_result("disable_key", event_id="evt-1"))
    slack.then(Reply(200, {"ok": False, "error": "thread_not_found"}))
    note = channel.send(make_result("disable_key", event_id="evt-2"))

    assert note.status == "sent"
    assert [("thread_ts" in r.body) for r in slack.requests] == [False, True, False]
    assert threads.thread(make_result("disable_key").key_arn).ts == "1764392400.000002"


def test_given_a_webhook_when_messages_follow_then_no_thread_is_attempted(slack: FakeSlack) -> None:
    threads = MemoryDeliveries()
    channel = SlackChannel(StaticTarget(parse_target(slack.webhook_url)), threads=threads)
    channel.send(make_result("disable_key"))
    channel.send(make_result("disable_key", event_id="evt-2"))
    assert all("thread_ts" not in r.body for r in slack.requests)
    assert threads.threads == {}


def test_given_the_dynamodb_thread_record_when_read_then_it_has_ts_and_channel(
    slack: FakeSlack, table: DynamoDeliveries
) -> None:
    bot(slack, table).send(make_result("disable_key"))
    key_arn = make_result("disable_key").key_arn
    db = AwsClients(home_account="123456789012").home_client("dynamodb", "us-east-1")
    item = db.get_item(TableName=TABLE, Key={"pk": {"S": f"thread#{key_arn}"}, "sk": {"S": "slack"}})["Item"]
    assert item["ts"] == {"S": "1764392400.000001"} and item["channel"] == {"S": "C0ALERTS"}


def test_given_two_writers_when_both_open_a_thread_then_the_first_one_stands(table: DynamoDeliveries) -> None:
    assert table.save_thread("arn:k", Thread("C1", "1.1")) is True
    assert table.save_thread("arn:k", Thread("C1", "2.2")) is False
    assert table.thread("arn:k") == Thread("C1", "1.1")
    table.close_thread("arn:k")
    assert table.thread("arn:k") is None
