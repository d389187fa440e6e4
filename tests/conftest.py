"""Shared fixtures: sample events, simulated estates, and the real handler."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from support import EVENTS, load_event

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "keywatch")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


@pytest.fixture
def event() -> Callable[[str], dict[str, Any]]:
    return load_event


@pytest.fixture
def aws() -> Iterator[None]:
    """moto in-process with throwaway credentials."""
    from keywatch.cli.simulator import simulated_aws

    with simulated_aws():
        yield


@pytest.fixture
def make_estate(aws: None) -> Callable[..., Any]:
    """Build a simulated estate from a fleet dict (or the demo fleet when none is given)."""
    from keywatch.cli.simulator import Estate, Fleet

    def build(fleet: dict[str, Any] | None = None, **options: Any) -> Any:
        data = fleet if fleet is not None else yaml.safe_load((EVENTS / "fleet.yaml").read_text())
        return Estate.build(Fleet.model_validate(data), **options)

    return build


@pytest.fixture
def demo_estate(make_estate: Callable[..., Any]) -> Any:
    return make_estate()


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server on 127.0.0.1 (random free port), and an environment that points boto3 at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    try:
        yield endpoint
    finally:
        import requests

        requests.post(f"{endpoint}/moto-api/reset", timeout=10)
        server.stop()
