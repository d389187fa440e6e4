"""Enforce scales with the number of affected file systems (issue 12): a bounded pool, one look at the key per
batch (and again before a destructive call when that look is old), mount targets left counted from the deletes,
and every safety rule of issue 9 intact."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from keywatch import remediate
from keywatch.config import Settings
from keywatch.handoff import Budget
from keywatch.models import Mode
from keywatch.parse import parse_event
from keywatch.remediate import KeyCheck
from keywatch.runtime import build_watchdog
from test_unmount_safety import ACCOUNT, APP_ARN, APP_KEY, REGION, disable, live

COUNT = 12
BATCH = 5


def fleet(count: int) -> dict[str, Any]:
    unmount = {"keywatch:on-key-loss": "unmount"}
    return {
        "accounts": [
            {
                "id": ACCOUNT,
                "regions": {
                    REGION: {
                        "keys": [{"id": APP_KEY}],
                        "file_systems": [
                            {"name": f"cut-{i:02d}", "key": APP_ARN, "mount_targets": 1 + i % 2, "tags": unmount}
                            for i in range(count)
                        ],
                    }
                },
            }
        ]
    }


@pytest.fixture
def setup(make_estate: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, list[str]]:
    monkeypatch.setattr(remediate, "BATCH", BATCH)
    estate = make_estate(fleet(COUNT))
    watchdog = build_watchdog(estate.settings(Settings(mode=Mode.ENFORCE)), estate.clients)
    return estate, watchdog, [estate.file_system_ids[(ACCOUNT, REGION, f"cut-{i:02d}")] for i in range(COUNT)]


def test_given_many_file_systems_tagged_unmount_when_the_key_is_disabled_then_each_is_unmounted_and_recorded(
    setup: tuple[Any, Any, list[str]], event: Callable[[str], dict[str, Any]]
) -> None:
    estate, watchdog, file_systems = setup
    disabled = parse_event(event("disable_key"))
    estate.apply(disabled)  # AWS has disabled the key when the event arrives
    watchdog.clients.calls.clear()

    result = watchdog.handle_event(disabled)
    calls = dict(watchdog.clients.calls)

    assert sorted((a.target, a.status) for a in result.actions) == sorted((fs, "done") for fs in file_systems)
    assert all(live(estate, fs) == [] for fs in file_systems)
    assert set(watchdog.incidents.snapshots(APP_ARN)) == set(file_systems)
    assert {a.file_system_id: a.mount_targets_after for a in result.affected} == dict.fromkeys(file_systems, 0)
    batches = math.ceil(COUNT / BATCH)
    # the assessment reads the key once; then each batch once before and once after its deletes
    assert calls["kms:DescribeKey"] == 1 + 2 * batches < COUNT
    # the mount targets left are counted from the deletes' answers: one DescribeMountTargets per file system
    assert calls["efs:DescribeMountTargets"] == COUNT
    assert calls["efs:DeleteMountTarget"] == sum(1 + i % 2 for i in range(COUNT))


def test_given_the_key_recovers_after_the_batch_looked_when_a_delete_is_due_then_an_old_look_is_not_trusted(
    setup: tuple[Any, Any, list[str]], event: Callable[[str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    estate, watchdog, file_systems = setup
    monkeypatch.setattr(remediate, "RECHECK_SECONDS", 0.0)  # every look is already old by the next call
    original = watchdog.incidents.save_snapshot

    def record_then_someone_enables_the_key(*args: Any) -> Any:
        recorded = original(*args)
        estate.clients.client("kms", ACCOUNT, REGION).enable_key(KeyId=APP_KEY)  # an EnableKey, meanwhile
        return recorded

    watchdog.incidents.save_snapshot = record_then_someone_enables_the_key
    result = disable(estate, watchdog, event("disable_key"))

    assert {a.status for a in result.actions} == {"skipped"}
    assert all("the key has recovered" in a.detail for a in result.actions)
    assert any("recorded, none deleted" in a.detail for a in result.actions)  # looked again after recording
    assert [len(live(estate, fs)) for fs in file_systems] == [1 + i % 2 for i in range(COUNT)]


def test_given_a_look_at_the_key_when_it_is_recent_then_it_is_reused_and_when_old_it_is_read_again() -> None:
    reads: list[str] = []
    now = [0.0]

    def read() -> str:
        reads.append("read")
        return "Disabled"

    check = KeyCheck(read, max_age=5.0, clock=lambda: now[0])
    assert check.now() == "Disabled" and len(reads) == 1
    now[0] = 4.0
    assert check.recent() == "Disabled" and len(reads) == 1
    now[0] = 9.5
    assert check.recent() == "Disabled" and len(reads) == 2
    check.forget()
    assert check.recent() == "Disabled" and len(reads) == 3


def test_given_a_failed_look_at_the_key_when_asked_again_then_it_is_read_again_not_remembered() -> None:
    answers: list[str | Exception] = [RuntimeError("throttled"), "PendingDeletion"]

    def read() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    check = KeyCheck(read, max_age=60.0)
    with pytest.raises(RuntimeError):
        check.now()
    assert check.recent() == "PendingDeletion"


def test_given_the_time_left_when_a_batch_is_due_then_it_starts_only_if_the_slowest_batch_fits_before_the_reserve() -> (
    None
):
    left = [100.0]
    budget = Budget(lambda: left[0], reserve=20.0)
    assert budget.allows_another()  # nothing timed yet: a first batch fits in 80 s
    budget.took(30.0)
    left[0] = 60.0
    assert not budget.allows_another()  # 40 s before the reserve, the slowest batch times 1.5 needs 45
    left[0] = 66.0
    assert budget.allows_another()
