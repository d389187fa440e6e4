"""The key-to-file-system index in DynamoDB (the pure part is :mod:`keywatch.sweep.index`).

Layout (partition key ``pk``, sort key ``sk``; TTL attribute ``expires_at``):
- ``pk=<key ARN, lower case>, sk="fs#<account>#<region>#<fs id>"``: one file system on the key. It also
  carries ``fs="<account>#<region>#<fs id>"``, the partition key of the ``by-file-system`` index, so that
  an EFS event that names only the file system (DeleteFileSystem) can find its entry;
- ``pk="#swept", sk="<region>#<account>"``: a sweep listed this account and Region completely and wrote
  its entries. No marker for a Region means the index was never filled there.

The event path makes two Queries whatever the size of the organisation: one on the key, one on the
markers of the key's Region.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from keywatch.adapters.aws import HomeTable
from keywatch.iam import needs
from keywatch.models import Policy

if TYPE_CHECKING:
    from keywatch.sweep.index import IndexEntry, SweptMarker

MARKERS = "#swept"
BY_FILE_SYSTEM = "by-file-system"
BATCH = 25  # the most BatchWriteItem takes
UNPROCESSED_ATTEMPTS = 8


@dataclass(frozen=True)
class Candidate:
    """What the event path reads of an entry: where a file system on the key was. The rest (name, tags, mount
    targets) comes from the live confirmation, so it is not read from the index at all."""

    account: str
    region: str
    file_system_id: str
    expires_at: int

    def live(self, now: datetime) -> bool:
        return self.expires_at > now.timestamp()


@dataclass(frozen=True)
class Swept:
    """What the event path reads of a marker: an account of the Region that a sweep wrote, and until when."""

    account: str
    expires_at: int

    def live(self, now: datetime) -> bool:
        return self.expires_at > now.timestamp()


class IndexUnavailable(RuntimeError):
    """The index could not be read or written (missing table, access denied, throttled for good)."""


def entry_sort_key(account: str, region: str, file_system_id: str) -> str:
    return f"fs#{account}#{region}#{file_system_id}"


def file_system_key(account: str, region: str, file_system_id: str) -> str:
    return f"{account}#{region}#{file_system_id}"


class KeyIndex(Protocol):
    def candidates(self, key_arn: str) -> list[Candidate]:
        """Where the file systems on the key are (expired entries included: the caller decides)."""
        ...

    def swept(self, region: str) -> list[Swept]:
        """The accounts of one Region that a sweep has written to the index (expired ones included)."""
        ...

    def put(self, entries: Sequence[IndexEntry]) -> None: ...
    def mark_swept(self, marker: SweptMarker) -> None: ...
    def remove(self, account: str, region: str, file_system_id: str) -> int:
        """Delete a file system's entry (whatever its key); returns how many were deleted."""
        ...

    def contents(self) -> tuple[list[IndexEntry], list[SweptMarker]]:
        """Everything the index holds, for ``keywatch index`` (operator credentials)."""
        ...


class MemoryKeyIndex:
    """The same index in memory: for tests."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, tuple[str, str, str]], IndexEntry] = {}
        self.markers: dict[tuple[str, str], SweptMarker] = {}
        self._lock = threading.Lock()

    def candidates(self, key_arn: str) -> list[Candidate]:
        with self._lock:
            return [_candidate(e) for (k, _), e in sorted(self.entries.items()) if k == key_arn.lower()]

    def swept(self, region: str) -> list[Swept]:
        with self._lock:
            return [Swept(m.account, m.expires_at) for (r, _), m in sorted(self.markers.items()) if r == region]

    def put(self, entries: Sequence[IndexEntry]) -> None:
        with self._lock:
            for entry in entries:
                self.entries[(entry.key_arn, entry.where)] = entry

    def mark_swept(self, marker: SweptMarker) -> None:
        with self._lock:
            self.markers[(marker.region, marker.account)] = marker

    def remove(self, account: str, region: str, file_system_id: str) -> int:
        with self._lock:
            gone = [k for k in self.entries if k[1] == (account, region, file_system_id)]
            for k in gone:
                del self.entries[k]
            return len(gone)

    def contents(self) -> tuple[list[IndexEntry], list[SweptMarker]]:
        with self._lock:
            return [e for _, e in sorted(self.entries.items())], [m for _, m in sorted(self.markers.items())]


_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in fields.items() if v is not None}


def _decode(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in raw.items()}


def entry_item(entry: IndexEntry) -> dict[str, Any]:
    return _encode(
        {
            "pk": entry.key_arn,
            "sk": entry_sort_key(*entry.where),
            "fs": file_system_key(*entry.where),
            "account": entry.account,
            "region": entry.region,
            "file_system_id": entry.file_system_id,
            "name": entry.name,
            "policy": entry.policy.value,
            "policy_tag_invalid": entry.policy_tag_invalid,
            "mount_targets": entry.mount_targets,
            "last_seen": entry.last_seen.isoformat(),
            "seen_by": entry.seen_by,
            "expires_at": entry.expires_at,
        }
    )


def marker_item(marker: SweptMarker) -> dict[str, Any]:
    return _encode(
        {
            "pk": MARKERS,
            "sk": f"{marker.region}#{marker.account}",
            "account": marker.account,
            "region": marker.region,
            "swept_at": marker.swept_at.isoformat(),
            "sweep_id": marker.sweep_id,
            "file_systems": marker.file_systems,
            "expires_at": marker.expires_at,
        }
    )


def _candidate(entry: IndexEntry) -> Candidate:
    return Candidate(entry.account, entry.region, entry.file_system_id, entry.expires_at)


def _entry(item: dict[str, Any]) -> IndexEntry:
    from keywatch.sweep.index import IndexEntry  # the sweep's model: the event path reads candidates only

    fields = _decode(item)
    return IndexEntry(
        key_arn=fields["pk"],
        account=fields["account"],
        region=fields["region"],
        file_system_id=fields["file_system_id"],
        name=fields.get("name"),
        policy=Policy(fields.get("policy") or Policy.NOTIFY),
        policy_tag_invalid=fields.get("policy_tag_invalid"),
        mount_targets=int(fields.get("mount_targets") or 0),
        last_seen=datetime.fromisoformat(fields["last_seen"]),
        seen_by=fields.get("seen_by") or "sweep",
        expires_at=int(fields["expires_at"]),
    )


def _marker(item: dict[str, Any]) -> SweptMarker:
    from keywatch.sweep.index import SweptMarker

    fields = _decode(item)
    return SweptMarker(
        account=fields["account"],
        region=fields["region"],
        swept_at=datetime.fromisoformat(fields["swept_at"]),
        sweep_id=fields.get("sweep_id"),
        file_systems=int(fields.get("file_systems") or 0),
        expires_at=int(fields["expires_at"]),
    )


class DynamoKeyIndex(HomeTable):
    def _query(self, **args: Any) -> Iterator[dict[str, Any]]:
        for page in self._db.get_paginator("query").paginate(TableName=self.table_name, **args):
            yield from page.get("Items", [])

    def _read(self, **args: Any) -> list[dict[str, Any]]:
        """A whole Query. The event path falls back to listing accounts when the index can't be read."""
        try:
            return list(self._query(**args))
        except (ClientError, BotoCoreError) as exc:
            raise IndexUnavailable(f"Query {self.table_name}: {exc}") from exc

    @needs("dynamodb:Query", scope="index")
    def candidates(self, key_arn: str) -> list[Candidate]:
        """One Query on the key; only where each file system is (the rest is confirmed live anyway)."""
        items = self._read(
            KeyConditionExpression="pk = :k AND begins_with(sk, :fs)",
            ProjectionExpression="account, #region, file_system_id, expires_at",
            ExpressionAttributeNames={"#region": "region"},  # a reserved word in DynamoDB expressions
            ExpressionAttributeValues={":k": {"S": key_arn.lower()}, ":fs": {"S": "fs#"}},
        )
        return [
            Candidate(f["account"], f["region"], f["file_system_id"], int(f["expires_at"]))
            for f in (_decode(item) for item in items)
        ]

    @needs("dynamodb:Query", scope="index")
    def swept(self, region: str) -> list[Swept]:
        """One Query on the Region's markers; two short attributes each (a few dozen bytes per account)."""
        items = self._read(
            KeyConditionExpression="pk = :m AND begins_with(sk, :r)",
            ProjectionExpression="account, expires_at",
            ExpressionAttributeValues={":m": {"S": MARKERS}, ":r": {"S": f"{region}#"}},
        )
        return [Swept(f["account"], int(f["expires_at"])) for f in (_decode(item) for item in items)]

    @needs("dynamodb:BatchWriteItem", scope="index")
    def put(self, entries: Sequence[IndexEntry]) -> None:
        """BatchWriteItem, 25 at a time; what DynamoDB leaves unprocessed is sent again, with backoff."""
        requests = [{"PutRequest": {"Item": entry_item(e)}} for e in entries]
        for start in range(0, len(requests), BATCH):
            pending: Any = {self.table_name: requests[start : start + BATCH]}
            for attempt in range(UNPROCESSED_ATTEMPTS):
                pending = self._db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(1.0, 0.05 * 2**attempt))
            else:
                left = sum(len(v) for v in pending.values())
                raise IndexUnavailable(f"BatchWriteItem left {left} index entries unprocessed")

    @needs("dynamodb:PutItem", scope="index")
    def mark_swept(self, marker: SweptMarker) -> None:
        self._db.put_item(TableName=self.table_name, Item=marker_item(marker))

    @needs("dynamodb:Query", "dynamodb:DeleteItem", scope="index")
    def remove(self, account: str, region: str, file_system_id: str) -> int:
        found = list(
            self._query(
                IndexName=BY_FILE_SYSTEM,
                KeyConditionExpression="fs = :f",
                ExpressionAttributeValues={":f": {"S": file_system_key(account, region, file_system_id)}},
            )
        )
        for item in found:
            self._db.delete_item(TableName=self.table_name, Key={"pk": item["pk"], "sk": item["sk"]})
        return len(found)

    def contents(self) -> tuple[list[IndexEntry], list[SweptMarker]]:
        """Everything, for ``keywatch index`` (operator credentials: this is a Scan)."""
        entries: list[IndexEntry] = []
        markers: list[SweptMarker] = []
        for page in self._db.get_paginator("scan").paginate(TableName=self.table_name):
            for item in page.get("Items", []):
                if item["pk"]["S"] == MARKERS:
                    markers.append(_marker(item))
                else:
                    entries.append(_entry(item))
        entries.sort(key=lambda e: (e.key_arn, e.where))
        markers.sort(key=lambda m: (m.region, m.account))
        return entries, markers
