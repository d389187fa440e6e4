"""Delivery channels. Each one sends a result and says what happened; none stops another."""

from __future__ import annotations

from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError
from keywatch.adapters.sns import SnsPublisher
from keywatch.models import EventResult, NotificationResult
from keywatch.notify import text
from keywatch.observability import logger


class Channel(Protocol):
    name: str

    def send(self, result: EventResult) -> NotificationResult: ...


class SnsChannel:
    name = "sns"

    def __init__(self, publisher: SnsPublisher | None) -> None:
        self._publisher = publisher

    def send(self, result: EventResult) -> NotificationResult:
        if self._publisher is None:
            return NotificationResult(channel="sns", status="skipped", detail="no SNS topic is configured")
        attributes = {
            "severity": result.severity.value if result.severity else "none",
            "event_name": result.event_name,
            "account": (result.event.account if result.event else None) or "unknown",
            "outcome": result.outcome.value,
        }
        try:
            message_id = self._publisher.publish(text.subject(result), text.body(result), result.report(), attributes)
        except (ClientError, BotoCoreError) as exc:
            logger.warning("sns publish failed", topic_arn=self._publisher.topic_arn, error=str(exc))
            return NotificationResult(channel="sns", status="failed", detail=str(exc)[:300])
        return NotificationResult(channel="sns", status="sent", detail=f"message {message_id}")
