"""The key-to-file-system index, pure: what an entry holds, how long it lives, and what the event path
makes of it. No boto3 (the table is :mod:`keywatch.adapters.index`).

One entry per file system encrypted with a customer managed key, under the key's ARN (lower case, as
keywatch compares): its account, Region, ID, name, policy tag, mount-target count and when it was last
seen. A sweep writes every file system it lists and then a *marker* for its account and Region; EFS's own
events keep entries current between sweeps. Entries and markers expire two sweep intervals after they
were last written, so an account that is no longer swept drops out of the index by itself.

The event path trusts the index only to name candidates: each one is confirmed live before anything is
said or done about it, and the key's own account and Region are always listed live.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from keywatch.models import FileSystem, Policy
from keywatch.schedule import MIN_TTL, sweep_interval


class IndexEntry(BaseModel):
    """One file system on a customer managed key, as the sweep (or an EFS event) last saw it."""

    model_config = ConfigDict(frozen=True)

    key_arn: str  # lower case
    account: str
    region: str
    file_system_id: str
    name: str | None = None
    policy: Policy = Policy.NOTIFY
    policy_tag_invalid: str | None = None
    mount_targets: int = 0
    last_seen: datetime
    seen_by: str = "sweep"  # the sweep's ID, or the EFS event that refreshed the entry
    expires_at: int  # epoch seconds: DynamoDB's TTL attribute

    @property
    def where(self) -> tuple[str, str, str]:
        return self.account, self.region, self.file_system_id

    def live(self, now: datetime) -> bool:
        """DynamoDB deletes expired items lazily (within days): an expired entry is ignored, not trusted."""
        return self.expires_at > now.timestamp()


class SweptMarker(BaseModel):
    """A sweep listed every file system of this account and Region, and wrote them to the index."""

    model_config = ConfigDict(frozen=True)

    account: str
    region: str
    swept_at: datetime
    sweep_id: str | None = None
    file_systems: int = 0  # entries written for this account and Region
    expires_at: int

    def live(self, now: datetime) -> bool:
        return self.expires_at > now.timestamp()


def index_ttl(schedule: str | None) -> timedelta:
    """How long an entry lives after it was last written: two sweep intervals (at least an hour)."""
    return max(MIN_TTL, 2 * sweep_interval(schedule))


def expiry(now: datetime, ttl: timedelta) -> int:
    return math.ceil((now + ttl).timestamp())


def entry_for(fs: FileSystem, key_arn: str, now: datetime, ttl: timedelta, seen_by: str = "sweep") -> IndexEntry:
    return IndexEntry(
        key_arn=key_arn.lower(),
        account=fs.account,
        region=fs.region,
        file_system_id=fs.file_system_id,
        name=fs.name,
        policy=fs.policy,
        policy_tag_invalid=fs.policy_tag_invalid,
        mount_targets=fs.mount_targets,
        last_seen=now,
        seen_by=seen_by,
        expires_at=expiry(now, ttl),
    )


def entries_for(
    file_systems: Iterable[FileSystem],
    key_of: Mapping[str, str | None],
    now: datetime,
    ttl: timedelta,
    seen_by: str = "sweep",
) -> list[IndexEntry]:
    """An entry for every file system whose customer managed key is known (``key_of``: file system ID ->
    lower-case key ARN, as the sweep's assessment gives it); the others have nothing to be found by."""
    return [
        entry_for(fs, arn, now, ttl, seen_by)
        for fs in file_systems
        if (arn := key_of.get(fs.file_system_id)) is not None
    ]


def marker_for(
    account: str, region: str, now: datetime, ttl: timedelta, sweep_id: str | None, file_systems: int
) -> SweptMarker:
    return SweptMarker(
        account=account,
        region=region,
        swept_at=now,
        sweep_id=sweep_id,
        file_systems=file_systems,
        expires_at=expiry(now, ttl),
    )
