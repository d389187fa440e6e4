"""Duplicate deliveries: EventBridge delivers at least once. Powertools Idempotency, keyed on the event ID.

The key is the CloudTrail ``eventID``, or the EventBridge ``id`` for native KMS events (both are
``KeyEvent.event_id``). A repeat returns the first result's record; keywatch reports it as
``duplicate`` and does nothing again.

The record ends COMPLETE only when every step is done. A handling that could not finish raises
:class:`~keywatch.engine.HandlingIncomplete` inside the idempotent function, and Powertools then
deletes the record (``BaseIdempotencyHandler._get_function_response``), so the retry runs again.

The idempotency table never stands between an event and its alert: if its record can't be read or
written before the handling, the event is handled anyway (the delivery log keeps the sends to one),
then the invocation fails so that it is retried with the record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from keywatch.adapters.aws import AwsClients, describe_error
from keywatch.iam import needs
from keywatch.models import EventResult, KeyEvent, Outcome
from keywatch.observability import logger, metrics

RECORD_LIFETIME = timedelta(days=14)  # longer than EventBridge's 24 h retry window and any DLQ redrive


def duplicate_record(result: EventResult) -> dict[str, Any]:
    """What the idempotency record keeps of a handling: what a duplicate reports (:func:`~keywatch.engine.
    duplicate_of`), not the whole result, which on a thousand file systems would pass DynamoDB's 400 KB."""
    report = result.report()
    return {name: report.get(name) for name in ("event_id", "key_arn", "key_state", "outcome", "key_state_after")}


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
            self._local.ran = True
            try:
                result: EventResult = self._local.handle()
            except Exception as exc:  # Powertools releases the record, then re-raises it
                self._local.error = exc
                raise
            self._local.result = result
            return duplicate_record(result)

        self._once = once

    def register_lambda_context(self, context: Any) -> None:
        """Lets Powertools expire an in-progress record if the function times out mid-event."""
        self.config.register_lambda_context(context)

    def __call__(self, event: KeyEvent, handle: Callable[[], EventResult]) -> EventResult:
        from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError

        from keywatch.engine import duplicate_of
        from keywatch.errors import HandlingIncomplete

        self._local.handle = handle
        self._local.result = None
        self._local.ran = False
        self._local.error = None
        try:
            first = self._once(key={"event_id": event.event_id})
        except IdempotencyPersistenceLayerError as exc:
            cause = describe_error(exc.__cause__) if exc.__cause__ else type(exc).__name__
            metrics.add_metric(name="IdempotencyUnavailable", unit="Count", value=1)
            if self._local.ran:
                # The handling ran. If it failed, the failed release replaced its error: raise that one.
                if self._local.error is not None:
                    raise self._local.error from exc
                # It finished every step; only its record could not be completed. A redelivery finds
                # every step done (re-checks, delivery log), so nothing is repeated.
                logger.warning("idempotency record not completed", event_id=event.event_id, error=cause)
                return self._local.result  # type: ignore[no-any-return]
            logger.warning("idempotency record unavailable; handling anyway", event_id=event.event_id, error=cause)
            result = handle()
            if result.outcome not in (Outcome.ALERT, Outcome.RESOLVED):
                return result  # nothing was done or sent: nothing a retry would need to finish or keep to one
            raise HandlingIncomplete(result, [f"idempotency record ({cause})"]) from exc
        handled: EventResult | None = self._local.result
        if handled is not None:
            return handled
        return duplicate_of(first, event)
