"""The sweep fills the index: every account and Region it lists in full, then a marker; never a marker for a target
whose listing or writes failed (the event path keeps listing those live, and the worker's message is retried)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from index_support import KEY_ACCOUNT, REGION, USERS, new_container, organisation
from keywatch.adapters.index import IndexUnavailable, MemoryKeyIndex
from keywatch.fanout import targets_for
from keywatch.sweep import Sweeper, TargetFailed, sweep_target
from keywatch.sweep.index import IndexEntry


class RefusingIndex(MemoryKeyIndex):
    """The index, refusing writes for one account (a throttled table, as far as the sweep can tell)."""

    def __init__(self, refuse: str) -> None:
        super().__init__()
        self.refuse = refuse

    def put(self, entries: Sequence[IndexEntry]) -> None:
        if any(e.account == self.refuse for e in entries):
            raise IndexUnavailable("BatchWriteItem left 2 index entries unprocessed")
        super().put(entries)


@pytest.fixture
def estate(make_estate: Callable[..., Any]) -> Any:
    return make_estate(organisation(bystanders=1), index=False)


def test_given_writes_that_fail_for_one_account_when_swept_then_it_has_no_marker_and_the_others_do(
    estate: Any,
) -> None:
    watchdog = new_container(estate)
    watchdog.index = index = RefusingIndex(refuse=USERS[1])

    report = Sweeper(watchdog).run(targets_for(estate.fleet.account_ids, [REGION]))

    [error] = report.summary.errors
    assert (error.account, error.region) == (USERS[1], REGION) and "writing the index" in error.error
    assert {m.account for m in index.swept(REGION)} == set(estate.fleet.account_ids) - {USERS[1]}
    assert report.summary.indexed == len(index.entries) == 1 + 2 * 2 + 2  # central, two users, the bystander


def test_given_a_sweep_worker_whose_index_write_fails_when_it_runs_then_its_message_fails_to_be_retried(
    estate: Any,
) -> None:
    watchdog = new_container(estate)
    watchdog.index = RefusingIndex(refuse=USERS[0])
    [target] = targets_for([USERS[0]], [REGION], sweep_id="sweep-2026-11-29")

    with pytest.raises(TargetFailed, match="writing the index"):
        sweep_target(Sweeper(watchdog), target)


def test_given_many_file_systems_in_one_account_when_swept_then_every_one_is_written_and_counted_once(
    make_estate: Callable[..., Any],
) -> None:
    key = "1234abcd-12ab-34cd-56ef-1234567890ab"
    systems = [{"name": f"fs-{i:03d}", "key": key} for i in range(230)]  # three pages, three write chunks
    estate = make_estate(
        {"accounts": [{"id": KEY_ACCOUNT, "regions": {REGION: {"keys": [{"id": key}], "file_systems": systems}}}]},
        index=False,
    )
    watchdog = new_container(estate)
    watchdog.index = index = MemoryKeyIndex()

    report = Sweeper(watchdog).run(targets_for([KEY_ACCOUNT], [REGION]))

    assert report.summary.indexed == len(index.entries) == 230
    [marker] = index.markers.values()
    assert marker.file_systems == 230
    assert watchdog.clients.calls["efs:DescribeFileSystems"] == 3
