"""Slack interactivity: the signing secret, replies through ``response_url``, ``chat.update``, user groups,
and the approved-action queue.

The signing secret is a credential like the bot token: read through Powertools Parameters (cached for
5 minutes), registered for redaction, never logged. Slack calls made while a person waits for a click to
be acknowledged use short timeouts and few retries: Slack wants its answer within 3 seconds.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from keywatch.adapters.aws import AwsClients
from keywatch.adapters.slack import (
    SDK_LOGGER,
    ParameterTarget,
    RetryPolicy,
    SlackConfigError,
    SlackDeliveryError,
    SlackTarget,
    _check_url,
    retry_handlers,
)
from keywatch.adapters.sqs import _region_of
from keywatch.iam import needs
from keywatch.redaction import _SECRETS, redact

# A person is waiting: one retry on a dropped connection or a 5xx, then give up and say so.
INTERACTIVE = RetryPolicy(connection_retries=1, server_error_retries=1, rate_limit_retries=0, timeout=3)
GROUP_CACHE_SECONDS = 300


class SigningSecret(ParameterTarget):
    """The Slack app's signing secret: a plain string, or JSON with ``"signing_secret"`` (so that it can
    live in the same secret as the bot token)."""

    @needs("secretsmanager:GetSecretValue", scope="approve")
    def _from_secrets_manager(self, force: bool) -> str | bytes:
        return super()._from_secrets_manager(force)

    @needs("ssm:GetParameter", scope="approve")
    def _from_ssm(self, force: bool) -> str | bytes:
        return super()._from_ssm(force)

    def value(self, force: bool = False) -> str:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            raw = self._from_ssm(force) if self.is_ssm else self._from_secrets_manager(force)
        except GetParameterError as exc:
            raise SlackConfigError(f"cannot read the Slack signing secret ({self.describe()}): {redact(exc)}") from None
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
        text = text.strip()
        if text.startswith("{"):
            try:
                doc = json.loads(text)
            except ValueError:
                raise SlackConfigError("the Slack signing secret looks like JSON but does not parse") from None
            for item in doc.values() if isinstance(doc, dict) else ():
                if isinstance(item, str):
                    _SECRETS.add(item)
            found = doc.get("signing_secret") if isinstance(doc, dict) else None
            if not isinstance(found, str) or not found.strip():
                raise SlackConfigError(f'the {self.describe()} has no "signing_secret"')
            text = found.strip()
        if not text:
            raise SlackConfigError(f"the Slack signing secret ({self.describe()}) is empty")
        _SECRETS.add(text)
        return text


class SlackResponder:
    """Replies to a click (``response_url``), rewrites a message (``chat.update``), reads user groups."""

    def __init__(self, policy: RetryPolicy = INTERACTIVE) -> None:
        self._policy = policy
        self._groups: dict[tuple[SlackTarget, str], tuple[frozenset[str], float]] = {}
        self._lock = threading.Lock()

    def respond(self, response_url: str, payload: dict[str, Any]) -> None:
        """POST to the interaction's ``response_url``: an ephemeral reply, or ``replace_original``."""
        url = _check_url(response_url, "response_url")
        _SECRETS.add(url)  # it lets anyone post into the channel for 30 minutes
        client = WebhookClient(
            url, timeout=self._policy.timeout, logger=SDK_LOGGER, retry_handlers=retry_handlers(self._policy)
        )
        try:
            response = client.send_dict(payload)
        except Exception as exc:  # noqa: BLE001 - urllib raises many types; the text is redacted
            raise SlackDeliveryError(f"cannot reach Slack's response_url: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise SlackDeliveryError(
                f"Slack's response_url answered HTTP {response.status_code}: {(response.body or '')[:200]}"
            )

    def _web(self, target: SlackTarget) -> WebClient:
        return WebClient(
            token=target.secret,
            base_url=target.api_url,
            timeout=self._policy.timeout,
            logger=SDK_LOGGER,
            retry_handlers=retry_handlers(self._policy),
        )

    def update(self, target: SlackTarget, channel: str, ts: str, payload: dict[str, Any]) -> None:
        """``chat.update`` of a message the bot posted (any time, unlike response_url's 30 minutes)."""
        args = {k: v for k, v in payload.items() if k in ("text", "attachments", "blocks")}
        try:
            self._web(target).chat_update(channel=channel, ts=ts, **args)
        except SlackApiError as exc:
            code = str(exc.response.get("error") or "unknown_error") if exc.response is not None else "unknown_error"
            raise SlackDeliveryError(f"Slack chat.update failed: {code}", code=code) from None
        except Exception as exc:  # noqa: BLE001 - see respond()
            raise SlackDeliveryError(f"cannot reach Slack: {type(exc).__name__}: {exc}") from None

    def group_members(self, target: SlackTarget, group: str) -> frozenset[str]:
        """The user IDs in a user group (``usergroups.users.list``; the bot needs ``usergroups:read``)."""
        now = time.monotonic()
        with self._lock:
            cached = self._groups.get((target, group))
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            response = self._web(target).usergroups_users_list(usergroup=group)
        except SlackApiError as exc:
            code = str(exc.response.get("error") or "unknown_error") if exc.response is not None else "unknown_error"
            raise SlackDeliveryError(f"Slack usergroups.users.list failed: {code}", code=code) from None
        except Exception as exc:  # noqa: BLE001 - see respond()
            raise SlackDeliveryError(f"cannot reach Slack: {type(exc).__name__}: {exc}") from None
        members = frozenset(str(u) for u in response.get("users") or [])
        with self._lock:
            self._groups[(target, group)] = (members, now + GROUP_CACHE_SECONDS)
        return members


class ApprovalQueue:
    """The approved-action queue: the worker finishes what the endpoint could not within Slack's 3 seconds."""

    def __init__(self, clients: AwsClients, queue_url: str) -> None:
        self._clients = clients
        self.queue_url = queue_url
        self._region = _region_of(queue_url) or clients.home_region

    @needs("sqs:SendMessage", scope="approve")
    def send(self, body: str, delay_seconds: int = 0) -> None:
        self._clients.home_client("sqs", self._region).send_message(
            QueueUrl=self.queue_url, MessageBody=body, DelaySeconds=max(0, min(900, delay_seconds))
        )
