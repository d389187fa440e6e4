"""Modes and policies on a simulated estate: what the report says, and what the estate looks like after."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from keywatch.config import Settings
from keywatch.errors import HandlingIncomplete
from keywatch.models import Mode, Outcome
from keywatch.parse import parse_event
from keywatch.runtime import build_watchdog

ACCOUNT = "111122223333"
REGION = "us-east-1"
APP_KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
APP_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{APP_KEY}"

FLEET = {
    "accounts": [
        {
            "id": ACCOUNT,
            "regions": {
                REGION: {
                    "keys": [{"id": APP_KEY, "aliases": ["alias/app"]}],
                    "file_systems": [
                        {
                            "name": "cut-me",
                            "key": "alias/app",
                            "mount_targets": 3,
                            "tags": {"keywatch:on-key-loss": "unmount"},
                        },
                        {
                            "name": "cut-me-too",
                            "key": APP_ARN,
                            "mount_targets": 2,
                            "tags": {"keywatch:on-key-loss": "unmount"},
                        },
                        {"name": "watch-me", "key": APP_KEY, "mount_targets": 1},
                    ],
                }
            },
        }
    ]
}

PROTECT_FLEET = {
    "accounts": [
        {
            "id": ACCOUNT,
            "regions": {
                REGION: {
                    "keys": [{"id": "0987dcba-09fe-87dc-65ba-ab0987654321"}],
                    "file_systems": [
                        {
                            "name": "keep-alive",
                            "key": "0987dcba-09fe-87dc-65ba-ab0987654321",
                            "mount_targets": 1,
                            "tags": {"keywatch:on-key-loss": "protect"},
                        }
                    ],
                }
            },
        }
    ]
}


@pytest.fixture
def run(make_estate: Callable[..., Any]) -> Callable[..., Any]:
    """Build an estate and a watchdog in a mode; return a function that applies and handles events."""

    def setup(fleet: dict[str, Any], mode: Mode) -> tuple[Any, Any, Callable[[dict[str, Any]], Any]]:
        estate = make_estate(fleet)
        watchdog = build_watchdog(estate.settings(Settings(mode=mode)), estate.clients)

        def handle(raw: dict[str, Any]) -> Any:
            event = parse_event(raw)
            estate.apply(event)
            return watchdog.handle_event(event)

        return estate, watchdog, handle

    return setup


def mount_target_count(estate: Any, name: str) -> int:
    fs_id = estate.file_system_ids[(ACCOUNT, REGION, name)]
    efs = estate.clients.client("efs", ACCOUNT, REGION)
    return len(efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"])


def key_state(estate: Any, key_id: str) -> str:
    kms = estate.clients.client("kms", ACCOUNT, REGION)
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]


def test_given_notify_mode_when_key_disabled_then_alert_and_nothing_changes(run, event) -> None:
    estate, _, handle = run(FLEET, Mode.NOTIFY)
    result = handle(event("disable_key"))
    assert result.outcome == Outcome.ALERT and result.actions == []
    assert mount_target_count(estate, "cut-me") == 3 and mount_target_count(estate, "cut-me-too") == 2
    assert key_state(estate, APP_KEY) == "Disabled"


def test_given_dry_run_when_key_disabled_then_actions_planned_and_nothing_changes(run, event) -> None:
    estate, _, handle = run(FLEET, Mode.DRY_RUN)
    result = handle(event("disable_key"))
    assert {(a.type, a.status) for a in result.actions} == {("delete_mount_targets", "planned")}
    assert len(result.actions) == 2
    assert mount_target_count(estate, "cut-me") == 3
    assert all(fs.mount_targets_after == fs.mount_targets for fs in result.affected)


def test_given_enforce_and_unmount_when_key_disabled_then_targets_recorded_deleted_and_restored_on_enable(
    run, event
) -> None:
    estate, watchdog, handle = run(FLEET, Mode.ENFORCE)
    fs_id = estate.file_system_ids[(ACCOUNT, REGION, "cut-me")]
    efs = estate.clients.client("efs", ACCOUNT, REGION)
    before = {(m["SubnetId"], m["IpAddress"]) for m in efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]}

    alert = handle(event("disable_key"))

    assert [(a.type, a.status) for a in alert.actions] == [("delete_mount_targets", "done")] * 2
    after = {fs.name: (fs.mount_targets, fs.mount_targets_after) for fs in alert.affected}
    assert after == {"cut-me": (3, 0), "cut-me-too": (2, 0), "watch-me": (1, 1)}
    assert mount_target_count(estate, "cut-me") == 0 and mount_target_count(estate, "watch-me") == 1
    snapshot = watchdog.incidents.snapshot(APP_ARN, fs_id)
    assert {(s.subnet_id, s.ip_address) for s in snapshot} == before
    assert all(s.security_groups and s.availability_zone for s in snapshot)

    recovered = handle(event("enable_key"))

    assert recovered.outcome == Outcome.RESOLVED
    assert [(a.type, a.status) for a in recovered.actions] == [("restore_mount_targets", "done")] * 2
    assert mount_target_count(estate, "cut-me") == 3 and mount_target_count(estate, "cut-me-too") == 2
    restored = {(m["SubnetId"], m["IpAddress"]) for m in efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]}
    assert restored == before
    assert watchdog.incidents.current(APP_ARN)["status"] == "resolved"


def test_given_enforce_and_protect_when_deletion_scheduled_then_key_is_enabled_again(run, event) -> None:
    estate, watchdog, handle = run(PROTECT_FLEET, Mode.ENFORCE)
    result = handle(event("schedule_key_deletion"))
    assert [(a.type, a.status) for a in result.actions] == [("cancel_key_deletion", "done"), ("enable_key", "done")]
    assert result.key_state == "PendingDeletion" and result.key_state_after == "Enabled"
    assert key_state(estate, "0987dcba-09fe-87dc-65ba-ab0987654321") == "Enabled"
    assert watchdog.incidents.current(result.key_arn)["status"] == "resolved"


def test_given_enforce_and_protect_when_cancel_arrives_then_enable_only(run, event) -> None:
    estate, _, handle = run(PROTECT_FLEET, Mode.ENFORCE)
    handle(event("schedule_key_deletion"))
    estate.clients.client("kms", ACCOUNT, REGION).disable_key(KeyId="0987dcba-09fe-87dc-65ba-ab0987654321")
    result = handle(event("cancel_key_deletion"))
    assert [(a.type, a.status) for a in result.actions] == [("enable_key", "done")]


def test_given_the_key_recovers_between_assessment_and_action_then_unmount_is_skipped(run, event) -> None:
    estate, watchdog, handle = run(FLEET, Mode.ENFORCE)
    original = watchdog.remediator.run

    def recover_first(*args: Any, **kwargs: Any) -> Any:
        estate.clients.client("kms", ACCOUNT, REGION).enable_key(KeyId=APP_KEY)  # someone fixes it meanwhile
        return original(*args, **kwargs)

    watchdog.remediator.run = recover_first
    result = handle(event("disable_key"))
    assert result.key_state == "Disabled"
    assert {(a.type, a.status) for a in result.actions} == {("delete_mount_targets", "skipped")}
    assert all("recovered" in a.detail for a in result.actions)
    assert mount_target_count(estate, "cut-me") == 3


def test_given_one_file_system_fails_then_the_others_are_still_handled(run, event) -> None:
    estate, watchdog, handle = run(FLEET, Mode.ENFORCE)
    broken = estate.file_system_ids[(ACCOUNT, REGION, "cut-me")]
    original = watchdog.mounts.delete

    def delete(fs: Any, mount_target_id: str) -> bool:
        if fs.file_system_id == broken:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "denied by SCP"}}, "DeleteMountTarget"
            )
        return original(fs, mount_target_id)

    watchdog.mounts.delete = delete
    with pytest.raises(HandlingIncomplete) as raised:
        handle(event("disable_key"))
    result = raised.value.result
    status = {a.target: (a.status, a.detail) for a in result.actions}
    assert status[broken][0] == "failed" and "AccessDeniedException" in status[broken][1]
    assert raised.value.steps == [f"delete_mount_targets on {broken}"]
    other = estate.file_system_ids[(ACCOUNT, REGION, "cut-me-too")]
    assert status[other][0] == "done"
    assert mount_target_count(estate, "cut-me-too") == 0


def test_given_a_duplicate_delivery_then_nothing_is_done_or_sent_again(run, event) -> None:
    estate, _, handle = run(FLEET, Mode.ENFORCE)
    first = handle(event("disable_key"))
    second = handle(event("disable_key"))
    assert first.outcome == Outcome.ALERT
    assert second.outcome == Outcome.DUPLICATE
    assert second.actions == [] and second.notifications == [] and second.affected == []
    assert estate.clients.calls["sns:Publish"] == 1


def test_given_mount_targets_removed_when_restored_by_hand_after_recovery_then_they_are_back(run, event) -> None:
    estate, watchdog, handle = run(FLEET, Mode.ENFORCE)
    handle(event("disable_key"))
    fs_id = estate.file_system_ids[(ACCOUNT, REGION, "cut-me")]

    refused = watchdog.restore(fs_id, [ACCOUNT], [REGION])
    assert [(a.type, a.status) for a in refused.actions] == [("restore_mount_targets", "skipped")]
    assert mount_target_count(estate, "cut-me") == 0

    estate.clients.client("kms", ACCOUNT, REGION).enable_key(KeyId=APP_KEY)  # recovery the events missed
    result = watchdog.restore(fs_id, [ACCOUNT], [REGION])
    assert [(a.type, a.status) for a in result.actions] == [("restore_mount_targets", "done")]
    assert mount_target_count(estate, "cut-me") == 3
    assert watchdog.restore(fs_id, [ACCOUNT], [REGION]).actions[0].status == "skipped"  # nothing left to restore


def test_given_keywatch_own_role_made_the_call_then_it_is_ignored(run, event) -> None:
    _, watchdog, handle = run(FLEET, Mode.ENFORCE)
    raw = event("enable_key")
    raw["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = (
        f"arn:aws:iam::{ACCOUNT}:role/{watchdog.settings.write_role}"
    )
    raw["detail"]["userIdentity"]["arn"] = f"arn:aws:sts::{ACCOUNT}:assumed-role/{watchdog.settings.write_role}/kw"
    result = handle(raw)
    assert result.outcome == Outcome.IGNORED and "own" in result.reason


def test_given_a_waiting_record_when_recorded_again_then_what_was_there_is_kept_and_the_new_one_merged_in(
    run, event
) -> None:
    from keywatch.models import MountTargetSpec

    _, watchdog, _ = run(FLEET, Mode.ENFORCE)
    first = [MountTargetSpec(mount_target_id="fsmt-1", subnet_id="subnet-a", ip_address="10.0.0.5")]
    changed = [MountTargetSpec(mount_target_id="fsmt-1", subnet_id="subnet-a", ip_address="10.0.0.99")]
    second = [MountTargetSpec(mount_target_id="fsmt-2", subnet_id="subnet-b")]

    assert [s.mount_target_id for s in watchdog.incidents.save_snapshot(APP_ARN, "fs-x", first)] == ["fsmt-1"]
    watchdog.incidents.save_snapshot(APP_ARN, "fs-x", changed)
    merged = watchdog.incidents.save_snapshot(APP_ARN, "fs-x", second)

    assert [(s.mount_target_id, s.ip_address) for s in merged] == [("fsmt-1", "10.0.0.5"), ("fsmt-2", None)]
    assert watchdog.incidents.snapshot(APP_ARN, "fs-x") == merged


def test_given_an_alert_then_the_incident_records_every_action_with_time_and_actor(run, event) -> None:
    _, watchdog, handle = run(FLEET, Mode.ENFORCE)
    handle(event("disable_key"))
    incident = watchdog.incidents.current(APP_ARN)
    assert incident["status"] == "open" and incident["event_name"] == "DisableKey"
    assert len(incident["affected"]) == 3
    assert [a["type"] for a in incident["actions"]] == ["delete_mount_targets"] * 2
    assert all(a["at"] and a["actor"] and a["status"] == "done" for a in incident["actions"])
