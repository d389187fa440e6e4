"""The index's pure part: how long entries live, what becomes an entry, and what counts as expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from keywatch.models import FileSystem, Policy
from keywatch.schedule import sweep_interval
from keywatch.sweep.index import entries_for, index_ttl, marker_for

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(
    ("schedule", "interval"),
    [
        (None, timedelta(hours=6)),  # the template's default
        ("rate(6 hours)", timedelta(hours=6)),
        ("rate(1 hour)", timedelta(hours=1)),
        ("rate(30 minutes)", timedelta(minutes=30)),
        ("rate(1 day)", timedelta(days=1)),
        ("rate(7 days)", timedelta(days=7)),
        ("cron(0 3 * * ? *)", timedelta(days=1)),  # daily at 03:00
        ("cron(0 */4 * * ? *)", timedelta(hours=4)),
        ("cron(15 * * * ? *)", timedelta(hours=1)),
        ("cron(0 6,18 * * ? *)", timedelta(days=1)),  # twice a day: erring long, a day
        ("cron(0 2 ? * MON *)", timedelta(days=7)),
        ("cron(0 2 1 * ? *)", timedelta(days=31)),
        ("cron(0 2 1 JAN ? *)", timedelta(days=366)),
    ],
)
def test_given_a_sweep_schedule_when_its_interval_is_read_then_it_is_the_longest_gap_it_allows(
    schedule: str | None, interval: timedelta
) -> None:
    assert sweep_interval(schedule) == interval


def test_given_a_schedule_when_the_ttl_is_derived_then_entries_live_two_intervals_and_at_least_an_hour() -> None:
    assert index_ttl("rate(6 hours)") == timedelta(hours=12)
    assert index_ttl("cron(0 3 * * ? *)") == timedelta(days=2)
    assert index_ttl("rate(5 minutes)") == timedelta(hours=1)


def test_given_text_that_is_no_schedule_when_read_then_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not an EventBridge schedule expression"):
        sweep_interval("every 6 hours")


def fs(fs_id: str, **extra: object) -> FileSystem:
    return FileSystem(file_system_id=fs_id, account="111122223333", region="us-east-1", **extra)  # type: ignore[arg-type]


def test_given_file_systems_when_entries_are_made_then_only_those_on_a_known_customer_key_with_their_details() -> None:
    systems = [
        fs("fs-1", name="app", encrypted=True, kms_key_id=ARN, mount_targets=2, policy=Policy.UNMOUNT),
        fs("fs-2", name="plain"),
        fs("fs-3", name="odd", encrypted=True, kms_key_id=ARN, policy_tag_invalid="unmonut"),
    ]
    key_of = {"fs-1": ARN.lower(), "fs-2": None, "fs-3": ARN.upper().replace("ARN:AWS:KMS", "arn:aws:kms")}

    entries = entries_for(systems, key_of, NOW, timedelta(hours=12), seen_by="sweep-2026-11-28")

    assert [e.file_system_id for e in entries] == ["fs-1", "fs-3"]
    first = entries[0]
    assert (first.key_arn, first.name, first.mount_targets, first.policy) == (ARN.lower(), "app", 2, Policy.UNMOUNT)
    assert first.expires_at == int((NOW + timedelta(hours=12)).timestamp())
    assert first.seen_by == "sweep-2026-11-28"
    assert entries[1].key_arn == ARN.lower()  # whatever case it came in, compared in lower case
    assert entries[1].policy_tag_invalid == "unmonut"


def test_given_an_entry_when_its_ttl_has_passed_then_it_is_not_live_even_before_dynamodb_deletes_it() -> None:
    [entry] = entries_for([fs("fs-1", encrypted=True, kms_key_id=ARN)], {"fs-1": ARN}, NOW, timedelta(hours=1))
    marker = marker_for("111122223333", "us-east-1", NOW, timedelta(hours=1), "sweep-x", 1)

    assert entry.live(NOW + timedelta(minutes=59)) and marker.live(NOW + timedelta(minutes=59))
    assert not entry.live(NOW + timedelta(hours=1, seconds=1))
    assert not marker.live(NOW + timedelta(hours=1, seconds=1))
