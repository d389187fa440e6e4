"""Duplicate deliveries: EventBridge delivers at least once. Powertools Idempotency, keyed on the event ID.

The key is the CloudTrail ``eventID``, or the EventBridge ``id`` for native KMS events (both are
``KeyEvent.event_id``). A repeat returns the first result's record; keywatch reports it as
``duplicate`` and does nothing again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from keywatch.adapters.aws import AwsClients
from keywatch.iam import needs
from keywatch.models import EventResult, KeyEvent

RECORD_LIFETIME = timedelta(days=14)  # longer than EventBridge's 24 h retry window and any DLQ redrive


class LazyIdempotentHandling:
    """Builds :class:`IdempotentHandling` on first use: the sweep worker, which never handles events by
    ID, does not pay for Powertools Idempotency at cold start."""

    def __init__(self, clients: AwsClients, table_name: str, region: str) -> None:
        self._args = (clients, table_name, region)
        self._real: IdempotentHandling | None = None
        self._lock = threading.Lock()

    @property
    def real(self) -> IdempotentHandling:
        with self._lock:
            if self._real is None:
                self._real = IdempotentHandling(*self._args)
            return self._real

    def register_lambda_context(self, context: Any) -> None:
        self.real.register_lambda_context(context)

    def __call__(self, event: KeyEvent, handle: Callable[[], EventResult]) -> EventResult:
        return self.real(event, handle)


class IdempotentHandling:
    """Wraps the engine's handling in ``idempotent_function`` with DynamoDB persistence."""

    @needs("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", scope="state")
    def __init__(self, clients: AwsClients, table_name: str, region: str) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        self.config = IdempotencyConfig(
            event_key_jmespath="event_id",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=int(RECORD_LIFETIME.total_seconds()),
        )
        persistence = DynamoDBPersistenceLayer(
            table_name=table_name, boto3_client=clients.home_client("dynamodb", region)
        )
        self._local = threading.local()

        @idempotent_function(  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
            data_keyword_argument="key", persistence_store=persistence, config=self.config
        )
        def once(key: dict[str, str]) -> dict[str, Any]:
            result: EventResult = self._local.handle()
            self._local.result = result
            return result.report()

        self._once = once

    def register_lambda_context(self, context: Any) -> None:
        """Lets Powertools expire an in-progress record if the function times out mid-event."""
        self.config.register_lambda_context(context)

    def __call__(self, event: KeyEvent, handle: Callable[[], EventResult]) -> EventResult:
        from keywatch.engine import duplicate_of

        self._local.handle = handle
        self._local.result = None
        first = self._once(key={"event_id": event.event_id})
        result: EventResult | None = self._local.result
        if result is not None:
            return result
        return duplicate_of(first, event)
