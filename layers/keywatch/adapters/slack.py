"""Slack adapter: where to post (a secret read through Powertools Parameters) and the slack-sdk clients.

The secret's value is one of:
- an incoming webhook URL (``https://hooks.slack.com/services/...``);
- a bot token (``xoxb-...``), with the channel from ``KEYWATCH_SLACK_CHANNEL``;
- JSON: ``{"webhook_url": "..."}`` or ``{"token": "xoxb-...", "channel": "C0123456789"}``
  (optionally ``"api_url"``, e.g. ``https://slack-gov.com/api/`` for GovSlack).

The value is a credential. It is never logged, never put in an exception message or a report:
:func:`redact` scrubs every known secret (and anything shaped like a webhook URL or a token)
from text that leaves this module, and slack-sdk's own logger is given a level and a filter that
keep its debug lines (which print URLs) from ever being emitted.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    Jitter,
    RateLimitErrorRetryHandler,
    RetryHandler,
    RetryState,
)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.webhook import WebhookClient

from keywatch.adapters.aws import AwsClients
from keywatch.iam import needs
from keywatch.redaction import _SECRETS, redact

SLACK_API_URL = "https://slack.com/api/"
SECRET_MAX_AGE = 300  # seconds a fetched secret is reused (Powertools Parameters cache)
AUTH_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "no_service",
        "invalid_token",
        "action_prohibited",
    }
)
THREAD_ERRORS = frozenset({"thread_not_found", "message_not_found"})


class SlackConfigError(ValueError):
    """The Slack secret is missing, unreadable or not in a known shape. Never carries the value."""


class SlackDeliveryError(RuntimeError):
    """Slack did not take the message (after the retries). The message is already redacted."""

    def __init__(self, message: str, *, code: str | None = None, auth: bool = False) -> None:
        super().__init__(redact(message))
        self.code = code
        self.auth = auth


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


# slack-sdk prints URLs and bodies at DEBUG when its logger's own level is NOTSET; give it one.
SDK_LOGGER = logging.getLogger("keywatch.slack_sdk")
SDK_LOGGER.setLevel(logging.WARNING)
SDK_LOGGER.addFilter(_RedactingFilter())


# --- where to post ------------------------------------------------------------------------------


def _check_url(url: str, what: str) -> str:
    """HTTPS only; plain HTTP is accepted for a loopback address (a local test server)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname:
        try:
            if ipaddress.ip_address(parts.hostname).is_loopback:
                return url
        except ValueError:
            if parts.hostname == "localhost":
                return url
    raise SlackConfigError(f"the Slack {what} must be an https:// URL")


@dataclass(frozen=True)
class SlackTarget:
    """Where a message goes. ``secret`` is the webhook URL or the bot token; it is never printed."""

    kind: Literal["webhook", "token"]
    secret: str = field(repr=False)
    channel: str | None = None
    api_url: str = SLACK_API_URL

    def __post_init__(self) -> None:
        _SECRETS.add(self.secret)

    def __repr__(self) -> str:
        return f"SlackTarget(kind={self.kind!r}, channel={self.channel!r}, secret=[redacted])"

    @property
    def threads(self) -> bool:
        """Only the Web API (a bot token) can reply in a thread; incoming webhooks cannot."""
        return self.kind == "token"


def webhook_target(url: str) -> SlackTarget:
    url = url.strip()
    _SECRETS.add(url)
    return SlackTarget("webhook", _check_url(url, "webhook URL"))


def parse_target(value: str | bytes, default_channel: str | None = None) -> SlackTarget:
    """The secret's value, in any of the accepted shapes, as a :class:`SlackTarget`."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise SlackConfigError("the Slack secret is binary, not text") from None
    value = value.strip()
    _SECRETS.add(value)
    if value.startswith("{"):
        try:
            doc = json.loads(value)
        except ValueError:
            raise SlackConfigError("the Slack secret looks like JSON but does not parse") from None
        if not isinstance(doc, dict):
            raise SlackConfigError("the Slack secret's JSON must be an object")
        for secret in doc.values():
            if isinstance(secret, str):
                _SECRETS.add(secret)
        webhook = doc.get("webhook_url") or doc.get("url")
        token = doc.get("token") or doc.get("bot_token")
        channel = doc.get("channel") or default_channel
        if isinstance(token, str) and token.strip():
            api_url = doc.get("api_url") or SLACK_API_URL
            return _token_target(token.strip(), channel, _check_url(str(api_url), "API URL"))
        if isinstance(webhook, str) and webhook.strip():
            return webhook_target(webhook)
        raise SlackConfigError('the Slack secret\'s JSON needs "webhook_url", or "token" and "channel"')
    if value.startswith(("xoxb-", "xoxp-")):
        return _token_target(value, default_channel, SLACK_API_URL)
    if value.startswith(("https://", "http://")):
        return webhook_target(value)
    raise SlackConfigError("the Slack secret is neither a webhook URL, a bot token (xoxb-...) nor JSON")


def _token_target(token: str, channel: object, api_url: str) -> SlackTarget:
    if not token.startswith(("xoxb-", "xoxp-")):
        raise SlackConfigError("the Slack token must be a bot token (xoxb-...) or a user token (xoxp-...)")
    if not isinstance(channel, str) or not channel.strip():
        raise SlackConfigError(
            'a Slack bot token needs a channel: add "channel" to the secret\'s JSON or set KEYWATCH_SLACK_CHANNEL'
        )
    return SlackTarget("token", token, channel.strip(), api_url if api_url.endswith("/") else api_url + "/")


class StaticTarget:
    """A target given directly (``keywatch replay --slack-webhook URL``)."""

    def __init__(self, target: SlackTarget) -> None:
        self._target = target

    def target(self, force: bool = False) -> SlackTarget:
        return self._target

    def describe(self) -> str:
        return f"{self._target.kind} given on the command line"


class ParameterTarget:
    """The target read from Secrets Manager (an ARN or name) or SSM Parameter Store (a name starting
    with ``/``), through Powertools Parameters: cached for ``max_age`` seconds, refetched on demand."""

    def __init__(
        self, clients: AwsClients, name: str, default_channel: str | None = None, max_age: int = SECRET_MAX_AGE
    ) -> None:
        self._clients = clients
        self.name = name
        self._default_channel = default_channel
        self._max_age = max_age
        self._providers: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def is_ssm(self) -> bool:
        return self.name.startswith("/")

    def describe(self) -> str:
        return f"SSM parameter {self.name}" if self.is_ssm else f"secret {self.name}"

    def _region(self) -> str:
        if self.name.startswith("arn:"):
            parts = self.name.split(":")
            if len(parts) > 3 and parts[3]:
                return parts[3]
        return self._clients.home_region

    def _provider(self, kind: str) -> Any:
        with self._lock:
            provider = self._providers.get(kind)
            if provider is None:
                service = "ssm" if kind == "ssm" else "secretsmanager"
                client = self._clients.home_client(service, self._region())
                provider = SSMProvider(boto3_client=client) if kind == "ssm" else SecretsProvider(boto3_client=client)
                self._providers[kind] = provider
            return provider

    @needs("secretsmanager:GetSecretValue", scope="notify")
    def _from_secrets_manager(self, force: bool) -> str | bytes:
        value: str | bytes = self._provider("secrets").get(self.name, max_age=self._max_age, force_fetch=force)
        return value

    @needs("ssm:GetParameter", scope="notify")
    def _from_ssm(self, force: bool) -> str | bytes:
        value: str | bytes = self._provider("ssm").get(
            self.name, max_age=self._max_age, decrypt=True, force_fetch=force
        )
        return value

    def target(self, force: bool = False) -> SlackTarget:
        """The current target; ``force`` refetches (after Slack said the credential is no longer good)."""
        try:
            value = self._from_ssm(force) if self.is_ssm else self._from_secrets_manager(force)
        except GetParameterError as exc:
            raise SlackConfigError(f"cannot read the Slack {self.describe()}: {redact(exc)}") from None
        if value is None:
            raise SlackConfigError(f"the Slack {self.describe()} is empty")
        return parse_target(value, self._default_channel)


# --- posting, with bounded retries ----------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before a channel reports ``failed``. Attempts share one counter in slack-sdk,
    so at most ``1 + max(retries)`` requests are made for one message."""

    connection_retries: int = 2
    server_error_retries: int = 3
    rate_limit_retries: int = 2
    backoff_factor: float = 0.5  # 0.5 s, 1 s, 2 s ...
    max_jitter: float = 1.0  # ... plus up to this much, at random
    max_retry_after: int = 30  # a longer Retry-After is not waited for: the Lambda would time out
    timeout: int = 10  # seconds per request


DEFAULT_RETRY = RetryPolicy()


class ServerErrorRetry(ServerErrorRetryHandler):
    """Retry every 5xx (slack-sdk's handler only retries 500 and 503)."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and 500 <= response.status_code <= 599


class BoundedRateLimitRetry(RateLimitErrorRetryHandler):
    """Honour 429 Retry-After (slack-sdk sleeps for it), unless it asks for longer than we can wait."""

    def __init__(self, max_retry_count: int, max_retry_after: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_retry_after = max_retry_after

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        for name, values in response.headers.items():
            if name.lower() == "retry-after":
                value = values[0] if isinstance(values, list) else values
                try:
                    return int(str(value).strip()) <= self.max_retry_after
                except ValueError:
                    return False
        return True  # no header: slack-sdk waits about a second


class _Jitter(Jitter):
    def __init__(self, most: float) -> None:
        self.most = most

    def recalculate(self, duration: float) -> float:
        return duration + random.uniform(0, self.most)


def retry_handlers(policy: RetryPolicy) -> list[RetryHandler]:
    backoff = BackoffRetryIntervalCalculator(backoff_factor=policy.backoff_factor, jitter=_Jitter(policy.max_jitter))
    return [
        ConnectionErrorRetryHandler(max_retry_count=policy.connection_retries, interval_calculator=backoff),
        ServerErrorRetry(max_retry_count=policy.server_error_retries, interval_calculator=backoff),
        BoundedRateLimitRetry(policy.rate_limit_retries, policy.max_retry_after),
    ]


@dataclass(frozen=True)
class Posted:
    channel: str | None = None
    ts: str | None = None


class SlackPoster:
    """Posts messages with slack-sdk. Clients are made once per target and reused."""

    def __init__(self, policy: RetryPolicy | None = None) -> None:
        self._policy = policy
        self._clients: dict[SlackTarget, Any] = {}
        self._lock = threading.Lock()

    @property
    def policy(self) -> RetryPolicy:
        return self._policy or DEFAULT_RETRY

    def _client(self, target: SlackTarget) -> Any:
        with self._lock:
            client = self._clients.get(target)
            if client is None:
                handlers = retry_handlers(self.policy)
                if target.kind == "webhook":
                    client = WebhookClient(
                        target.secret, timeout=self.policy.timeout, logger=SDK_LOGGER, retry_handlers=handlers
                    )
                else:
                    client = WebClient(
                        token=target.secret,
                        base_url=target.api_url,
                        timeout=self.policy.timeout,
                        logger=SDK_LOGGER,
                        retry_handlers=handlers,
                    )
                self._clients[target] = client
            return client

    def post(
        self,
        target: SlackTarget,
        payload: dict[str, Any],
        thread_ts: str | None = None,
        channel: str | None = None,
        reply_broadcast: bool = False,
    ) -> Posted:
        """Send one message. Raises :class:`SlackDeliveryError` (redacted) when Slack did not take it."""
        client = self._client(target)
        if target.kind == "webhook":
            return self._post_webhook(client, payload)
        args: dict[str, Any] = {**payload, "channel": channel or target.channel}
        if thread_ts:
            args["thread_ts"] = thread_ts
            if reply_broadcast:
                args["reply_broadcast"] = True
        try:
            response = client.chat_postMessage(**args)
        except SlackApiError as exc:
            code = str(exc.response.get("error") or "unknown_error") if exc.response is not None else "unknown_error"
            status = exc.response.status_code if exc.response is not None else "?"
            raise SlackDeliveryError(
                f"Slack chat.postMessage failed: HTTP {status}, {code}", code=code, auth=code in AUTH_ERRORS
            ) from None
        except Exception as exc:  # noqa: BLE001 - urllib raises many types; the text is redacted, the cause dropped
            raise SlackDeliveryError(f"cannot reach Slack: {type(exc).__name__}: {exc}") from None
        return Posted(channel=str(response.get("channel") or args["channel"]), ts=str(response.get("ts") or "") or None)

    def update(self, target: SlackTarget, channel: str, ts: str, payload: dict[str, Any]) -> None:
        """Replace a message posted earlier (Web API ``chat.update``; a bot token only). Raises
        :class:`SlackDeliveryError` (redacted) when Slack did not take it."""
        if target.kind != "token":
            raise SlackDeliveryError("an incoming webhook can't edit a message it posted")
        try:
            self._client(target).chat_update(**{**payload, "channel": channel, "ts": ts})
        except SlackApiError as exc:
            code = str(exc.response.get("error") or "unknown_error") if exc.response is not None else "unknown_error"
            raise SlackDeliveryError(f"Slack chat.update failed: {code}", code=code, auth=code in AUTH_ERRORS) from None
        except Exception as exc:  # noqa: BLE001 - see post()
            raise SlackDeliveryError(f"cannot reach Slack: {type(exc).__name__}: {exc}") from None

    @staticmethod
    def _post_webhook(client: WebhookClient, payload: dict[str, Any]) -> Posted:
        try:
            response = client.send_dict(payload)
        except Exception as exc:  # noqa: BLE001 - see post()
            raise SlackDeliveryError(f"cannot reach Slack: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            body = (response.body or "").strip()[:200]
            raise SlackDeliveryError(
                f"the Slack webhook answered HTTP {response.status_code}: {body}",
                code=body or None,
                auth=response.status_code in (401, 403, 404, 410) or body in AUTH_ERRORS,
            )
        return Posted()
