"""A role named like keywatch's remediation role must not hide a call that breaks a key.

KEYWATCH_WRITE_ROLE is a bare role name (keywatch-remediate) that matches in every account, and anyone
with iam:CreateRole can create a role with that name. keywatch only ever calls CancelKeyDeletion and
EnableKey, so only those may be ignored as its own.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from keywatch import assess, parse

EVENTS = Path(__file__).resolve().parents[2] / "events"
OWN_ROLES = ["arn:aws:iam::111122223333:role/keywatch/KeyEventsFunctionRole-ABC", "keywatch-remediate"]


def as_role(name: str, event_name: str, account: str = "444455556666") -> dict:
    envelope = json.loads((EVENTS / "03_schedule_key_deletion.json").read_text())
    event = copy.deepcopy(envelope)
    event["detail"]["eventName"] = event_name
    event["detail"]["userIdentity"] = {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:mallory",
        "accountId": account,
        "arn": f"arn:aws:sts::{account}:assumed-role/{name}/mallory",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "arn": f"arn:aws:iam::{account}:role/{name}",
                "accountId": account,
                "userName": name,
            }
        },
    }
    return event


@pytest.mark.parametrize(
    "event_name",
    ["ScheduleKeyDeletion", "DisableKey", "RevokeGrant", "RetireGrant", "DeleteImportedKeyMaterial", "PutKeyPolicy"],
)
@pytest.mark.parametrize("account", ["444455556666", "111122223333"])
def test_impostor_role_does_not_hide_a_breaking_call(event_name: str, account: str) -> None:
    event = parse.parse_event(as_role("keywatch-remediate", event_name, account))
    assert not assess.is_own_action(event, OWN_ROLES)
    verdict = assess.prefilter(event, OWN_ROLES)
    assert verdict is None or "keywatch's own" not in verdict.reason


@pytest.mark.parametrize("event_name", ["CancelKeyDeletion", "EnableKey"])
def test_keywatch_own_recovery_calls_are_still_recognised(event_name: str) -> None:
    event = parse.parse_event(as_role("keywatch-remediate", event_name))
    assert assess.is_own_action(event, OWN_ROLES)
