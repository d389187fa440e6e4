"""The plan is pure: outcome + key state + tags -> actions. No AWS here."""

from __future__ import annotations

import pytest
from keywatch.models import FileSystem, Outcome, Policy
from keywatch.remediate import ACTIONS, plan

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def fs(name: str, policy: Policy, mount_targets: int = 2) -> FileSystem:
    return FileSystem(
        file_system_id=f"fs-{name}",
        name=name,
        account="111122223333",
        region="us-east-1",
        kms_key_id=KEY,
        encrypted=True,
        mount_targets=mount_targets,
        policy=policy,
    )


def types(planned: list) -> list[tuple[str, str]]:
    return [(p.type, p.target) for p in planned]


def test_given_protect_and_pending_deletion_when_planned_then_cancel_then_enable() -> None:
    planned = plan(Outcome.ALERT, "PendingDeletion", KEY, [fs("a", Policy.PROTECT)])
    assert types(planned) == [("cancel_key_deletion", KEY), ("enable_key", KEY)]


def test_given_protect_and_replica_deletion_when_planned_then_cancel_then_enable() -> None:
    planned = plan(Outcome.ALERT, "PendingReplicaDeletion", KEY, [fs("a", Policy.PROTECT)])
    assert types(planned) == [("cancel_key_deletion", KEY), ("enable_key", KEY)]


def test_given_protect_and_disabled_key_when_planned_then_only_enable() -> None:
    assert types(plan(Outcome.ALERT, "Disabled", KEY, [fs("a", Policy.PROTECT)])) == [("enable_key", KEY)]


@pytest.mark.parametrize("state", ["PendingImport", "Deleted", "Enabled"])
def test_given_protect_and_a_state_keywatch_cannot_fix_when_planned_then_no_key_action(state: str) -> None:
    assert plan(Outcome.ALERT, state, KEY, [fs("a", Policy.PROTECT)]) == []


def test_given_unmount_when_key_unusable_then_delete_mount_targets_of_those_file_systems_only() -> None:
    affected = [fs("a", Policy.UNMOUNT), fs("b", Policy.NOTIFY), fs("c", Policy.UNMOUNT, mount_targets=0)]
    assert types(plan(Outcome.ALERT, "Disabled", KEY, affected)) == [("delete_mount_targets", "fs-a")]


def test_given_both_policies_when_planned_then_key_is_protected_before_access_is_cut() -> None:
    planned = plan(Outcome.ALERT, "PendingDeletion", KEY, [fs("u", Policy.UNMOUNT), fs("p", Policy.PROTECT)])
    assert [p.type for p in planned] == ["cancel_key_deletion", "enable_key", "delete_mount_targets"]


def test_given_grant_revoked_with_key_enabled_when_planned_then_nothing_is_changed() -> None:
    assert plan(Outcome.ALERT, "Enabled", KEY, [fs("u", Policy.UNMOUNT), fs("p", Policy.PROTECT)]) == []


def test_given_recovery_when_planned_then_restore_only_recorded_file_systems() -> None:
    affected = [fs("a", Policy.UNMOUNT), fs("b", Policy.UNMOUNT)]
    planned = plan(Outcome.RESOLVED, "Enabled", KEY, affected, restorable=[affected[1]])
    assert types(planned) == [("restore_mount_targets", "fs-b")]


def test_every_action_declares_permissions_the_code_declares() -> None:
    from keywatch.iam import declared

    for action in ACTIONS.values():
        assert action.permissions, action.type
        assert action.permissions <= declared(), action.type
