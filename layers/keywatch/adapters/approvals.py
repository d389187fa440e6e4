"""Approvals, silences and the interaction log, in the incidents table (or in memory when there is none).

DynamoDB layout (partition key ``pk`` = the key ARN, sort key ``sk``), beside the incident's own items:
- ``sk="approval#<token>"``: one button's record. Written when the alert is sent; a click claims it
  with a conditional update (``pending`` -> ``approved``), so each button works once; a runner takes a
  lease on it (``running``) and ends it ``done`` or ``failed``.
- ``sk="approvalset#<set id>"``: the message the buttons are on (the payload as posted, channel and ts),
  so that the endpoint and the worker can both rewrite it with the decisions.
- ``sk="silence"``: the key's silence (until, who set it). One per key: a new one replaces it.
- ``sk="interaction#<epoch ns>#<id>"``: each click (approved, refused, repeated, expired), acknowledgement,
  silence and result, with the Slack user and the time. Written once, never changed.

Items carry ``expires_at`` (epoch seconds) for a TTL, should the table enable one.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any, Protocol

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from keywatch.adapters.aws import HomeTable, error_code, put_item_if
from keywatch.approvals.models import Approval, ApprovalSet, Interaction, Silence, Status
from keywatch.iam import needs
from keywatch.models import ActionResult

KEEP_SECONDS = 180 * 24 * 3600  # records outlive their buttons: they are the incident's history
SILENCE = "silence"
_serializer, _deserializer = TypeSerializer(), TypeDeserializer()


def approval_sk(token: str) -> str:
    return f"approval#{token}"


def set_sk(set_id: str) -> str:
    return f"approvalset#{set_id}"


def interaction_sk(item: Interaction) -> str:
    """Sorted by when it was written (nanoseconds: two clicks in one second keep their order)."""
    return f"interaction#{time.time_ns():020d}#{uuid.uuid4().hex[:8]}"


class ApprovalStore(Protocol):
    def issue(self, approval_set: ApprovalSet, approvals: list[Approval]) -> None: ...
    def set_posted(self, key_arn: str, set_id: str, channel: str | None, ts: str | None) -> None: ...
    def get(self, key_arn: str, token: str) -> Approval | None: ...
    def get_set(self, key_arn: str, set_id: str) -> ApprovalSet | None: ...
    def of_set(self, key_arn: str, set_id: str) -> list[Approval]: ...
    def claim(
        self, key_arn: str, token: str, user: str, name: str | None, now: int, response_url: str | None
    ) -> Approval | None: ...
    def release(self, key_arn: str, token: str) -> bool: ...
    def start(self, key_arn: str, token: str, now: int, lease_seconds: int) -> Approval | None: ...
    def progress(
        self, key_arn: str, token: str, status: Status, results: list[ActionResult], summary: str | None
    ) -> None: ...
    def silence(self, silence: Silence) -> None: ...
    def silence_of(self, key_arn: str) -> Silence | None: ...
    def silences(self) -> list[Silence]: ...
    def clear_silence(self, key_arn: str) -> bool: ...
    def log(self, item: Interaction) -> None: ...
    def interactions(self) -> list[Interaction]: ...


def _claimable(item: Approval, now: int) -> bool:
    return item.status == "pending" and item.valid_until > now


def _startable(item: Approval, now: int) -> bool:
    return item.status in ("approved", "queued") or (item.status == "running" and (item.lease_until or 0) < now)


class MemoryApprovalStore:
    """The same store in memory: for a CLI run with no table, and for tests."""

    def __init__(self) -> None:
        self.approvals: dict[tuple[str, str], Approval] = {}
        self.sets: dict[tuple[str, str], ApprovalSet] = {}
        self._silences: dict[str, Silence] = {}
        self.log_items: list[Interaction] = []
        self._lock = threading.Lock()

    def issue(self, approval_set: ApprovalSet, approvals: list[Approval]) -> None:
        with self._lock:
            self.sets[(approval_set.key_arn, approval_set.set_id)] = approval_set
            for item in approvals:
                self.approvals.setdefault((item.key_arn, item.token), item)

    def set_posted(self, key_arn: str, set_id: str, channel: str | None, ts: str | None) -> None:
        with self._lock:
            found = self.sets.get((key_arn, set_id))
            if found is not None:
                self.sets[(key_arn, set_id)] = found.model_copy(update={"channel": channel, "ts": ts})

    def get(self, key_arn: str, token: str) -> Approval | None:
        return self.approvals.get((key_arn, token))

    def get_set(self, key_arn: str, set_id: str) -> ApprovalSet | None:
        return self.sets.get((key_arn, set_id))

    def of_set(self, key_arn: str, set_id: str) -> list[Approval]:
        return [a for (k, _), a in self.approvals.items() if k == key_arn and a.set_id == set_id]

    def _swap(self, key_arn: str, token: str, test: Any, update: dict[str, Any]) -> Approval | None:
        with self._lock:
            item = self.approvals.get((key_arn, token))
            if item is None or not test(item):
                return None
            item = item.model_copy(update=update)
            self.approvals[(key_arn, token)] = item
            return item

    def claim(
        self, key_arn: str, token: str, user: str, name: str | None, now: int, response_url: str | None
    ) -> Approval | None:
        update = {"status": "approved", "by_user": user, "by_name": name, "approved_at": now}
        if response_url:
            update["response_url"] = response_url
        return self._swap(key_arn, token, lambda a: _claimable(a, now), update)

    def release(self, key_arn: str, token: str) -> bool:
        update = {"status": "pending", "by_user": None, "by_name": None, "approved_at": None}
        return self._swap(key_arn, token, lambda a: a.status == "approved", update) is not None

    def start(self, key_arn: str, token: str, now: int, lease_seconds: int) -> Approval | None:
        update = {"status": "running", "lease_until": now + lease_seconds}
        return self._swap(key_arn, token, lambda a: _startable(a, now), update)

    def progress(
        self, key_arn: str, token: str, status: Status, results: list[ActionResult], summary: str | None
    ) -> None:
        update = {"status": status, "results": list(results), "summary": summary, "lease_until": None}
        self._swap(key_arn, token, lambda a: True, update)

    def silence(self, silence: Silence) -> None:
        with self._lock:
            self._silences[silence.key_arn] = silence

    def silence_of(self, key_arn: str) -> Silence | None:
        return self._silences.get(key_arn)

    def silences(self) -> list[Silence]:
        return sorted(self._silences.values(), key=lambda s: s.key_arn)

    def clear_silence(self, key_arn: str) -> bool:
        with self._lock:
            return self._silences.pop(key_arn, None) is not None

    def log(self, item: Interaction) -> None:
        with self._lock:
            self.log_items.append(item)

    def interactions(self) -> list[Interaction]:
        return sorted(self.log_items, key=lambda i: (i.key_arn, i.at))


def _encode(pk: str, sk: str, model: Any, keep_until: int) -> dict[str, Any]:
    doc = {k: v for k, v in model.model_dump(mode="json").items() if v is not None}
    return {
        name: _serializer.serialize(value)
        for name, value in {**doc, "pk": pk, "sk": sk, "expires_at": keep_until}.items()
    }


def _decode(raw: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in raw.items()}


class DynamoApprovalStore(HomeTable):
    """The store in the incidents table. Every change of an approval's status is a conditional update."""

    @needs("dynamodb:PutItem", scope="state")
    def _put(self, item: dict[str, Any], condition: str | None = None) -> bool:
        if condition is None:
            self._db.put_item(TableName=self.table_name, Item=item)
            return True
        return put_item_if(self._db, TableName=self.table_name, Item=item, ConditionExpression=condition)

    @needs("dynamodb:GetItem", scope="state")
    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        raw = self._db.get_item(TableName=self.table_name, Key=self._key(pk, sk), ConsistentRead=True).get("Item")
        return _decode(raw) if raw else None

    @needs("dynamodb:UpdateItem", scope="state")
    def _update(
        self, pk: str, sk: str, values: dict[str, Any], condition: str, extra: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """SET the values (None removes the attribute) if the condition holds; the new item, or None."""
        sets = {name: value for name, value in values.items() if value is not None}
        removes = [name for name, value in values.items() if value is None]
        expression = "SET " + ", ".join(f"#{n} = :{n}" for n in sets)
        if removes:
            expression += " REMOVE " + ", ".join(f"#{n}" for n in removes)
        names = {f"#{n}": n for n in values}
        if "#status" in condition:
            names["#status"] = "status"
        attribute_values = {f":{n}": _serializer.serialize(v) for n, v in sets.items()}
        attribute_values |= {k: _serializer.serialize(v) for k, v in (extra or {}).items()}
        try:
            response = self._db.update_item(
                TableName=self.table_name,
                Key=self._key(pk, sk),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attribute_values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return _decode(response.get("Attributes", {}))

    def _query(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        return [_decode(raw) for raw in self._partition(pk, prefix)]

    def _scan(self, condition: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        """For the CLI only (operator credentials): a Scan of the table."""
        items: list[dict[str, Any]] = []
        for page in self._db.get_paginator("scan").paginate(
            TableName=self.table_name,
            FilterExpression=condition,
            ExpressionAttributeValues={k: _serializer.serialize(v) for k, v in values.items()},
        ):
            items += [_decode(raw) for raw in page.get("Items", [])]
        return items

    # --- approvals ---------------------------------------------------------------------------------

    def issue(self, approval_set: ApprovalSet, approvals: list[Approval]) -> None:
        keep = approval_set.created_at + KEEP_SECONDS
        for item in approvals:
            self._put(_encode(item.key_arn, approval_sk(item.token), item, keep), "attribute_not_exists(pk)")
        self._put(_encode(approval_set.key_arn, set_sk(approval_set.set_id), approval_set, keep))

    def set_posted(self, key_arn: str, set_id: str, channel: str | None, ts: str | None) -> None:
        self._update(key_arn, set_sk(set_id), {"channel": channel, "ts": ts}, "attribute_exists(pk)")

    def get(self, key_arn: str, token: str) -> Approval | None:
        raw = self._get(key_arn, approval_sk(token))
        return Approval.model_validate(raw) if raw else None

    def get_set(self, key_arn: str, set_id: str) -> ApprovalSet | None:
        raw = self._get(key_arn, set_sk(set_id))
        return ApprovalSet.model_validate(raw) if raw else None

    def of_set(self, key_arn: str, set_id: str) -> list[Approval]:
        found = [Approval.model_validate(raw) for raw in self._query(key_arn, "approval#")]
        return [a for a in found if a.set_id == set_id]

    def claim(
        self, key_arn: str, token: str, user: str, name: str | None, now: int, response_url: str | None
    ) -> Approval | None:
        values: dict[str, Any] = {"status": "approved", "by_user": user, "by_name": name, "approved_at": now}
        if response_url:
            values["response_url"] = response_url
        raw = self._update(
            key_arn,
            approval_sk(token),
            values,
            "#status = :pending AND valid_until > :now",
            {":pending": "pending", ":now": now},
        )
        return Approval.model_validate(raw) if raw else None

    def release(self, key_arn: str, token: str) -> bool:
        values: dict[str, Any] = {"status": "pending", "by_user": None, "by_name": None, "approved_at": None}
        return (
            self._update(key_arn, approval_sk(token), values, "#status = :approved", {":approved": "approved"})
            is not None
        )

    def start(self, key_arn: str, token: str, now: int, lease_seconds: int) -> Approval | None:
        raw = self._update(
            key_arn,
            approval_sk(token),
            {"status": "running", "lease_until": now + lease_seconds},
            "#status IN (:approved, :queued) OR (#status = :running AND lease_until < :now)",
            {":approved": "approved", ":queued": "queued", ":running": "running", ":now": now},
        )
        return Approval.model_validate(raw) if raw else None

    def progress(
        self, key_arn: str, token: str, status: Status, results: list[ActionResult], summary: str | None
    ) -> None:
        self._update(
            key_arn,
            approval_sk(token),
            {
                "status": status,
                "results": [r.model_dump(mode="json") for r in results],
                "summary": summary,
                "lease_until": None,
            },
            "attribute_exists(pk)",
        )

    # --- silences ----------------------------------------------------------------------------------

    def silence(self, silence: Silence) -> None:
        self._put(_encode(silence.key_arn, SILENCE, silence, silence.until + KEEP_SECONDS))

    def silence_of(self, key_arn: str) -> Silence | None:
        raw = self._get(key_arn, SILENCE)
        return Silence.model_validate(raw) if raw else None

    def silences(self) -> list[Silence]:
        found = self._scan("sk = :silence", {":silence": SILENCE})
        return sorted((Silence.model_validate(raw) for raw in found), key=lambda s: s.key_arn)

    @needs("dynamodb:DeleteItem", scope="state")
    def clear_silence(self, key_arn: str) -> bool:
        response = self._db.delete_item(
            TableName=self.table_name, Key=self._key(key_arn, SILENCE), ReturnValues="ALL_OLD"
        )
        return bool(response.get("Attributes"))

    # --- the record --------------------------------------------------------------------------------

    def log(self, item: Interaction) -> None:
        self._put(_encode(item.key_arn, interaction_sk(item), item, item.at + KEEP_SECONDS))

    def interactions(self) -> list[Interaction]:
        found = self._scan("begins_with(sk, :i)", {":i": "interaction#"})
        return sorted((Interaction.model_validate(raw) for raw in found), key=lambda i: (i.key_arn, i.at))
