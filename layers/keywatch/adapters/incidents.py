"""The incident store: one open incident per key ARN, its mount-target records, and every action.

DynamoDB layout (partition key ``pk``, sort key ``sk``):
- ``pk=<key ARN>, sk="incident"``: the current incident (status open|resolved, affected, actions);
- ``pk=<key ARN>, sk="snapshot#<fs id>"``: the mount targets recorded before they were deleted.
  Written once (conditional put): a second snapshot never overwrites the first;
- ``pk=<key ARN>, sk="resolved#<opened at>"``: earlier incidents on the key, kept for the record.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from keywatch.adapters.aws import AwsClients, put_item_if
from keywatch.iam import needs
from keywatch.models import ActionResult, EventResult, MountTargetSpec

INCIDENT = "incident"

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class IncidentStore(Protocol):
    def open(self, result: EventResult, actor: str) -> None: ...
    def record_actions(self, key_arn: str, actions: list[ActionResult], actor: str) -> None: ...
    def resolve(self, key_arn: str, result: EventResult, actor: str) -> bool: ...
    def current(self, key_arn: str) -> dict[str, Any] | None: ...
    def save_snapshot(self, key_arn: str, fs_id: str, specs: list[MountTargetSpec]) -> bool: ...
    def snapshot(self, key_arn: str, fs_id: str) -> list[MountTargetSpec] | None: ...
    def snapshots(self, key_arn: str) -> dict[str, list[MountTargetSpec]]: ...
    def mark_restored(self, key_arn: str, fs_id: str) -> None: ...
    def list_all(self) -> list[dict[str, Any]]: ...


def _incident_item(result: EventResult, actor: str) -> dict[str, Any]:
    now = _now()
    return {
        "pk": result.key_arn,
        "sk": INCIDENT,
        "status": "open",
        "opened_at": now,
        "updated_at": now,
        "severity": result.severity.value if result.severity else None,
        "event_id": result.event_id,
        "event_name": result.event_name,
        "key_state": result.key_state,
        "reason": result.reason,
        "opened_by": actor,
        "affected": [fs.model_dump(mode="json") for fs in result.affected],
        "actions": [],
    }


def _action_items(actions: list[ActionResult], actor: str) -> list[dict[str, Any]]:
    at = _now()
    return [{**a.model_dump(mode="json"), "at": at, "actor": actor} for a in actions]


class MemoryIncidentStore:
    """The same store, in memory: for a CLI run against real AWS without a table, and for tests."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def open(self, result: EventResult, actor: str) -> None:
        assert result.key_arn
        existing = self.items.get((result.key_arn, INCIDENT))
        if existing and existing["status"] == "open":
            existing["updated_at"] = _now()
            known = {fs["file_system_id"] for fs in existing["affected"]}
            existing["affected"] += [
                fs.model_dump(mode="json") for fs in result.affected if fs.file_system_id not in known
            ]
            return
        if existing:
            self.items[(result.key_arn, f"resolved#{existing['opened_at']}")] = existing
        self.items[(result.key_arn, INCIDENT)] = _incident_item(result, actor)

    def record_actions(self, key_arn: str, actions: list[ActionResult], actor: str) -> None:
        item = self.items.get((key_arn, INCIDENT))
        if item is not None and actions:
            item["actions"] += _action_items(actions, actor)
            item["updated_at"] = _now()

    def resolve(self, key_arn: str, result: EventResult, actor: str) -> bool:
        item = self.items.get((key_arn, INCIDENT))
        if item is None or item["status"] != "open":
            return False
        item.update(status="resolved", resolved_at=_now(), resolved_by=actor, resolved_event=result.event_id)
        return True

    def current(self, key_arn: str) -> dict[str, Any] | None:
        return self.items.get((key_arn, INCIDENT))

    def save_snapshot(self, key_arn: str, fs_id: str, specs: list[MountTargetSpec]) -> bool:
        key = (key_arn, f"snapshot#{fs_id}")
        if key in self.items and not self.items[key].get("restored_at"):
            return False
        self.items[key] = {
            "pk": key_arn,
            "sk": key[1],
            "file_system_id": fs_id,
            "taken_at": _now(),
            "mount_targets": [s.model_dump(mode="json") for s in specs],
        }
        return True

    def snapshot(self, key_arn: str, fs_id: str) -> list[MountTargetSpec] | None:
        item = self.items.get((key_arn, f"snapshot#{fs_id}"))
        if item is None or item.get("restored_at"):
            return None
        return [MountTargetSpec.model_validate(m) for m in item["mount_targets"]]

    def snapshots(self, key_arn: str) -> dict[str, list[MountTargetSpec]]:
        found = {}
        for (pk, sk), item in self.items.items():
            if pk == key_arn and sk.startswith("snapshot#") and not item.get("restored_at"):
                found[item["file_system_id"]] = [MountTargetSpec.model_validate(m) for m in item["mount_targets"]]
        return found

    def mark_restored(self, key_arn: str, fs_id: str) -> None:
        item = self.items.get((key_arn, f"snapshot#{fs_id}"))
        if item is not None:
            item["restored_at"] = _now()

    def list_all(self) -> list[dict[str, Any]]:
        return [item for (_, sk), item in sorted(self.items.items()) if sk == INCIDENT or sk.startswith("resolved#")]


class DynamoIncidentStore:
    """The incident store in DynamoDB. Snapshots are written with a condition, never overwritten."""

    def __init__(self, clients: AwsClients, table_name: str, region: str) -> None:
        self._clients = clients
        self.table_name = table_name
        self._region = region

    @property
    def _db(self) -> DynamoDBClient:
        return self._clients.home_client("dynamodb", self._region)

    @staticmethod
    def _encode(item: dict[str, Any]) -> dict[str, Any]:
        """Items are stored as strings + one JSON document: simple to read, simple to evolve."""
        out: dict[str, Any] = {"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}, "doc": {"S": json.dumps(item)}}
        for field in ("status", "opened_at", "restored_at"):
            if item.get(field):
                out[field] = {"S": str(item[field])}
        return out

    @staticmethod
    def _decode(raw: dict[str, Any]) -> dict[str, Any]:
        return dict(json.loads(raw["doc"]["S"]))

    @needs("dynamodb:GetItem", scope="state")
    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        raw = self._db.get_item(
            TableName=self.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        ).get("Item")
        return self._decode(raw) if raw else None

    @needs("dynamodb:PutItem", scope="state")
    def _put(self, item: dict[str, Any], condition: str | None = None, values: dict[str, Any] | None = None) -> bool:
        args: dict[str, Any] = {"TableName": self.table_name, "Item": self._encode(item)}
        if condition:
            args["ConditionExpression"] = condition
            if "#status" in condition:
                args["ExpressionAttributeNames"] = {"#status": "status"}
        if values:
            args["ExpressionAttributeValues"] = values
        return put_item_if(self._db, **args)

    @needs("dynamodb:Query", scope="state")
    def _query(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        paginator = self._db.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": prefix}},
            ConsistentRead=True,
        ):
            items += [self._decode(raw) for raw in page.get("Items", [])]
        return items

    def open(self, result: EventResult, actor: str) -> None:
        assert result.key_arn
        existing = self._get(result.key_arn, INCIDENT)
        if existing and existing["status"] == "open":
            known = {fs["file_system_id"] for fs in existing["affected"]}
            new = [fs.model_dump(mode="json") for fs in result.affected if fs.file_system_id not in known]
            if new:
                existing["affected"] += new
                existing["updated_at"] = _now()
                self._put(existing)
            return
        if existing:
            self._put({**existing, "sk": f"resolved#{existing['opened_at']}"})
        item = _incident_item(result, actor)
        # If another invocation opened it first, the condition fails and that incident stands.
        self._put(item, "attribute_not_exists(pk) OR #status = :resolved", {":resolved": {"S": "resolved"}})

    def record_actions(self, key_arn: str, actions: list[ActionResult], actor: str) -> None:
        item = self._get(key_arn, INCIDENT)
        if item is None or not actions:
            return
        item["actions"] += _action_items(actions, actor)
        item["updated_at"] = _now()
        self._put(item)

    def resolve(self, key_arn: str, result: EventResult, actor: str) -> bool:
        item = self._get(key_arn, INCIDENT)
        if item is None or item["status"] != "open":
            return False
        item.update(status="resolved", resolved_at=_now(), resolved_by=actor, resolved_event=result.event_id)
        self._put(item)
        return True

    def current(self, key_arn: str) -> dict[str, Any] | None:
        return self._get(key_arn, INCIDENT)

    def save_snapshot(self, key_arn: str, fs_id: str, specs: list[MountTargetSpec]) -> bool:
        item = {
            "pk": key_arn,
            "sk": f"snapshot#{fs_id}",
            "file_system_id": fs_id,
            "taken_at": _now(),
            "mount_targets": [s.model_dump(mode="json") for s in specs],
        }
        return self._put(item, "attribute_not_exists(pk) OR attribute_exists(restored_at)")

    def snapshot(self, key_arn: str, fs_id: str) -> list[MountTargetSpec] | None:
        item = self._get(key_arn, f"snapshot#{fs_id}")
        if item is None or item.get("restored_at"):
            return None
        return [MountTargetSpec.model_validate(m) for m in item["mount_targets"]]

    def snapshots(self, key_arn: str) -> dict[str, list[MountTargetSpec]]:
        return {
            item["file_system_id"]: [MountTargetSpec.model_validate(m) for m in item["mount_targets"]]
            for item in self._query(key_arn, "snapshot#")
            if not item.get("restored_at")
        }

    def mark_restored(self, key_arn: str, fs_id: str) -> None:
        item = self._get(key_arn, f"snapshot#{fs_id}")
        if item is not None:
            item["restored_at"] = _now()
            self._put(item)

    def list_all(self) -> list[dict[str, Any]]:
        """Every incident, for ``keywatch incidents`` (operator credentials: this is a Scan)."""
        items: list[dict[str, Any]] = []
        for page in self._db.get_paginator("scan").paginate(
            TableName=self.table_name,
            FilterExpression="sk = :i OR begins_with(sk, :r)",
            ExpressionAttributeValues={":i": {"S": INCIDENT}, ":r": {"S": "resolved#"}},
        ):
            items += [self._decode(raw) for raw in page.get("Items", [])]
        return sorted(items, key=lambda i: (i["pk"], i["sk"]))
