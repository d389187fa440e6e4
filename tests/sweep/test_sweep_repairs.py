"""The sweep repairs what events left behind (issue 9): mount targets never put back on a key that is
Enabled again, an open incident whose action never reached its end state, a countdown that failed to send."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from keywatch.errors import HandlingIncomplete
from keywatch.models import Mode
from keywatch.parse import parse_event
from sweep_support import Sim

A = "111122223333"
R = "us-east-1"
APP_KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
BILLING_KEY = "0987dcba-09fe-87dc-65ba-ab0987654321"
APP_ARN = f"arn:aws:kms:{R}:{A}:key/{APP_KEY}"
FLEET = {
    "accounts": [
        {
            "id": A,
            "regions": {
                R: {
                    "keys": [
                        {"id": APP_KEY, "aliases": ["alias/app"]},
                        {"id": BILLING_KEY, "aliases": ["alias/billing"], "tags": {"keywatch:protect": "true"}},
                    ],
                    "file_systems": [
                        {
                            "name": "cut-me",
                            "key": APP_ARN,
                            "mount_targets": 2,
                            "tags": {"keywatch:on-key-loss": "unmount"},
                        },
                        {
                            "name": "keep",
                            "key": BILLING_KEY,
                            "mount_targets": 1,
                            "tags": {"keywatch:on-key-loss": "protect"},
                        },
                    ],
                }
            },
        }
    ]
}


def handle(s: Sim, raw: dict[str, Any]) -> Any:
    event = parse_event(raw)
    s.estate.apply(event)
    return s.watchdog.handle_event(event)


def throttled(*args: Any, **kwargs: Any) -> None:
    raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "CancelKeyDeletion")


def test_given_mount_targets_left_removed_on_an_enabled_key_with_no_open_incident_when_swept_then_restored(
    sim: Callable[..., Sim], event: Callable[[str], dict[str, Any]]
) -> None:
    s = sim(FLEET, Mode.ENFORCE)
    handle(s, event("disable_key"))
    assert s.mount_targets(A, R, "cut-me") == 0
    # The race: an EnableKey was handled while the unmount ran, found no record yet, and resolved the incident.
    s.estate.clients.client("kms", A, R).enable_key(KeyId=APP_KEY)
    incidents = s.watchdog.incidents
    current = incidents.current(APP_ARN)
    assert current is not None
    s.estate.clients.home_client("dynamodb", R).update_item(
        TableName="keywatch-incidents",
        Key={"pk": {"S": APP_ARN}, "sk": {"S": "incident"}},
        UpdateExpression="SET #s = :r",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":r": {"S": "resolved"}},
    )

    report = s.sweep()

    assert s.mount_targets(A, R, "cut-me") == 2
    assert incidents.snapshots(APP_ARN) == {}
    assert any(a.type == "restore_mount_targets" and a.status == "done" for r in report.results for a in r.actions)


def test_given_an_open_incident_whose_protect_failed_when_swept_then_the_action_is_driven_to_its_end(
    sim: Callable[..., Sim], event: Callable[[str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    s = sim(FLEET, Mode.ENFORCE)
    monkeypatch.setattr(s.watchdog.kms, "cancel_key_deletion", throttled)
    with pytest.raises(HandlingIncomplete):  # and Lambda's retries kept failing: it sits in the DLQ
        handle(s, event("schedule_key_deletion"))
    monkeypatch.undo()
    billing = f"arn:aws:kms:{R}:{A}:key/{BILLING_KEY}"
    assert s.watchdog.incidents.current(billing)["status"] == "open"

    s.sweep()

    kms = s.estate.clients.client("kms", A, R)
    assert kms.describe_key(KeyId=BILLING_KEY)["KeyMetadata"]["KeyState"] == "Enabled"
    statuses = [(a["type"], a["status"]) for a in s.watchdog.incidents.current(billing)["actions"]]
    assert ("cancel_key_deletion", "failed") in statuses and ("cancel_key_deletion", "done") in statuses


def test_given_a_countdown_whose_send_failed_when_swept_again_then_it_is_sent(
    sim: Callable[..., Sim], event: Callable[[str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from keywatch.adapters.sns import SnsPublisher

    s = sim(FLEET, Mode.NOTIFY)
    s.estate.clients.client("kms", A, R).schedule_key_deletion(KeyId=BILLING_KEY, PendingWindowInDays=7)

    def down(*args: Any, **kwargs: Any) -> str:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "down"}}, "Publish")

    with monkeypatch.context() as patch:
        patch.setattr(SnsPublisher, "publish", down)
        first = s.sweep()
    second = s.sweep()
    third = s.sweep()

    assert [n.status for c in first.countdowns for n in c.notifications if n.channel == "sns"] == ["failed"]
    assert [n.status for c in second.countdowns for n in c.notifications if n.channel == "sns"] == ["sent"]
    assert third.countdowns == []  # sent: claimed for good
