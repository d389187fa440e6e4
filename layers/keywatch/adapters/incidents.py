"""The incident store: one open incident per key ARN, its mount-target records, and every action.

DynamoDB layout (partition key ``pk``, sort key ``sk``), native attributes:
- ``pk=<key ARN>, sk="incident"``: the current incident: ``status`` (open|resolved), ``affected`` (a map
  keyed by file system ID), ``actions`` (a list). Every change is one UpdateItem: file systems are
  added with ``if_not_exists`` and actions with ``list_append``, so concurrent writers never lose
  each other's changes (no read-modify-write);
- ``pk=<key ARN>, sk="snapshot#<fs id>"``: the mount targets recorded before they were deleted, a map
  keyed by mount target ID. A live mount target is merged into a waiting record, never written over
  one already there: what was recorded first is never lost, and a mount target made since is kept too;
- ``pk=<key ARN>, sk="resolved#<opened at>"``: earlier incidents on the key, kept for the record.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from keywatch.adapters.aws import HomeTable, error_code, put_item_if
from keywatch.iam import needs
from keywatch.models import ActionResult, EventResult, MountTargetSpec

INCIDENT = "incident"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class IncidentStore(Protocol):
    def open(self, result: EventResult, actor: str) -> None: ...
    def record_actions(self, key_arn: str, actions: list[ActionResult], actor: str) -> None: ...
    def resolve(self, key_arn: str, result: EventResult, actor: str) -> bool: ...
    def current(self, key_arn: str) -> dict[str, Any] | None: ...
    def save_snapshot(self, key_arn: str, fs_id: str, specs: list[MountTargetSpec]) -> list[MountTargetSpec]:
        """Merge the live mount targets into the file system's waiting record (or start one); the record after."""
        ...

    def snapshot(self, key_arn: str, fs_id: str) -> list[MountTargetSpec] | None: ...
    def snapshots(self, key_arn: str) -> dict[str, list[MountTargetSpec]]: ...
    def waiting_snapshots(self, prefix: str = "") -> dict[str, list[str]]:
        """Key ARNs (starting with ``prefix``) with mount-target records not yet restored, and their file systems."""
        ...

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
        "key_state": result.key_state.value if result.key_state else None,
        "reason": result.reason,
        "opened_by": actor,
        "affected": {fs.file_system_id: fs.model_dump(mode="json") for fs in result.affected},
        "actions": [],
    }


def _action_items(actions: list[ActionResult], actor: str) -> list[dict[str, Any]]:
    at = _now()
    return [{**a.model_dump(mode="json"), "at": at, "actor": actor} for a in actions]


def _stamped(specs: list[MountTargetSpec]) -> dict[str, dict[str, Any]]:
    at = _now()
    return {s.mount_target_id: {**s.model_dump(mode="json"), "recorded_at": s.recorded_at or at} for s in specs}


def _specs(mount_targets: Mapping[str, Any] | list[Any]) -> list[MountTargetSpec]:
    """A record's mount targets, oldest first."""
    values = list(mount_targets.values()) if isinstance(mount_targets, Mapping) else list(mount_targets)
    specs = [MountTargetSpec.model_validate(m) for m in values]
    return sorted(specs, key=lambda s: (s.recorded_at or "", s.mount_target_id))


def _view(item: dict[str, Any]) -> dict[str, Any]:
    """An incident as callers read it: ``affected`` as a list, ordered by file system ID."""
    affected = item.get("affected") or {}
    if isinstance(affected, Mapping):
        item = {**item, "affected": [affected[k] for k in sorted(affected)]}
    return item


def with_records(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The incidents among ``items``, each current one with its key's mount-target records
    (``mount_target_records``: what was recorded, when, and when it was put back)."""
    records: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        if item["sk"].startswith("snapshot#"):
            mount_targets = [spec.model_dump(mode="json") for spec in _specs(item.get("mount_targets") or [])]
            records.setdefault(item["pk"], []).append({**item, "mount_targets": mount_targets})
    return [
        {**_view(item), "mount_target_records": records.get(item["pk"], [])} if item["sk"] == INCIDENT else _view(item)
        for item in items
        if item["sk"] == INCIDENT or item["sk"].startswith("resolved#")
    ]


class MemoryIncidentStore:
    """The same store, in memory: for a CLI run against real AWS without a table, and for tests."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def open(self, result: EventResult, actor: str) -> None:
        assert result.key_arn
        with self._lock:
            existing = self.items.get((result.key_arn, INCIDENT))
            if existing and existing["status"] == "open":
                existing["updated_at"] = _now()
                for fs in result.affected:
                    existing["affected"].setdefault(fs.file_system_id, fs.model_dump(mode="json"))
                return
            if existing:
                self.items[(result.key_arn, f"resolved#{existing['opened_at']}")] = {
                    **existing,
                    "sk": f"resolved#{existing['opened_at']}",
                }
            self.items[(result.key_arn, INCIDENT)] = _incident_item(result, actor)

    def record_actions(self, key_arn: str, actions: list[ActionResult], actor: str) -> None:
        with self._lock:
            item = self.items.get((key_arn, INCIDENT))
            if item is not None and actions:
                item["actions"] += _action_items(actions, actor)
                item["updated_at"] = _now()

    def resolve(self, key_arn: str, result: EventResult, actor: str) -> bool:
        with self._lock:
            item = self.items.get((key_arn, INCIDENT))
            if item is None or item["status"] != "open":
                return False
            item.update(status="resolved", resolved_at=_now(), resolved_by=actor, resolved_event=result.event_id)
            return True

    def current(self, key_arn: str) -> dict[str, Any] | None:
        item = self.items.get((key_arn, INCIDENT))
        return _view(item) if item is not None else None

    def save_snapshot(self, key_arn: str, fs_id: str, specs: list[MountTargetSpec]) -> list[MountTargetSpec]:
        key = (key_arn, f"snapshot#{fs_id}")
        with self._lock:
            item = self.items.get(key)
            if item is None or item.get("restored_at"):
                item = {"pk": key_arn, "sk": key[1], "file_system_id": fs_id, "taken_at": _now(), "mount_targets": {}}
                self.items[key] = item
            for mt_id, spec in _stamped(specs).items():
                item["mount_targets"].setdefault(mt_id, spec)
            return _specs(item["mount_targets"])

    def snapshot(self, key_arn: str, fs_id: str) -> list[MountTargetSpec] | None:
        item = self.items.get((key_arn, f"snapshot#{fs_id}"))
        if item is None or item.get("restored_at"):
            return None
        return _specs(item["mount_targets"])

    def snapshots(self, key_arn: str) -> dict[str, list[MountTargetSpec]]:
        return {
            item["file_system_id"]: _specs(item["mount_targets"])
            for (pk, sk), item in list(self.items.items())
            if pk == key_arn and sk.startswith("snapshot#") and not item.get("restored_at")
        }

    def waiting_snapshots(self, prefix: str = "") -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for (pk, sk), item in sorted(self.items.items()):
            if pk.startswith(prefix) and sk.startswith("snapshot#") and not item.get("restored_at"):
                found.setdefault(pk, []).append(item["file_system_id"])
        return found

    def mark_restored(self, key_arn: str, fs_id: str) -> None:
        with self._lock:
            item = self.items.get((key_arn, f"snapshot#{fs_id}"))
            if item is not None:
                item["restored_at"] = _now()

    def list_all(self) -> list[dict[str, Any]]:
        return with_records([item for _, item in sorted(self.items.items())])


_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def _encode(value: Any) -> dict[str, Any]:
    return dict(_SERIALIZER.serialize(value))


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: integers become int again."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, set)):
        return [_plain(v) for v in value]
    return value


def _decode(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _plain(_DESERIALIZER.deserialize(value)) for name, value in raw.items()}


class DynamoIncidentStore(HomeTable):
    """The incident store in DynamoDB. Every write is one conditional PutItem or UpdateItem."""

    @needs("dynamodb:GetItem", scope="state")
    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        raw = self._db.get_item(TableName=self.table_name, Key=self._key(pk, sk), ConsistentRead=True).get("Item")
        return _decode(raw) if raw else None

    @needs("dynamodb:PutItem", scope="state")
    def _put(self, item: dict[str, Any], condition: str | None = None, values: dict[str, Any] | None = None) -> bool:
        args: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": {name: _encode(value) for name, value in item.items() if value is not None},
        }
        if condition:
            args["ConditionExpression"] = condition
            if "#status" in condition:
                args["ExpressionAttributeNames"] = {"#status": "status"}
        if values:
            args["ExpressionAttributeValues"] = {name: _encode(value) for name, value in values.items()}
        return put_item_if(self._db, **args)

    @needs("dynamodb:UpdateItem", scope="state")
    def _update(
        self,
        pk: str,
        sk: str,
        expression: str,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
        return_new: bool = False,
    ) -> dict[str, Any] | None:
        """One UpdateItem. None when the condition does not hold; the item after when ``return_new``."""
        args: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": self._key(pk, sk),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {name: _encode(value) for name, value in values.items()},
        }
        if names:
            args["ExpressionAttributeNames"] = names
        if return_new:
            args["ReturnValues"] = "ALL_NEW"
        try:
            response = self._db.update_item(**args)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return _decode(response.get("Attributes") or {})

    def _query(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        return [_decode(raw) for raw in self._partition(pk, prefix)]

    def open(self, result: EventResult, actor: str) -> None:
        key_arn = result.key_arn
        assert key_arn
        for _ in range(3):  # a writer in between changes the item's state at most twice
            existing = self._get(key_arn, INCIDENT)
            if existing is None or existing.get("status") != "open":
                if existing is not None:
                    self._put({**existing, "sk": f"resolved#{existing['opened_at']}"})
                # If another invocation opened it first, the condition fails and that incident stands.
                if self._put(
                    _incident_item(result, actor),
                    "attribute_not_exists(pk) OR #status = :resolved",
                    {":resolved": "resolved"},
                ):
                    return
                continue
            # Open already: add the file systems it does not list yet, each in its own map entry.
            names = {"#status": "status", "#affected": "affected"}
            values: dict[str, Any] = {":open": "open", ":now": _now()}
            parts = ["updated_at = :now"]
            for i, fs in enumerate(result.affected):
                names[f"#f{i}"] = fs.file_system_id
                values[f":f{i}"] = fs.model_dump(mode="json")
                parts.append(f"#affected.#f{i} = if_not_exists(#affected.#f{i}, :f{i})")
            if self._update(key_arn, INCIDENT, "SET " + ", ".join(parts), "#status = :open", names, values) is not None:
                return
        raise RuntimeError(f"the incident of {key_arn} kept changing while it was being opened")

    def record_actions(self, key_arn: str, actions: list[ActionResult], actor: str) -> None:
        """Append to the incident's action history (``list_append``: concurrent appends are all kept)."""
        if not actions:
            return
        self._update(
            key_arn,
            INCIDENT,
            "SET #actions = list_append(if_not_exists(#actions, :empty), :new), updated_at = :now",
            "attribute_exists(pk)",
            {"#actions": "actions"},
            {":empty": [], ":new": _action_items(actions, actor), ":now": _now()},
        )

    def resolve(self, key_arn: str, result: EventResult, actor: str) -> bool:
        return (
            self._update(
                key_arn,
                INCIDENT,
                "SET #status = :resolved, resolved_at = :now, resolved_by = :actor, resolved_event = :event",
                "#status = :open",
                {"#status": "status"},
                {":resolved": "resolved", ":open": "open", ":now": _now(), ":actor": actor, ":event": result.event_id},
            )
            is not None
        )

    def current(self, key_arn: str) -> dict[str, Any] | None:
        item = self._get(key_arn, INCIDENT)
        return _view(item) if item is not None else None

    def save_snapshot(self, key_arn: str, fs_id: str, specs: list[MountTargetSpec]) -> list[MountTargetSpec]:
        sk = f"snapshot#{fs_id}"
        stamped = _stamped(specs)
        for _ in range(3):
            fresh = {"pk": key_arn, "sk": sk, "file_system_id": fs_id, "taken_at": _now(), "mount_targets": stamped}
            if self._put(fresh, "attribute_not_exists(pk) OR attribute_exists(restored_at)"):
                return _specs(stamped)
            # A record is waiting to be restored: merge the live mount targets in, never over what is there.
            names = {"#mts": "mount_targets"}
            values: dict[str, Any] = {}
            parts = []
            for i, (mt_id, spec) in enumerate(stamped.items()):
                names[f"#m{i}"] = mt_id
                values[f":m{i}"] = spec
                parts.append(f"#mts.#m{i} = if_not_exists(#mts.#m{i}, :m{i})")
            if not parts:
                names, parts, values = {}, ["file_system_id = :fs"], {":fs": fs_id}
            after = self._update(
                key_arn,
                sk,
                "SET " + ", ".join(parts),
                "attribute_exists(pk) AND attribute_not_exists(restored_at)",
                names,
                values,
                return_new=True,
            )
            if after is not None:
                return _specs(after.get("mount_targets") or {})
        raise RuntimeError(f"the mount-target record of {fs_id} kept changing while it was being written")

    def snapshot(self, key_arn: str, fs_id: str) -> list[MountTargetSpec] | None:
        item = self._get(key_arn, f"snapshot#{fs_id}")
        if item is None or item.get("restored_at"):
            return None
        return _specs(item.get("mount_targets") or {})

    def snapshots(self, key_arn: str) -> dict[str, list[MountTargetSpec]]:
        return {
            item["file_system_id"]: _specs(item.get("mount_targets") or {})
            for item in self._query(key_arn, "snapshot#")
            if not item.get("restored_at")
        }

    @needs("dynamodb:Scan", scope="state")
    def waiting_snapshots(self, prefix: str = "") -> dict[str, list[str]]:
        """For the sweep: a Scan of the snapshot items only (a small table: one item per incident and record)."""
        found: dict[str, list[str]] = {}
        for page in self._db.get_paginator("scan").paginate(
            TableName=self.table_name,
            FilterExpression="begins_with(pk, :p) AND begins_with(sk, :s) AND attribute_not_exists(restored_at)",
            ExpressionAttributeValues={":p": {"S": prefix or "arn:"}, ":s": {"S": "snapshot#"}},
            ProjectionExpression="pk, file_system_id",
            ConsistentRead=True,
        ):
            for raw in page.get("Items", []):
                item = _decode(raw)
                found.setdefault(str(item["pk"]), []).append(str(item["file_system_id"]))
        return {k: sorted(v) for k, v in sorted(found.items())}

    def mark_restored(self, key_arn: str, fs_id: str) -> None:
        self._update(
            key_arn,
            f"snapshot#{fs_id}",
            "SET restored_at = :now",
            "attribute_exists(pk)",
            {},
            {":now": _now()},
        )

    def list_all(self) -> list[dict[str, Any]]:
        """Every incident, for ``keywatch incidents`` (operator credentials: this is a Scan)."""
        items: list[dict[str, Any]] = []
        for page in self._db.get_paginator("scan").paginate(
            TableName=self.table_name,
            FilterExpression="sk = :i OR begins_with(sk, :r) OR begins_with(sk, :s)",
            ExpressionAttributeValues={":i": {"S": INCIDENT}, ":r": {"S": "resolved#"}, ":s": {"S": "snapshot#"}},
        ):
            items += [_decode(raw) for raw in page.get("Items", [])]
        return with_records(sorted(items, key=lambda i: (i["pk"], i["sk"])))
