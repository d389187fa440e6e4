"""Fixtures for the notification tests: a fake Slack on 127.0.0.1, fast retries, deterministic results."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from keywatch.models import EventResult
from slack_support import FakeSlack, make_result


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same retry counts as production, without the seconds of backoff (429's Retry-After is still real)."""
    from keywatch.adapters import slack as adapter

    monkeypatch.setattr(adapter, "DEFAULT_RETRY", adapter.RetryPolicy(backoff_factor=0.01, max_jitter=0.0, timeout=5))


@pytest.fixture(autouse=True)
def no_slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KEYWATCH_SLACK_SECRET", "KEYWATCH_SLACK_CHANNEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def result() -> Callable[..., EventResult]:
    return make_result
