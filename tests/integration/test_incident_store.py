"""The incident store on DynamoDB (moto): every change is one conditional write, never read-modify-write."""

from __future__ import annotations

from keywatch.adapters.aws import AwsClients
from keywatch.adapters.incidents import DynamoIncidentStore
from keywatch.cli.simulator import create_incidents_table
from keywatch.models import ActionResult, Affected, EventResult, Outcome, Policy, Severity

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TABLE = "incidents"


def store(aws: None) -> DynamoIncidentStore:
    clients = AwsClients(home_account="123456789012")
    create_incidents_table(clients.home_client("dynamodb", "us-east-1"), TABLE)
    return DynamoIncidentStore(clients, TABLE, "us-east-1")


def alert(*fs_ids: str) -> EventResult:
    return EventResult(
        event_id="e1",
        event_name="DisableKey",
        key_arn=KEY,
        outcome=Outcome.ALERT,
        severity=Severity.HIGH,
        reason="The key is Disabled.",
        affected=[
            Affected(
                file_system_id=fs,
                account="111122223333",
                region="us-east-1",
                mount_targets=1,
                mount_targets_after=1,
                policy=Policy.NOTIFY,
            )
            for fs in fs_ids
        ],
    )


def test_given_an_incident_when_actions_are_appended_then_it_is_one_update_with_no_read_before_it(aws: None) -> None:
    """DynamoDB applies one UpdateItem atomically, so concurrent appends can't lose each other's actions
    (a read, a change and a write back would). moto applies updates without a lock, so the property is
    checked on the calls made, not by racing threads against moto."""
    incidents = store(aws)
    incidents.open(alert("fs-1"), "keywatch")
    calls = incidents._clients.calls
    calls.clear()

    for i in range(3):
        incidents.record_actions(
            KEY, [ActionResult(type="enable_key", target=KEY, status="failed", detail=f"writer {i}")], f"w{i}"
        )

    assert dict(calls) == {"dynamodb:UpdateItem": 3}
    assert [a["detail"] for a in incidents.current(KEY)["actions"]] == ["writer 0", "writer 1", "writer 2"]


def test_given_an_open_incident_when_another_event_hits_more_file_systems_then_they_are_added_not_replaced(
    aws: None,
) -> None:
    incidents = store(aws)
    incidents.open(alert("fs-1"), "keywatch")
    incidents.record_actions(KEY, [ActionResult(type="enable_key", target=KEY, status="done")], "keywatch")

    incidents.open(alert("fs-1", "fs-2"), "keywatch")

    current = incidents.current(KEY)
    assert [fs["file_system_id"] for fs in current["affected"]] == ["fs-1", "fs-2"]
    assert [a["status"] for a in current["actions"]] == ["done"]


def test_given_a_resolved_incident_when_the_key_breaks_again_then_a_new_one_opens_and_the_old_is_kept(
    aws: None,
) -> None:
    incidents = store(aws)
    incidents.open(alert("fs-1"), "keywatch")
    assert incidents.resolve(KEY, alert("fs-1"), "keywatch")
    assert not incidents.resolve(KEY, alert("fs-1"), "keywatch")  # once

    incidents.open(alert("fs-2"), "keywatch")

    every = incidents.list_all()
    assert [(i["sk"].split("#")[0], i["status"]) for i in every] == [("incident", "open"), ("resolved", "resolved")]
