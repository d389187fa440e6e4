"""Fixtures for the fault-injection suite: a moto estate, a fake Slack, the deployed handler, faults."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fault_support import REGION, Deployed, Estate, Faults, instant_botocore_retries, template_environment
from notify.slack_support import FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Retry counts as in production (botocore's 8 attempts, slack-sdk's 3 retries), without the waits."""
    from keywatch.adapters import slack as adapter

    monkeypatch.setattr(adapter, "DEFAULT_RETRY", adapter.RetryPolicy(backoff_factor=0.001, max_jitter=0.0, timeout=5))
    with instant_botocore_retries(monkeypatch):
        yield


@pytest.fixture
def estate(aws: None, slack: FakeSlack) -> Estate:
    return Estate.build(slack.webhook_url)


@pytest.fixture
def environment(estate: Estate) -> dict[str, str]:
    return template_environment(
        estate.resources(),
        {"Mode": "enforce", "SlackSecretArn": estate.secret_arn, "SweepRegions": REGION},
    )


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]) -> Iterator[Deployed]:
    handler = Deployed(monkeypatch, environment)
    yield handler
    handler.cold_start()


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Faults:
    return Faults(monkeypatch)


@pytest.fixture
def backends() -> dict[str, Any]:
    """moto's backend classes, where the faults are injected."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.efs.models import EFSBackend
    from moto.kms.models import KmsBackend
    from moto.sns.models import SNSBackend

    return {"kms": KmsBackend, "efs": EFSBackend, "sns": SNSBackend, "dynamodb": DynamoDBBackend}
