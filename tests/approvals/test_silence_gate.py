"""Silences, pure: what a silence holds back, what it never does, and a silence that can't be read."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from keywatch.adapters.approvals import MemoryApprovalStore
from keywatch.models import COUNTDOWN_EVENT, NotificationResult
from keywatch.notify.silence import SilencedChannel, SilenceGate
from keywatch.silences import Silence
from notify.slack_support import NOW, make_result

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


class Sent:
    name = "slack"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, result: Any) -> NotificationResult:
        self.sent.append(result.event_name)
        return NotificationResult(channel="slack", status="sent", detail="ok")


def channel(store: Any) -> tuple[SilencedChannel, Sent]:
    inner = Sent()
    return SilencedChannel(inner, SilenceGate(store, clock=lambda: NOW.timestamp())), inner


def silenced_store(until_offset: int) -> MemoryApprovalStore:
    store = MemoryApprovalStore()
    now = int(NOW.timestamp())
    store.silence(Silence(key_arn=KEY, until=now + until_offset, set_by="U0ALICE", set_at=now))
    return store


def test_given_an_active_silence_when_an_alert_comes_then_it_is_not_sent_and_says_until_when() -> None:
    silenced, inner = channel(silenced_store(3600))

    note = silenced.send(make_result("disable_key"))

    assert inner.sent == [] and note.status == "skipped" and "silenced until 2026-11-29 06:00 UTC" in note.detail


def test_given_an_active_silence_when_a_countdown_comes_then_it_is_always_sent() -> None:
    silenced, inner = channel(silenced_store(3600))

    note = silenced.send(make_result("schedule_key_deletion").model_copy(update={"event_name": COUNTDOWN_EVENT}))

    assert note.status == "sent" and inner.sent == ["Countdown"]


def test_given_an_expired_silence_when_an_alert_comes_then_it_is_sent() -> None:
    silenced, _ = channel(silenced_store(-1))

    assert silenced.send(make_result("disable_key")).status == "sent"


def test_given_the_silence_cannot_be_read_when_an_alert_comes_then_it_is_sent() -> None:
    class Broken(MemoryApprovalStore):
        def silence_of(self, key_arn: str) -> Silence | None:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "gone"}}, "GetItem")

    silenced, _ = channel(Broken())

    assert silenced.send(make_result("disable_key")).status == "sent", "a state table never gates an alert"
