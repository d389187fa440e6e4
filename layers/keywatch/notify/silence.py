"""Silences: while one lasts, alerts on its key are still reported and still open incidents, but not sent.

A silence is set from Slack ("Expected: silence this key for…") and cleared with
``keywatch silences --clear KEY``. Countdowns before a deletion date are always sent: the deletion is
irreversible. If the silence can't be read, the alert is sent: a state table never stands between an
event and its alert.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from keywatch.adapters.silences import SilenceStore
from keywatch.models import COUNTDOWN_EVENT, EventResult, NotificationResult, Outcome
from keywatch.notify.channels import Channel
from keywatch.observability import logger
from keywatch.silences import Silence


class SilenceGate:
    """Reads a key's silence once per result, whatever the number of channels."""

    def __init__(self, store: SilenceStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._last: tuple[str, Silence | None] | None = None

    def active(self, result: EventResult) -> Silence | None:
        if result.event_name == COUNTDOWN_EVENT or not result.key_arn:
            return None
        if result.outcome not in (Outcome.ALERT, Outcome.RESOLVED):
            return None
        cached = self._last
        if cached is not None and cached[0] == result.event_id:
            silence = cached[1]
        else:
            try:
                silence = self._store.silence_of(result.key_arn)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("silence unreadable; sending", key_arn=result.key_arn, error=str(exc))
                silence = None
            self._last = (result.event_id, silence)
        return silence if silence is not None and silence.until > self._clock() else None


class SilencedChannel:
    """A channel that holds back what a silence covers. Everything else is the inner channel's own
    (``revise``, its delivery log...): the wrapper is transparent to whoever looks past ``send``."""

    def __init__(self, inner: Channel, gate: SilenceGate) -> None:
        self.inner = inner
        self.name = inner.name
        self._gate = gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def send(self, result: EventResult) -> NotificationResult:
        silence = self._gate.active(result)
        if silence is None:
            return self.inner.send(result)
        until = datetime.fromtimestamp(silence.until, UTC).strftime("%Y-%m-%d %H:%M UTC")
        by = silence.set_by_name or silence.set_by
        logger.info("notification silenced", channel=self.name, key_arn=result.key_arn, until=until)
        return NotificationResult(
            channel=self.name,  # type: ignore[arg-type]
            status="skipped",
            detail=f"silenced until {until} by {by} ({silence.set_by}); the incident is still recorded",
        )


def silenced(channels: list[Channel], gate: SilenceGate) -> list[Channel]:
    return [SilencedChannel(channel, gate) for channel in channels]
