"""The Slack channel: a Block Kit message per result, threaded per key when a bot token is used."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from keywatch.adapters.deliveries import Thread, ThreadStore
from keywatch.adapters.slack import (
    THREAD_ERRORS,
    Posted,
    SlackConfigError,
    SlackDeliveryError,
    SlackPoster,
    SlackTarget,
)
from keywatch.models import EventResult, NotificationResult, Outcome
from keywatch.notify import blocks
from keywatch.notify.channels import SLACK_NOT_CONFIGURED as NOT_CONFIGURED
from keywatch.notify.channels import count_failure
from keywatch.observability import logger
from keywatch.redaction import redact

POSTED = re.compile(r"message (?P<ts>\d+\.\d+) in ")  # the detail _post records (the channel may be redacted)
if TYPE_CHECKING:
    from keywatch.approvals.issuer import ButtonIssuer, Issued


class TargetSource(Protocol):
    def target(self, force: bool = False) -> SlackTarget: ...
    def describe(self) -> str: ...


class SlackChannel:
    name = "slack"

    def __init__(
        self,
        source: TargetSource | None,
        threads: ThreadStore | None = None,
        poster: SlackPoster | None = None,
        clock: Callable[[], datetime] | None = None,
        buttons: ButtonIssuer | None = None,
    ) -> None:
        self._source = source
        self._threads = threads
        self._poster = poster or SlackPoster()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._buttons = buttons  # approve mode: the planned actions become buttons

    @property
    def configured(self) -> bool:
        return self._source is not None

    def _result(self, status: str, detail: str) -> NotificationResult:
        return NotificationResult(channel="slack", status=status, detail=redact(detail)[:300])  # type: ignore[arg-type]

    def send(self, result: EventResult) -> NotificationResult:
        if self._source is None:
            return self._result("skipped", NOT_CONFIGURED)
        if result.outcome not in (Outcome.ALERT, Outcome.RESOLVED):
            return self._result("skipped", f"nothing is posted for an {result.outcome.value} event")
        try:
            target = self._source.target()
        except SlackConfigError as exc:
            logger.warning("slack secret unusable", source=self._source.describe(), error=redact(exc))
            return self._result("failed", str(exc))

        payload = blocks.message(result, self._clock())
        problems = blocks.violations(payload)
        if problems:  # never expected: the builder keeps the limits; send something rather than nothing
            logger.error("slack message over limits", problems=problems[:5], event_id=result.event_id)
            payload = {
                "text": payload["text"],
                "attachments": [
                    {
                        "color": blocks.colour(result),
                        "fallback": payload["text"],
                        "blocks": payload["attachments"][0]["blocks"][:3],
                    }
                ],
            }
        issued, left_out = None, ""
        if self._buttons is not None:
            try:
                payload, issued = self._buttons.attach(result, payload)
            except (ClientError, BotoCoreError) as exc:  # the alert goes out all the same, without buttons
                logger.warning("approval buttons not issued", event_id=result.event_id, error=str(exc))
                left_out = f"; buttons left out, their records could not be written ({type(exc).__name__})"
        on_posted = None if issued is None else (lambda posted: self._remember_buttons(issued, posted))
        try:
            note = self._post(target, result, payload, on_posted)
        except SlackDeliveryError as exc:
            if not exc.auth:
                return self._result("failed", str(exc))
            # The credential may have been rotated since it was cached: fetch it again, try once more.
            try:
                fresh = self._source.target(force=True)
            except SlackConfigError as again:
                return self._result("failed", f"{exc}; reading the secret again failed: {again}")
            if fresh == target:
                return self._result("failed", str(exc))
            try:
                note = self._post(fresh, result, payload, on_posted)
            except SlackDeliveryError as second:
                return self._result("failed", str(second))
        if issued is not None and note.status == "sent":
            return self._result(note.status, f"{note.detail}, with {issued.buttons} approval buttons")
        return self._result(note.status, note.detail + left_out) if left_out else note

    def _remember_buttons(self, issued: Issued, posted: Posted) -> None:
        if self._buttons is None:
            return
        try:
            self._buttons.posted(issued, posted.channel, posted.ts)
        except (ClientError, BotoCoreError) as exc:  # response_url still updates the message
            logger.warning("approval message not recorded", set_id=issued.set_id, error=str(exc))

    def revise(self, result: EventResult, sent: str) -> NotificationResult | None:
        """A retry changed what the message it already posted says (an action failed there and is done
        now): edit that message in place with ``chat.update``. ``sent`` is the delivery's recorded detail.
        None when there is nothing that can be edited (an incoming webhook can't edit what it posted)."""
        where = POSTED.search(sent)
        if self._source is None or where is None:
            return None
        try:
            target = self._source.target()
            if not target.threads or not target.channel:
                return None
            self._poster.update(target, target.channel, where["ts"], blocks.message(result, self._clock()))
        except (SlackConfigError, SlackDeliveryError) as exc:
            # The alert itself was delivered: an edit that fails is counted, not retried (the next attempt
            # would find nothing new to edit in).
            logger.warning("slack message not updated", event_id=result.event_id, error=redact(exc))
            count_failure("slack")
            return self._result("sent", f"sent earlier; updating it with what the retry did failed: {exc}")
        return self._result("sent", f"message {where['ts']} updated with what the retry did")

    # --- posting and threading ----------------------------------------------------------------------

    def _thread(self, key_arn: str | None) -> Thread | None:
        if self._threads is None or key_arn is None:
            return None
        try:
            return self._threads.thread(key_arn)
        except (ClientError, BotoCoreError) as exc:
            logger.warning("slack thread unreadable; posting a new message", key_arn=key_arn, error=str(exc))
            return None

    def _post(
        self,
        target: SlackTarget,
        result: EventResult,
        payload: dict[str, Any],
        on_posted: Callable[[Posted], None] | None = None,
    ) -> NotificationResult:
        if not target.threads:
            posted = self._poster.post(target, payload)
            if on_posted is not None:
                on_posted(posted)
            return self._result("sent", "posted to the Slack incoming webhook")

        key_arn = result.key_arn
        thread = self._thread(key_arn)
        resolved = result.outcome == Outcome.RESOLVED
        try:
            posted = self._poster.post(
                target,
                payload,
                thread_ts=thread.ts if thread else None,
                channel=thread.channel if thread else None,
                reply_broadcast=resolved and thread is not None,
            )
        except SlackDeliveryError as exc:
            if thread is None or exc.code not in THREAD_ERRORS:
                raise
            # The thread's first message is gone: start again at the top of the channel.
            self._forget(key_arn)
            thread = None
            posted = self._poster.post(target, payload)

        self._remember(key_arn, result, thread, posted)
        if on_posted is not None:
            on_posted(posted)
        where = f"message {posted.ts} in {posted.channel}"
        return self._result("sent", f"{where}, in the thread of {thread.ts}" if thread else where)

    def _remember(self, key_arn: str | None, result: EventResult, thread: Thread | None, posted: Posted) -> None:
        if self._threads is None or key_arn is None:
            return
        try:
            if result.outcome == Outcome.RESOLVED:
                if thread is not None:
                    self._threads.close_thread(key_arn)
            elif thread is None and posted.ts and posted.channel:
                self._threads.save_thread(key_arn, Thread(channel=posted.channel, ts=posted.ts))
        except (ClientError, BotoCoreError) as exc:
            logger.warning("slack thread not recorded", key_arn=key_arn, error=str(exc))

    def _forget(self, key_arn: str | None) -> None:
        if self._threads is not None and key_arn is not None:
            try:
                self._threads.close_thread(key_arn)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("slack thread not cleared", key_arn=key_arn, error=str(exc))
