"""A click on a button, from the function URL's request to the answer Slack waits for (3 seconds).

In order, and nothing before the first:
1. the signature (slack-sdk's ``SignatureVerifier``: HMAC-SHA256 of ``v0:timestamp:body`` with the
   signing secret; a timestamp more than 5 minutes away is refused) - anything else is 401;
2. the payload (``payload=<json>``, a ``block_actions`` on one of keywatch's buttons);
3. the approver: a Slack user ID on the allow-list, or a member of the approvers' user group;
   anyone else is told so (ephemeral) and the refusal is recorded;
4. the claim: a conditional update ``pending -> approved``, so each button works once; a second click,
   a replayed request or a stale message changes nothing, is told so, and is recorded;
5. the work: Acknowledge and the silences are done at once; an action is queued for the worker first
   (delayed past the endpoint's lease), then run here within a strict time budget, so that a quick one
   (a key re-enabled) is done before Slack's 3 seconds are up and anything longer is finished by the
   worker. The approval's state machine keeps it to once, whichever runs it;
6. the message is rewritten: who approved what, when, and the result.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs

from pydantic import BaseModel, ValidationError
from slack_sdk.signature import Clock, SignatureVerifier

from keywatch.adapters.approvals import ApprovalStore
from keywatch.adapters.slack import SlackConfigError, SlackDeliveryError, SlackTarget
from keywatch.adapters.slack_interactions import ApprovalQueue, SlackResponder
from keywatch.approvals.execute import ApprovedRunner, MessageUpdater
from keywatch.approvals.models import (
    ACTION_PREFIX,
    LABELS,
    Approval,
    ApprovedWork,
    BlockActions,
    Choice,
    Interaction,
    InteractionKind,
    SlackUser,
    parse_button_value,
)
from keywatch.config import Settings
from keywatch.notify import buttons
from keywatch.observability import logger, metrics
from keywatch.silences import Silence

MAX_BODY = 64 * 1024  # a block_actions payload with the whole message is well under this
INLINE_BUDGET_SECONDS = 1.5  # then the worker takes over: Slack wants its answer within 3 s
ENDPOINT_LEASE_SECONDS = 30  # longer than the endpoint's timeout (10 s)
QUEUE_DELAY_SECONDS = 35  # the worker looks after the endpoint's lease has run out


def queue_delay_seconds() -> int:
    return QUEUE_DELAY_SECONDS


@dataclass(frozen=True)
class Request:
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class Response:
    status: int
    body: str = ""


class FunctionUrlRequest(BaseModel):
    """What keywatch reads of a Lambda function URL event (payload 2.0): the rest is not needed, and a
    request is never refused for a field Slack's click does not depend on."""

    headers: dict[str, str] | None = None
    body: str | None = None
    isBase64Encoded: bool = False


def request_from_function_url(headers: Mapping[str, str] | None, body: str | None, is_base64: bool) -> Request | None:
    """The raw body exactly as Slack signed it (a function URL may hand it over base64-encoded)."""
    raw = body or ""
    try:
        data = base64.b64decode(raw, validate=True) if is_base64 else raw.encode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return Request({k.lower(): v for k, v in (headers or {}).items()}, data)


class _Clock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


class ClickHandler:
    def __init__(
        self,
        settings: Settings,
        store: ApprovalStore,
        signing_secret: Callable[[], str],
        responder: SlackResponder,
        slack_target: Callable[[], SlackTarget | None],
        runner: ApprovedRunner,
        queue: ApprovalQueue | None,
        clock: Callable[[], float] = time.time,
        budget_seconds: float | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self._signing_secret = signing_secret
        self.responder = responder
        self._slack_target = slack_target
        self.runner = runner
        self.queue = queue
        self._clock = clock
        self.budget_seconds = INLINE_BUDGET_SECONDS if budget_seconds is None else budget_seconds
        self.messages = MessageUpdater(store, responder, slack_target)

    # --- 1. the signature -----------------------------------------------------------------------------

    def verified(self, request: Request) -> bool:
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not timestamp.isdigit() or not signature.startswith("v0=") or len(request.body) > MAX_BODY:
            return False
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            return False
        verifier = SignatureVerifier(self._signing_secret(), clock=_Clock(self._clock))
        return verifier.is_valid(body=body, timestamp=timestamp, signature=signature)

    def handle(self, request: Request) -> Response:
        started = time.monotonic()
        try:
            valid = self.verified(request)
        except SlackConfigError as exc:
            logger.error("slack signing secret unusable", error=str(exc))
            return Response(500)
        if not valid:
            logger.warning("slack request refused: bad or stale signature")
            metrics.add_metric(name="SlackRequestRefused", unit="Count", value=1)
            return Response(401)

        # --- 2. the payload (only now: it is Slack's) ------------------------------------------------
        click = self._parse(request.body)
        if click is None:
            return Response(400)
        parsed = parse_button_value(click.button.value)
        if not click.button.action_id.startswith(ACTION_PREFIX) or parsed is None:
            logger.info("slack action ignored: not a keywatch button", action_id=click.button.action_id[:80])
            return Response(200)
        token, key_arn = parsed
        user, url = click.user, click.response_url

        # --- 3. the approver --------------------------------------------------------------------------
        allowed, why = self.allowed(user.id)
        approval = self.store.get(key_arn, token)
        choice = approval.choice if approval else None
        if not allowed:
            self._log(key_arn, "refused", user, choice, token, why)
            self._reply(url, f":no_entry: You are not allowed to approve keywatch actions ({why}). Nothing was done.")
            return Response(200)
        if approval is None:
            self._log(key_arn, "expired", user, None, token, "no such button (unknown or deleted record)")
            self._reply(url, ":warning: This button is not one keywatch knows any more. Nothing was done.")
            return Response(200)

        # --- 4. the claim ------------------------------------------------------------------------------
        now = int(self._clock())
        claimed = self.store.claim(key_arn, token, user.id, user.display, now, url)
        if claimed is None:
            self._refuse_repeat(approval, user, url, now)
            return Response(200)
        self._log(key_arn, "approved", user, claimed.choice, token, f"{LABELS[claimed.choice]} approved")

        # --- 5. the work, 6. the message -----------------------------------------------------------------
        if claimed.choice.changes_aws:
            self._act(claimed, started)
        else:
            self._triage(claimed, user, now)
        current = self.store.get(key_arn, token) or claimed
        how = self.messages.update(current, url)
        logger.info("slack click handled", choice=claimed.choice.value, status=current.status, message=how)
        return Response(200)

    def _parse(self, body: bytes) -> BlockActions | None:
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=5)
            return BlockActions.model_validate(json.loads(form["payload"][0]))
        except (ValueError, KeyError, IndexError, ValidationError) as exc:
            logger.warning("slack payload refused", error=type(exc).__name__)
            return None

    def allowed(self, user: str) -> tuple[bool, str]:
        if user in self.settings.approvers:
            return True, "on the allow-list"
        group = self.settings.approver_group
        if group:
            try:
                target = self._slack_target()
                if target is None or not target.threads:
                    return False, f"the approvers' group {group} can only be read with a bot token"
                if user in self.responder.group_members(target, group):
                    return True, f"member of {group}"
            except (SlackDeliveryError, SlackConfigError) as exc:
                logger.warning("approvers' group unreadable", group=group, error=str(exc))
                return False, f"the approvers' group {group} could not be read"
            return False, f"not on the allow-list nor in the group {group}"
        if not self.settings.approvers:
            return False, "no approvers are configured"
        return False, "not on the allow-list"

    def _refuse_repeat(self, approval: Approval, user: SlackUser, url: str | None, now: int) -> None:
        current = self.store.get(approval.key_arn, approval.token) or approval
        if current.status == "pending" and current.valid_until <= now:
            self._log(approval.key_arn, "expired", user, approval.choice, approval.token, "button expired")
            when = datetime.fromtimestamp(current.valid_until, UTC).strftime("%Y-%m-%d %H:%M UTC")
            self._reply(url, f":hourglass: This button expired at {when}. Nothing was done.")
            return
        by = current.by_name or current.by_user or "someone"
        at = datetime.fromtimestamp(current.approved_at or now, UTC).strftime("%Y-%m-%d %H:%M UTC")
        detail = f"already decided by {current.by_user} at {at} (status {current.status})"
        self._log(approval.key_arn, "repeat", user, approval.choice, approval.token, detail)
        self._reply(
            url,
            f":information_source: {LABELS[approval.choice]} was already approved by {by} at {at} "
            f"({current.status}). Each button works once: nothing was done again.",
        )

    def _act(self, approval: Approval, started: float) -> None:
        queued = False
        if self.queue is not None:
            try:
                body = ApprovedWork(key_arn=approval.key_arn, token=approval.token).model_dump_json()
                self.queue.send(body, delay_seconds=queue_delay_seconds())
                queued = True
            except Exception as exc:  # noqa: BLE001 - then it runs here, without a time limit
                logger.warning("approved action not queued; running it here", error=type(exc).__name__)
        deadline = started + self.budget_seconds if queued else None
        outcome = self.runner.run(approval, deadline=deadline)
        if outcome.state == "retry" and not queued:
            # Nothing else will pick it up: record it as failed, with why, for a person to click again.
            current = outcome.approval or approval
            self.runner.store.progress(
                current.key_arn, current.token, "failed", outcome.results, f"{current.summary}; not retried"
            )

    def _triage(self, approval: Approval, user: SlackUser, now: int) -> None:
        seconds = approval.choice.silence_seconds
        kind: InteractionKind
        if seconds is None:
            summary, kind = "acknowledged", "acknowledged"
        else:
            until = now + seconds
            self.store.silence(
                Silence(key_arn=approval.key_arn, until=until, set_by=user.id, set_by_name=user.display, set_at=now)
            )
            summary = (
                f"alerts on this key are not sent until {datetime.fromtimestamp(until, UTC):%Y-%m-%d %H:%M} UTC "
                "(deletion countdowns still are)"
            )
            kind = "silenced"
        self.store.progress(approval.key_arn, approval.token, "done", [], summary)
        self._log(approval.key_arn, kind, user, approval.choice, approval.token, summary)

    def _log(
        self, key_arn: str, kind: InteractionKind, user: SlackUser, choice: Choice | None, token: str, detail: str
    ) -> None:
        self.store.log(
            Interaction(
                key_arn=key_arn,
                at=int(self._clock()),
                kind=kind,
                user=user.id,
                user_name=user.display,
                choice=choice,
                token=token,
                detail=detail[:1000],
            )
        )
        logger.info("slack interaction", kind=kind, user=user.id, choice=choice.value if choice else None)

    def _reply(self, url: str | None, text: str) -> None:
        if not url:
            return
        try:
            self.responder.respond(url, buttons.ephemeral(text))
        except (SlackDeliveryError, SlackConfigError) as exc:
            logger.warning("slack ephemeral reply failed", error=str(exc))
