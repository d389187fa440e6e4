"""Fixtures for approve mode: the local Slack, the estate, the signing secret, the real handlers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from approval_support import FLEET, SIGNING_SECRET, InteractiveSlack, endpoint_env
from keywatch.cli.simulator import HOME_REGION
from keywatch.config import Settings
from keywatch.models import Mode
from keywatch.runtime import build_watchdog


@pytest.fixture
def slack() -> Iterator[InteractiveSlack]:
    fake = InteractiveSlack().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    from keywatch.adapters import slack as adapter

    monkeypatch.setattr(adapter, "DEFAULT_RETRY", adapter.RetryPolicy(backoff_factor=0.01, max_jitter=0.0, timeout=5))
    for name in ("KEYWATCH_SLACK_SECRET", "KEYWATCH_SLACK_CHANNEL", "KEYWATCH_APPROVALS_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def estate(make_estate: Callable[..., Any]) -> Any:
    return make_estate(FLEET)


@pytest.fixture
def signing_secret_arn(estate: Any) -> str:
    sm = estate.clients.home_client("secretsmanager", HOME_REGION)
    return str(sm.create_secret(Name="keywatch/slack-signing", SecretString=SIGNING_SECRET)["ARN"])


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, estate: Any, signing_secret_arn: str) -> Callable[..., dict[str, str]]:
    """Set the endpoint's environment (extra variables as keyword arguments); returns it."""

    def apply(**extra: str) -> dict[str, str]:
        values = endpoint_env(estate, signing_secret_arn, **extra)
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return values

    apply()
    return apply


@pytest.fixture
def alert(estate: Any, slack: InteractiveSlack) -> Callable[..., Any]:
    """Handle an event in approve mode with Slack on the local webhook (or a bot token); the result."""

    def handle(event: Any, token: bool = False) -> Any:
        settings = estate.settings(Settings(mode=Mode.APPROVE))
        if token:
            sm = estate.clients.home_client("secretsmanager", HOME_REGION)
            import json

            secret = json.dumps({"token": "xoxb-1-2-approveTest", "channel": "C0ALERTS", "api_url": slack.api_url})
            arn = sm.create_secret(Name=f"keywatch/slack-{len(slack.requests)}", SecretString=secret)["ARN"]
            settings = settings.model_copy(update={"slack_secret": arn})
            dog = build_watchdog(settings, estate.clients)
        else:
            dog = build_watchdog(settings, estate.clients, slack_webhook=slack.webhook_url)
        estate.apply(event)
        return dog.handle_event(event)

    return handle


@pytest.fixture
def changes(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many times each changing call ran, in any process-local client (the real call still runs)."""
    from collections import Counter

    from keywatch.adapters.efs import MountTargetGateway
    from keywatch.adapters.kms import KmsGateway

    counts: Counter[str] = Counter()
    for owner, name in (
        (KmsGateway, "cancel_key_deletion"),
        (KmsGateway, "enable_key"),
        (MountTargetGateway, "delete"),
        (MountTargetGateway, "create"),
    ):
        real = getattr(owner, name)

        def spy(self: Any, *args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            counts[_name] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(owner, name, spy)
    return counts


@pytest.fixture
def queue(estate: Any, env: Callable[..., dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    """The approved-action queue, configured for the endpoint, with no delay (the test drives the worker)."""
    from keywatch.approvals import clicks

    monkeypatch.setattr(clicks, "QUEUE_DELAY_SECONDS", 0)
    sqs = estate.clients.home_client("sqs", HOME_REGION)
    url = sqs.create_queue(QueueName="keywatch-approved-actions")["QueueUrl"]
    env(KEYWATCH_APPROVALS_QUEUE_URL=url)
    return sqs, url


@pytest.fixture
def no_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The endpoint's time budget is spent before it starts: every action goes to the worker."""
    from keywatch.approvals import clicks

    monkeypatch.setattr(clicks, "INLINE_BUDGET_SECONDS", 0.0)
