"""Occurrences: key events KMS sends again under a new id, recognised as the same occurrence (DESIGN.md §3).

- ``KMS CMK Deletion``: KMS sends it more than once, "within a few seconds", each time with a new
  EventBridge id. A key is deleted once: a further deletion event for a key already handled as
  deleted is a duplicate, whenever it comes.
- ``KMS Imported Key Material Expiration``: one for the same key within 10 minutes of one already
  handled is a duplicate.

One item per key and kind, in the incidents table (partition key ``pk``, sort key ``sk``):
``pk=<key ARN>, sk="occurrence#deleted"`` or ``"occurrence#expired"``, with the ``event_id`` that
claimed it and when the event happened (``at``). It is claimed with a conditional put: the event
that holds it may claim it again (a Lambda retry of that same event finishes its work), another
event within the window may not. Nothing is released on failure: the claiming event is retried by
EventBridge under its own id, and ends in the dead-letter queue (with its alarm) if it never succeeds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from keywatch.adapters.aws import HomeTable, put_item_if
from keywatch.iam import needs

PREFIX = "occurrence#"


@dataclass(frozen=True)
class Claim:
    """Whether this event is the occurrence's first; if not, the event that was."""

    granted: bool
    first_event_id: str | None = None
    first_at: datetime | None = None


class OccurrenceLog(Protocol):
    def claim(self, key_arn: str, kind: str, event_id: str, at: datetime, window: timedelta | None) -> Claim: ...


def stamp(moment: datetime) -> str:
    """A UTC timestamp whose text order is its time order (the condition compares the text)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _unstamp(text: str | None) -> datetime | None:
    try:
        return datetime.strptime(text or "", "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _same_occurrence(held_at: datetime | None, at: datetime, window: timedelta | None) -> bool:
    return window is None or held_at is None or abs(at - held_at) <= window


class MemoryOccurrences:
    """The same log in memory: for a CLI run without a table, and for tests."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str], tuple[str, datetime]] = {}
        self._lock = threading.Lock()

    def claim(self, key_arn: str, kind: str, event_id: str, at: datetime, window: timedelta | None) -> Claim:
        at = _unstamp(stamp(at)) or at
        with self._lock:
            held = self._held.get((key_arn, kind))
            if held is not None and held[0] != event_id and _same_occurrence(held[1], at, window):
                return Claim(False, held[0], held[1])
            self._held[(key_arn, kind)] = (event_id, at)
            return Claim(True)


class DynamoOccurrences(HomeTable):
    """The log in the incidents table."""

    @needs("dynamodb:PutItem", "dynamodb:GetItem", scope="state")
    def claim(self, key_arn: str, kind: str, event_id: str, at: datetime, window: timedelta | None) -> Claim:
        key = {"pk": {"S": key_arn}, "sk": {"S": PREFIX + kind}}
        condition = "attribute_not_exists(pk) OR event_id = :me"
        values: dict[str, Any] = {":me": {"S": event_id}}
        names: dict[str, str] = {}
        if window is not None:  # outside the window (either side: events can arrive out of order)
            condition += " OR #at < :lo OR #at > :hi"
            values |= {":lo": {"S": stamp(at - window)}, ":hi": {"S": stamp(at + window)}}
            names = {"#at": "at"}
        granted = put_item_if(
            self._db,
            TableName=self.table_name,
            Item={**key, "event_id": {"S": event_id}, "at": {"S": stamp(at)}},
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            **({"ExpressionAttributeNames": names} if names else {}),
        )
        if granted:
            return Claim(True)
        held = self._db.get_item(TableName=self.table_name, Key=key, ConsistentRead=True).get("Item") or {}
        return Claim(False, held.get("event_id", {}).get("S"), _unstamp(held.get("at", {}).get("S")))
