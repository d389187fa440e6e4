"""What the Lambda functions import: never the CLI (the layer leaves keywatch/cli/ out), and, when a KMS event
arrives in notify mode, nothing that only other events or modes use (their import is cold-start time)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "keywatch"
SHIPPED = [p for p in LAYER.rglob("*.py") if "cli" not in p.relative_to(LAYER).parts]
HANDLERS = sorted(ROOT.glob("functions/*/app.py"))


def _imports(path: Path) -> Iterator[tuple[str, int]]:
    """Every module a file imports, anywhere in it (inside functions too), except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for stmt in node.body
        for child in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno


@pytest.mark.parametrize("path", SHIPPED + HANDLERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_given_shipped_code_when_it_imports_then_never_the_cli_the_layer_leaves_out(path: Path) -> None:
    assert [line for name, line in _imports(path) if name == "keywatch.cli" or name.startswith("keywatch.cli.")] == []


# Loaded only by the events and modes that use them (approve mode, key-policy events, EFS events, the hand-off
# to the remediation queue, the sweep), and never Powertools Parser (importing its models builds all of them).
NOT_FOR_A_KMS_EVENT = (
    "keywatch.approvals",
    "keywatch.adapters.approvals",
    "keywatch.policy",
    "keywatch.efs_events",
    "keywatch.handoff",
    "keywatch.sweep",
    "keywatch.cli",
    "aws_lambda_powertools.utilities.parser",
    "slack_sdk",
)

CHILD = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
app = importlib.import_module("app")
from keywatch.adapters.aws import AwsClients
AwsClients.home_account = property(lambda self: "111122223333")
app.watchdog().register_lambda_context(None)
print(json.dumps(sorted(sys.modules)))
"""


def test_given_key_events_in_notify_mode_when_it_starts_then_it_loads_nothing_only_other_events_use() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWATCH_"))}
    env |= {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": "keywatch-key-events",
        "KEYWATCH_MODE": "notify",
        "KEYWATCH_INCIDENTS_TABLE": "incidents",
        "KEYWATCH_IDEMPOTENCY_TABLE": "idempotency",
        "KEYWATCH_INDEX_TABLE": "index",
        "KEYWATCH_SWEEP_SCHEDULE": "rate(6 hours)",
        "KEYWATCH_TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:alerts",
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT / "functions" / "key_events")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert [m for m in loaded if m.startswith(NOT_FOR_A_KMS_EVENT)] == []
    assert "keywatch.engine" in loaded and "keywatch.parse" in loaded  # it did start
