"""keywatch's own records in the incidents table (approvals, silences, the interaction log): one item each,
encoded from its pydantic model, read back as plain values for the model to validate."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from keywatch.adapters.aws import HomeTable, error_code, put_item_if
from keywatch.iam import needs

KEEP_SECONDS = 180 * 24 * 3600  # records outlive their buttons: they are the incident's history
_serializer, _deserializer = TypeSerializer(), TypeDeserializer()


def encode(pk: str, sk: str, model: Any, keep_until: int) -> dict[str, Any]:
    doc = {k: v for k, v in model.model_dump(mode="json").items() if v is not None}
    return {
        name: _serializer.serialize(value)
        for name, value in {**doc, "pk": pk, "sk": sk, "expires_at": keep_until}.items()
    }


def decode(raw: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in raw.items()}


class Records(HomeTable):
    """Items in the incidents table, one per record: put, read (consistently), updated under a condition."""

    @needs("dynamodb:PutItem", scope="state")
    def _put(self, item: dict[str, Any], condition: str | None = None) -> bool:
        if condition is None:
            self._db.put_item(TableName=self.table_name, Item=item)
            return True
        return put_item_if(self._db, TableName=self.table_name, Item=item, ConditionExpression=condition)

    @needs("dynamodb:GetItem", scope="state")
    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        raw = self._db.get_item(TableName=self.table_name, Key=self._key(pk, sk), ConsistentRead=True).get("Item")
        return decode(raw) if raw else None

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
        return decode(response.get("Attributes", {}))

    def _query(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        return [decode(raw) for raw in self._partition(pk, prefix)]

    def _scan(self, condition: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        """For the CLI only (operator credentials): a Scan of the table."""
        items: list[dict[str, Any]] = []
        for page in self._db.get_paginator("scan").paginate(
            TableName=self.table_name,
            FilterExpression=condition,
            ExpressionAttributeValues={k: _serializer.serialize(v) for k, v in values.items()},
        ):
            items += [decode(raw) for raw in page.get("Items", [])]
        return items
