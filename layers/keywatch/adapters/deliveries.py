"""Delivery records and Slack threads, in DynamoDB (or in memory when there is no table).

A delivery record says whether one notification ``(event id, channel)`` went out. It is claimed with
a conditional put (``status=pending``) before the send, then marked ``sent`` or ``failed``. A retry
of the same event finds ``sent`` and does not send again; a ``failed`` one (or a ``pending`` claim
older than any delivery takes, left by a crash or a timeout) may be claimed again, so nothing is lost.

The log is kept in both tables and in the container's memory (:class:`ReplicatedDeliveries`): with
the incidents table down, the idempotency table still remembers that the alert went out, and the
other way round, so a retry neither loses nor repeats it (docs/reliability.md).

DynamoDB layouts, see docs/TEAM.md:
- incidents table (``pk``, ``sk``): ``pk="delivery#<event id>", sk=<channel>``; and
  ``pk="thread#<key ARN>", sk="slack"``: the Slack message (``channel``, ``ts``) that opened the
  key's current incident; later messages about the key are posted in its thread. Deleted when the
  key recovers, so the next incident starts a thread of its own.
- idempotency table (``id``, beside Powertools' records): ``id="delivery#<event id>#<channel>"``.

Items carry a TTL attribute (epoch seconds): ``expires_at`` in the incidents table, ``expiration``
(the idempotency table's TTL) in the other.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from keywatch.adapters.aws import AWS_ERRORS, AwsClients, describe_error, put_item_if
from keywatch.iam import needs

# A claim still "pending" after this long was left by an invocation that died mid-send: one delivery,
# with every retry of the policy in adapters/slack.py (4 tries of 10 s, backoff, two 30 s Retry-After
# waits), takes under two minutes. Taking it over may send twice; leaving it would lose the message.
STALE_CLAIM_SECONDS = 120
DELIVERY_TTL_SECONDS = 90 * 24 * 3600
THREAD_TTL_SECONDS = 180 * 24 * 3600

Final = Literal["sent", "failed", "skipped"]
Layout = Literal["incidents", "idempotency"]

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Claim:
    """The answer to "may I send this?": ``granted``, or what the existing record says."""

    granted: bool
    status: str | None = None
    at: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Thread:
    channel: str
    ts: str


class DeliveryLog(Protocol):
    def claim(self, event_id: str, channel: str) -> Claim: ...
    def complete(self, event_id: str, channel: str, status: Final, detail: str) -> None: ...


class Journal(Protocol):
    """What earlier attempts at an event decided and did, so that a retry finishes the same alert.

    A retry re-assesses the estate, which the first attempt may have changed (``protect`` re-enabled
    the key): the retry still owes the owners the message the first attempt decided to send.
    """

    def remember(self, event_id: str, note: dict[str, Any]) -> None: ...
    def recall(self, event_id: str) -> dict[str, Any] | None: ...


class DeliveryLogUnavailable(RuntimeError):
    """No copy of the delivery log could be read or written. The text names error types only."""


STORE_ERRORS = AWS_ERRORS


class ThreadStore(Protocol):
    def thread(self, key_arn: str) -> Thread | None: ...
    def save_thread(self, key_arn: str, thread: Thread) -> bool: ...
    def close_thread(self, key_arn: str) -> None: ...


def _claimable(item: dict[str, Any] | None, now: float) -> bool:
    if item is None:
        return True
    status = item.get("status")
    if status in ("failed", "skipped"):
        return True
    return status == "pending" and float(item.get("claimed_at", 0)) < now - STALE_CLAIM_SECONDS


class MemoryDeliveries:
    """Both stores in process memory: the CLI without a table, and tests. Thread-safe."""

    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.deliveries: dict[tuple[str, str], dict[str, Any]] = {}
        self.threads: dict[str, Thread] = {}
        self.notes: dict[str, dict[str, Any]] = {}

    def claim(self, event_id: str, channel: str) -> Claim:
        now = self._clock()
        with self._lock:
            item = self.deliveries.get((event_id, channel))
            if not _claimable(item, now):
                assert item is not None
                return Claim(False, item["status"], item.get("at"), item.get("detail", ""))
            self.deliveries[(event_id, channel)] = {"status": "pending", "claimed_at": now, "at": _iso(now)}
            return Claim(True)

    def complete(self, event_id: str, channel: str, status: Final, detail: str) -> None:
        now = self._clock()
        with self._lock:
            self.deliveries[(event_id, channel)] = {
                "status": status,
                "claimed_at": now,
                "at": _iso(now),
                "detail": detail,
            }

    def remember(self, event_id: str, note: dict[str, Any]) -> None:
        with self._lock:
            self.notes[event_id] = json.loads(json.dumps(note))

    def recall(self, event_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self.notes.get(event_id)

    def thread(self, key_arn: str) -> Thread | None:
        with self._lock:
            return self.threads.get(key_arn)

    def save_thread(self, key_arn: str, thread: Thread) -> bool:
        with self._lock:
            if key_arn in self.threads:
                return False
            self.threads[key_arn] = thread
            return True

    def close_thread(self, key_arn: str) -> None:
        with self._lock:
            self.threads.pop(key_arn, None)


class DynamoDeliveries:
    """Both stores in a DynamoDB table. Claims and thread openings are conditional puts.

    ``layout="incidents"`` (``pk``/``sk``) holds deliveries and threads; ``layout="idempotency"``
    (``id``, beside Powertools' records) holds deliveries only.
    """

    def __init__(
        self,
        clients: AwsClients,
        table_name: str,
        region: str,
        clock: Any = time.time,
        layout: Layout = "incidents",
    ) -> None:
        self._clients = clients
        self.table_name = table_name
        self._region = region
        self._clock = clock
        self.layout = layout
        self._hash = "pk" if layout == "incidents" else "id"
        self._ttl = "expires_at" if layout == "incidents" else "expiration"

    @property
    def _db(self) -> DynamoDBClient:
        return self._clients.home_client("dynamodb", self._region)

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        if self.layout == "idempotency":
            return {"id": {"S": f"{pk}#{sk}"}}
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    @needs("dynamodb:GetItem", scope="state")
    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        raw = self._db.get_item(TableName=self.table_name, Key=self._key(pk, sk), ConsistentRead=True).get("Item")
        if not raw:
            return None
        return {name: (value.get("S") if "S" in value else value.get("N")) for name, value in raw.items()}

    @needs("dynamodb:PutItem", scope="state")
    def _put_if(
        self,
        item: dict[str, Any],
        condition: str,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> bool:
        args: dict[str, Any] = {"TableName": self.table_name, "Item": item, "ConditionExpression": condition}
        if names:
            args["ExpressionAttributeNames"] = names
        if values:
            args["ExpressionAttributeValues"] = values
        return put_item_if(self._db, **args)

    @needs("dynamodb:UpdateItem", scope="state")
    def _update(self, pk: str, sk: str, values: dict[str, Any]) -> None:
        names = {f"#{name}": name for name in values}
        self._db.update_item(
            TableName=self.table_name,
            Key=self._key(pk, sk),
            UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in values),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":{name}": value for name, value in values.items()},
        )

    @needs("dynamodb:DeleteItem", scope="state")
    def _delete(self, pk: str, sk: str) -> None:
        self._db.delete_item(TableName=self.table_name, Key=self._key(pk, sk))

    # --- deliveries -------------------------------------------------------------------------------

    def claim(self, event_id: str, channel: str) -> Claim:
        now = self._clock()
        pk = f"delivery#{event_id}"
        item = {
            **self._key(pk, channel),
            "status": {"S": "pending"},
            "claimed_at": {"N": str(int(now))},
            "at": {"S": _iso(now)},
            self._ttl: {"N": str(int(now) + DELIVERY_TTL_SECONDS)},
        }
        granted = self._put_if(
            item,
            "attribute_not_exists(#hash) OR #status IN (:failed, :skipped) "
            "OR (#status = :pending AND claimed_at < :stale)",
            names={"#status": "status", "#hash": self._hash},
            values={
                ":failed": {"S": "failed"},
                ":skipped": {"S": "skipped"},
                ":pending": {"S": "pending"},
                ":stale": {"N": str(int(now) - STALE_CLAIM_SECONDS)},
            },
        )
        if granted:
            return Claim(True)
        found = self._get(pk, channel) or {}
        return Claim(False, found.get("status"), found.get("at"), found.get("detail") or "")

    def complete(self, event_id: str, channel: str, status: Final, detail: str) -> None:
        now = self._clock()
        self._update(
            f"delivery#{event_id}",
            channel,
            {
                "status": {"S": status},
                "at": {"S": _iso(now)},
                "claimed_at": {"N": str(int(now))},
                "detail": {"S": detail[:1000] or "-"},
            },
        )

    # --- the journal of attempts ---------------------------------------------------------------------

    @needs("dynamodb:PutItem", scope="state")
    def remember(self, event_id: str, note: dict[str, Any]) -> None:
        now = self._clock()
        self._db.put_item(
            TableName=self.table_name,
            Item={
                **self._key(f"delivery#{event_id}", "attempt"),
                "doc": {"S": json.dumps(note, default=str)},
                "at": {"S": _iso(now)},
                self._ttl: {"N": str(int(now) + DELIVERY_TTL_SECONDS)},
            },
        )

    def recall(self, event_id: str) -> dict[str, Any] | None:
        item = self._get(f"delivery#{event_id}", "attempt")
        return dict(json.loads(str(item["doc"]))) if item and item.get("doc") else None

    # --- threads ----------------------------------------------------------------------------------

    def thread(self, key_arn: str) -> Thread | None:
        item = self._get(f"thread#{key_arn}", "slack")
        if not item or not item.get("ts") or not item.get("channel"):
            return None
        return Thread(channel=str(item["channel"]), ts=str(item["ts"]))

    def save_thread(self, key_arn: str, thread: Thread) -> bool:
        """Remember the message that opened the key's incident. The first writer wins."""
        now = self._clock()
        item = {
            **self._key(f"thread#{key_arn}", "slack"),
            "ts": {"S": thread.ts},
            "channel": {"S": thread.channel},
            "at": {"S": _iso(now)},
            self._ttl: {"N": str(int(now) + THREAD_TTL_SECONDS)},
        }
        return self._put_if(item, "attribute_not_exists(#hash)", names={"#hash": self._hash})

    def close_thread(self, key_arn: str) -> None:
        self._delete(f"thread#{key_arn}", "slack")


class ReplicatedDeliveries:
    """One delivery log kept in several places (both tables and the container's memory).

    - A claim is asked of every copy that answers. If any copy says ``sent``, the delivery is not made
      again, and the copies that had just granted the claim learn that it was sent. If any copy holds
      a fresh ``pending`` claim, the delivery waits for a retry (the claims just granted are released).
      Otherwise the claim is granted, even when some copies are down.
    - A completion is written to every copy that answers.
    - Only when no copy answers at all does a claim raise :class:`DeliveryLogUnavailable` (the caller
      then sends anyway: better twice than never). With the memory copy in the list, that can't happen.
    """

    def __init__(self, *logs: MemoryDeliveries | DynamoDeliveries) -> None:
        self.logs = logs

    def claim(self, event_id: str, channel: str) -> Claim:
        granted: list[DeliveryLog] = []
        refused: list[Claim] = []
        errors: list[str] = []
        for log in self.logs:
            try:
                claim = log.claim(event_id, channel)
            except STORE_ERRORS as exc:
                errors.append(describe_error(exc))
                continue
            if claim.granted:
                granted.append(log)
            else:
                refused.append(claim)
        if not granted and not refused:
            raise DeliveryLogUnavailable("no copy of the delivery log answered: " + ", ".join(errors))
        sent = next((c for c in refused if c.status == "sent"), None)
        if sent is not None:
            self._complete(granted, event_id, channel, "sent", sent.detail or "sent by an earlier attempt")
            return sent
        if refused:
            self._complete(granted, event_id, channel, "failed", "released: another invocation holds the claim")
            return refused[0]
        return Claim(True)

    def remember(self, event_id: str, note: dict[str, Any]) -> None:
        """Written to every copy that answers (the memory copy always does)."""
        for log in self.logs:
            try:
                log.remember(event_id, note)
            except STORE_ERRORS:
                continue

    def recall(self, event_id: str) -> dict[str, Any] | None:
        for log in self.logs:
            try:
                note = log.recall(event_id)
            except STORE_ERRORS:
                continue
            if note is not None:
                return note
        return None

    def complete(self, event_id: str, channel: str, status: Final, detail: str) -> None:
        if not self._complete(self.logs, event_id, channel, status, detail):
            raise DeliveryLogUnavailable("no copy of the delivery log could record the delivery")

    @staticmethod
    def _complete(logs: Any, event_id: str, channel: str, status: Final, detail: str) -> int:
        written = 0
        for log in logs:
            try:
                log.complete(event_id, channel, status, detail)
            except STORE_ERRORS:
                continue
            written += 1
        return written
