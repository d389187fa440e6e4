"""Dry run plans exactly what enforce does: the same actions, in the same order, with the same skips."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from keywatch.cli.simulator import Estate, Fleet, simulated_aws
from keywatch.config import Settings
from keywatch.models import FileSystem, KeyState, Mode, Outcome, Policy
from keywatch.parse import parse_event
from keywatch.remediate import plan, rehearse
from keywatch.runtime import build_watchdog
from support import EVENTS

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def fs(fs_id: str, policy: Policy, mounts: int = 2) -> FileSystem:
    return FileSystem(
        file_system_id=fs_id, account="111122223333", region="us-east-1", mount_targets=mounts, policy=policy
    )


def rehearsed(state: KeyState, *policies: Policy, has_incidents: bool = True) -> list[tuple[str, str]]:
    affected = [fs(f"fs-{i:017x}", p) for i, p in enumerate(policies)]
    planned = plan(Outcome.ALERT, state, KEY, affected)
    return [(a.type, a.status) for a in rehearse(planned, state, has_incidents)]


@pytest.mark.parametrize(
    "state, policies, expected",
    [
        # protect runs first and re-enables the key, so enforce keeps the mount targets: so does the plan
        (
            KeyState.DISABLED,
            (Policy.UNMOUNT, Policy.PROTECT),
            [("enable_key", "planned"), ("delete_mount_targets", "skipped")],
        ),
        (
            KeyState.PENDING_DELETION,
            (Policy.PROTECT, Policy.UNMOUNT),
            [("cancel_key_deletion", "planned"), ("enable_key", "planned"), ("delete_mount_targets", "skipped")],
        ),
        (KeyState.DISABLED, (Policy.UNMOUNT, Policy.NOTIFY), [("delete_mount_targets", "planned")]),
        # nothing can re-enable a key with no key material: the unmount goes ahead
        (KeyState.PENDING_IMPORT, (Policy.PROTECT, Policy.UNMOUNT), [("delete_mount_targets", "planned")]),
    ],
)
def test_given_a_plan_when_rehearsed_then_the_key_state_is_carried_through_as_enforce_would(
    state: KeyState, policies: tuple[Policy, ...], expected: list[tuple[str, str]]
) -> None:
    assert rehearsed(state, *policies) == expected


def test_given_no_incident_store_when_an_unmount_is_rehearsed_then_it_would_fail_as_enforce_does() -> None:
    planned = plan(Outcome.ALERT, KeyState.DISABLED, KEY, [fs("fs-00000000000000001", Policy.UNMOUNT)])

    [action] = rehearse(planned, KeyState.DISABLED, has_incidents=False)

    assert (action.status, action.detail) == ("failed", "would fail: no incident store to record the mount targets in")


def test_given_an_unknown_key_state_when_rehearsed_then_every_action_is_simply_planned() -> None:
    planned = plan(Outcome.ALERT, KeyState.DISABLED, KEY, [fs("fs-00000000000000001", Policy.PROTECT)])

    assert [(a.type, a.status) for a in rehearse(planned, None)] == [("enable_key", "planned")]


# --- the same events, dry-run beside enforce, on the demo estate ---------------------------------------

AS_ENFORCED = {"planned": "done", "skipped": "skipped", "failed": "failed"}


def replayed(mode: Mode, events: list[dict[str, Any]]) -> list[Any]:
    """The events on a fresh demo estate of their own."""
    with simulated_aws():
        estate = Estate.build(Fleet.load(EVENTS / "fleet.yaml"))
        watchdog = build_watchdog(estate.settings(Settings(mode=mode)), estate.clients)
        results = []
        for raw in events:
            parsed = parse_event(raw)
            estate.apply(parsed)
            results.append(watchdog.handle_event(parsed))
        return results


def test_given_the_demo_samples_when_replayed_in_dry_run_and_in_enforce_then_the_plan_is_what_enforce_did(
    event: Callable[[str], dict[str, Any]],
) -> None:
    events = [
        event(n) for n in ("disable_key", "schedule_key_deletion", "cancel_key_deletion", "disable_analytics_key")
    ]
    runs = {}
    for mode in (Mode.DRY_RUN, Mode.ENFORCE):
        results = runs[mode] = replayed(mode, events)
        if mode == Mode.DRY_RUN:
            # nothing changed: every key is still as the events left it, every mount target still there
            assert all(r.key_state_after == r.key_state for r in results)
            assert all(fs.mount_targets_after == fs.mount_targets for r in results for fs in r.affected)

    for dry, enforced in zip(runs[Mode.DRY_RUN], runs[Mode.ENFORCE], strict=True):
        assert [(a.type, a.target, AS_ENFORCED[a.status]) for a in dry.actions] == [
            (a.type, a.target, a.status) for a in enforced.actions
        ], dry.event_name
    first = runs[Mode.DRY_RUN][0]
    assert [(a.type, a.status) for a in first.actions] == [
        ("enable_key", "planned"),
        ("delete_mount_targets", "skipped"),
    ]
    assert first.actions[1].detail.startswith("would be skipped: ")
