"""Shared fixtures: sample events, simulated estates, and the real handler."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "keywatch")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


def load_event(name: str) -> dict[str, Any]:
    """A sample from events/, by the name after its order prefix: load_event("disable_key")."""
    matches = sorted(p for p in EVENTS.glob("*.json") if p.stem.split("_", 1)[-1] == name)
    if not matches:
        raise FileNotFoundError(f"no sample event named {name!r} in {EVENTS}")
    return json.loads(matches[0].read_text())


@pytest.fixture
def event() -> Callable[[str], dict[str, Any]]:
    return load_event


@pytest.fixture
def aws() -> Iterator[None]:
    """moto in-process with throwaway credentials."""
    from keywatch.simulator import simulated_aws

    with simulated_aws():
        yield


@pytest.fixture
def make_estate(aws: None) -> Callable[..., Any]:
    """Build a simulated estate from a fleet dict (or the demo fleet when none is given)."""
    from keywatch.simulator import Estate, Fleet

    def build(fleet: dict[str, Any] | None = None) -> Any:
        data = fleet if fleet is not None else yaml.safe_load((EVENTS / "fleet.yaml").read_text())
        return Estate.build(Fleet.model_validate(data))

    return build


@pytest.fixture
def demo_estate(make_estate: Callable[..., Any]) -> Any:
    return make_estate()


def load_function(name: str) -> Any:
    """Import functions/<name>/app.py the way Lambda does: as a top-level module named app."""
    spec = importlib.util.spec_from_file_location(f"{name}_app", ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
