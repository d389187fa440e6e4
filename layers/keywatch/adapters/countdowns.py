"""Countdown ledger: which "N days before deletion" reminders already went out.

Kept in the incidents table as ``pk="countdown#<key ARN>", sk="<days>d#<deletion date>"``, written with a
conditional put, so that two sweeps (or two sweep workers) never send the same reminder twice.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any, Protocol

from keywatch.adapters.aws import AwsClients, put_item_if
from keywatch.iam import needs


def countdown_key(key_arn: str, days: int, deletion_date: str) -> tuple[str, str]:
    return f"countdown#{key_arn}", f"{days}d#{deletion_date}"


class CountdownLedger(Protocol):
    def claim(self, key_arn: str, days: int, deletion_date: str) -> bool:
        """Record the reminder; True the first time only (the caller then sends it)."""
        ...

    def release(self, key_arn: str, days: int, deletion_date: str) -> None:
        """Forget a claimed reminder whose send failed, so that the next sweep sends it."""
        ...


class MemoryCountdownLedger:
    """The ledger in memory, for a CLI run without a table and for tests."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def claim(self, key_arn: str, days: int, deletion_date: str) -> bool:
        key = countdown_key(key_arn, days, deletion_date)
        with self._lock:
            if key in self.items:
                return False
            self.items[key] = {"pk": key[0], "sk": key[1], "sent_at": datetime.now(UTC).isoformat()}
            return True

    def release(self, key_arn: str, days: int, deletion_date: str) -> None:
        with self._lock:
            self.items.pop(countdown_key(key_arn, days, deletion_date), None)


class DynamoCountdownLedger:
    def __init__(self, clients: AwsClients, table_name: str, region: str) -> None:
        self._clients = clients
        self.table_name = table_name
        self._region = region

    @needs("dynamodb:PutItem", scope="state")
    def claim(self, key_arn: str, days: int, deletion_date: str) -> bool:
        pk, sk = countdown_key(key_arn, days, deletion_date)
        return put_item_if(
            self._clients.home_client("dynamodb", self._region),
            TableName=self.table_name,
            Item={"pk": {"S": pk}, "sk": {"S": sk}, "sent_at": {"S": datetime.now(UTC).isoformat()}},
            ConditionExpression="attribute_not_exists(pk)",
        )

    @needs("dynamodb:DeleteItem", scope="state")
    def release(self, key_arn: str, days: int, deletion_date: str) -> None:
        pk, sk = countdown_key(key_arn, days, deletion_date)
        self._clients.home_client("dynamodb", self._region).delete_item(
            TableName=self.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}}
        )
