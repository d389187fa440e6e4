"""Snapshots of the Block Kit JSON for every kind of event keywatch posts.

The clock is frozen and the inputs are fixed (tests/notify/slack_support.py). A change to the
message shows up as a diff here; when the change is intended, regenerate the snapshots with

    KEYWATCH_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/notify/test_slack_snapshots.py

and review the diff of tests/notify/snapshots/ before committing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from keywatch.models import ActionResult
from keywatch.notify import blocks
from slack_support import KINDS, NOW, make_result

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("KEYWATCH_UPDATE_SNAPSHOTS") == "1"

ENFORCED_KEY = "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"
CASES = {
    **{kind: (kind, {}) for kind in KINDS},
    "schedule_key_deletion_enforced": (
        "schedule_key_deletion",
        {
            "state_after": "Enabled",
            "actions": [
                ActionResult(
                    type="cancel_key_deletion",
                    target=ENFORCED_KEY,
                    status="done",
                    detail="deletion cancelled; the key is Disabled until re-enabled",
                ),
                ActionResult(type="enable_key", target=ENFORCED_KEY, status="done", detail="key enabled"),
            ],
        },
    ),
}


def _check(name: str, payload: dict) -> None:
    path = SNAPSHOTS / f"{name}.json"
    rendered = json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if UPDATE or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"snapshot {path.name} did not exist and was written; review it and run again")
        return
    assert rendered == path.read_text(encoding="utf-8"), (
        f"the Slack message for {name} changed; if intended, run with KEYWATCH_UPDATE_SNAPSHOTS=1"
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_given_each_event_kind_when_built_then_the_block_kit_json_matches_its_snapshot(name: str) -> None:
    kind, overrides = CASES[name]
    payload = blocks.message(make_result(kind, **overrides), NOW)
    assert blocks.violations(payload) == []
    _check(name, payload)
