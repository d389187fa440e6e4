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
