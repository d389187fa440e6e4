"""Helpers the tests share (importable: pytest puts tests/ on sys.path, see pyproject.toml)."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    """A sample from events/, by the name after its order prefix: load_event("disable_key")."""
    matches = sorted(p for p in EVENTS.glob("*.json") if p.stem.split("_", 1)[-1] == name)
    if not matches:
        raise FileNotFoundError(f"no sample event named {name!r} in {EVENTS}")
    return json.loads(matches[0].read_text())


@dataclass
class FakeLambdaContext:
    """The LambdaContext attributes Powertools reads."""

    function_name: str = "keywatch-key-events"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:keywatch-key-events"
    aws_request_id: str = "00000000-0000-4000-8000-000000000001"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def load_function(name: str) -> Any:
    """Import functions/<name>/app.py the way Lambda does: as a top-level module named app."""
    spec = importlib.util.spec_from_file_location(f"{name}_app", ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
