"""Delivery channels. Each one sends a result and says what happened; none stops another."""

from __future__ import annotations

import json
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from botocore.exceptions import BotoCoreError, ClientError

from keywatch.adapters.deliveries import DeliveryLog, DeliveryLogUnavailable
from keywatch.adapters.sns import SnsPublisher
from keywatch.models import EventResult, NotificationResult, Outcome
from keywatch.notify import text
from keywatch.observability import logger, metrics
from keywatch.redaction import redact

NOTIFIED_OUTCOMES = frozenset({Outcome.ALERT, Outcome.RESOLVED})
SLACK_NOT_CONFIGURED = "Slack is not configured (set KEYWATCH_SLACK_SECRET, or pass --slack-webhook)"


class UnconfiguredSlack:
    """Slack when no webhook or token is configured: reports ``skipped`` and never imports slack-sdk."""

    name = "slack"
    configured = False

    def send(self, result: EventResult) -> NotificationResult:
        return NotificationResult(channel="slack", status="skipped", detail=SLACK_NOT_CONFIGURED)


class Channel(Protocol):
    name: str

    def send(self, result: EventResult) -> NotificationResult: ...


SNS_MESSAGE_BUDGET = 240_000  # bytes; SNS takes 256 KiB, message attributes and the subject included


def _sns_size(body: str, document: dict[str, Any]) -> int:
    """What :meth:`SnsPublisher.publish` will send: the text twice and the JSON five times, JSON-encoded."""
    as_json = json.dumps(json.dumps(document, default=str))
    return 2 * len(json.dumps(body).encode()) + 5 * len(as_json.encode()) + 200


def _keep_items(body: str, keep: int) -> str:
    """The text with at most ``keep`` items ("  - ...") in each list, and "... and N more" after them."""
    out: list[str] = []
    run: list[str] = []
    for line in [*body.splitlines(), ""]:
        if line.startswith("  - "):
            run.append(line)
            continue
        if run:
            out += run[:keep]
            if len(run) > keep:
                out.append(f"  ... and {len(run) - keep} more (listed in the incident record)")
            run = []
        out.append(line)
    return "\n".join(out[:-1])


def fit_for_sns(result: EventResult) -> tuple[str, dict[str, Any]]:
    """The e-mail text and the JSON document of ``result``, summarised until they fit one SNS message.

    A key used by hundreds of file systems would otherwise make Publish fail ("Message too long")
    exactly when it matters. The first file systems and actions are kept, with a count of the rest
    (``affected_truncated`` / ``actions_truncated`` in the JSON, "... and more" in the text).
    """
    full_body, full_document = text.body(result), result.document()
    body, document = full_body, full_document
    keep = max(len(result.affected), len(result.actions))
    while _sns_size(body, document) > SNS_MESSAGE_BUDGET and keep > 1:
        keep //= 2
        document = dict(full_document)
        for field in ("affected", "actions"):
            if len(full_document[field]) > keep:
                document[field] = full_document[field][:keep]
                document[f"{field}_truncated"] = len(full_document[field]) - keep
        body = _keep_items(full_body, keep)
    # Still too long: a field itself is huge (a reason, a user agent...). Cap every string, then the text.
    limit = 4096
    while _sns_size(body, document) > SNS_MESSAGE_BUDGET and limit >= 64:
        document = _cap_strings(document, limit)
        body = _cap_text(body, SNS_MESSAGE_BUDGET // 8)
        limit //= 2
    return body, document


def _cap_text(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 40] + f" ... ({len(value) - limit + 40} more characters)"


def _cap_strings(value: Any, limit: int) -> Any:
    """``value`` with every string longer than ``limit`` characters cut (and saying so)."""
    if isinstance(value, str):
        return _cap_text(value, limit)
    if isinstance(value, dict):
        return {k: _cap_strings(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_cap_strings(v, limit) for v in value]
    return value


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
        body, document = fit_for_sns(result)
        try:
            message_id = self._publisher.publish(text.subject(result), body, document, attributes)
        except (ClientError, BotoCoreError) as exc:
            logger.warning("sns publish failed", topic_arn=self._publisher.topic_arn, error=str(exc))
            return NotificationResult(channel="sns", status="failed", detail=str(exc)[:300])
        return NotificationResult(channel="sns", status="sent", detail=f"message {message_id}")


def count_delivery(metric: str, channel: str) -> None:
    """Emit ``metric`` (Count 1: ``NotificationFailed`` or ``NotificationSkipped``) with the dimensions
    ``channel`` and ``service``, at once.

    Powertools' shared ``metrics`` gives one dimension set to every metric of an invocation, so a
    per-channel dimension needs an EMF blob of its own (same namespace and service as ``metrics``).
    The alarm sums the metric whatever its dimensions. Honours POWERTOOLS_METRICS_DISABLED.
    """
    provider = AmazonCloudWatchEMFProvider(namespace=metrics.provider.namespace, service=metrics.provider.service)
    provider.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    provider.add_dimension(name="channel", value=channel)
    provider.flush_metrics()


def count_failure(channel: str) -> None:
    count_delivery("NotificationFailed", channel)


LOG_ERRORS = (ClientError, BotoCoreError, DeliveryLogUnavailable)


class RecordedChannel:
    """A channel whose every delivery is recorded, so that nothing is sent twice and no failure is silent.

    - Only alerts and resolutions are sent; anything else is ``skipped`` without a word to anyone.
    - Before sending, the delivery ``(event id, channel)`` is claimed in the log (a conditional put).
      If it was already sent (a Lambda retry, a redelivered event), it is not sent again: ``skipped``.
      If another invocation holds a fresh claim, it is not sent now either, but that is ``failed``
      (and counted), so that the event is retried and the delivery made once the claim is stale.
    - If the log can't be read at all, the message is sent anyway: better twice than never.
    - The inner channel's own result is reported. An exception from it becomes ``failed``: one
      channel never stops another.
    - A failure is logged and counted (metric ``NotificationFailed``, dimension ``channel``), and the
      claim is released as ``failed`` so that a retry may send it. A skip of an alert or resolution
      (not configured, already sent) is counted as ``NotificationSkipped``.
    """

    def __init__(self, inner: Channel, log: DeliveryLog | None) -> None:
        self.inner = inner
        self.name = inner.name
        self._log = log
        self._sent: dict[str, str] = {}  # event ID -> the detail of its delivery made by an earlier attempt

    def revise(self, result: EventResult) -> NotificationResult | None:
        """After a retry changed what the result says: edit the message an earlier attempt sent, where the
        channel can (Slack with a bot token). Never a second message."""
        sent = self._sent.pop(result.event_id, None)
        revise = getattr(self.inner, "revise", None)
        if sent is None or revise is None:
            return None
        note: NotificationResult | None = revise(result, sent)
        return note

    def _note(self, status: str, detail: str) -> NotificationResult:
        return NotificationResult(channel=self.name, status=status, detail=detail)  # type: ignore[arg-type]

    def send(self, result: EventResult) -> NotificationResult:
        if result.outcome not in NOTIFIED_OUTCOMES:
            return self._note("skipped", f"nothing is sent for an {result.outcome.value} event")
        if not getattr(self.inner, "configured", True):
            count_delivery("NotificationSkipped", self.name)
            return self.inner.send(result)  # says why it is skipped; nothing to record

        log = self._log
        if log is not None:
            try:
                claim = log.claim(result.event_id, self.name)
            except LOG_ERRORS as exc:
                # Better twice than never: send without the record.
                logger.warning(
                    "delivery record unavailable",
                    channel=self.name,
                    event_id=result.event_id,
                    error=type(exc).__name__,
                )
                log = None
            else:
                if not claim.granted:
                    if claim.status == "sent":
                        self._sent[result.event_id] = claim.detail
                        count_delivery("NotificationSkipped", self.name)
                        return self._note("skipped", f"already sent at {claim.at} ({claim.detail})"[:300])
                    logger.warning(
                        "delivery claimed by another invocation; not sent now, retried",
                        channel=self.name,
                        event_id=result.event_id,
                        claimed_at=claim.at,
                    )
                    count_failure(self.name)
                    return self._note(
                        "failed",
                        f"not sent yet: another invocation has held the claim since {claim.at}; "
                        "the event is retried until it is sent",
                    )

        try:
            note = self.inner.send(result)
        except Exception as exc:  # noqa: BLE001 - a broken channel must not stop the others
            # No traceback: its frames could hold the channel's credentials. The text is scrubbed.
            logger.error(
                "notification channel raised",
                channel=self.name,
                event_id=result.event_id,
                error=f"{type(exc).__name__}: {redact(exc)}"[:500],
            )
            note = self._note("failed", f"{type(exc).__name__} in the {self.name} channel")

        if log is not None:
            try:
                log.complete(result.event_id, self.name, note.status, note.detail)
            except LOG_ERRORS as exc:
                logger.warning(
                    "delivery not recorded", channel=self.name, event_id=result.event_id, error=type(exc).__name__
                )
        if note.status == "failed":
            logger.warning("notification failed", channel=self.name, event_id=result.event_id, detail=note.detail)
            count_failure(self.name)
        elif note.status == "skipped":
            count_delivery("NotificationSkipped", self.name)
        return note


def recorded(channels: list[Channel], log: DeliveryLog | None) -> list[Channel]:
    """Wrap each channel in a :class:`RecordedChannel` sharing one delivery log."""
    return [RecordedChannel(channel, log) for channel in channels]
