"""Remediation worker: finishes the file systems a key-event invocation handed over when it was running out of
time (one message: up to 50 file systems on one key). Thin. Deployed only in enforce mode.

Every action re-reads the key and the live mount targets before it acts, so a redelivered message finds nothing
left to do. A message that could not be finished fails alone (ReportBatchItemFailures): SQS delivers it again,
then moves it to RemediationDeadLetterQueue, whose alarm reaches a person.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from keywatch.config import Settings
from keywatch.engine import Watchdog
from keywatch.handoff import HandedOff
from keywatch.observability import logger, metrics, tracer
from keywatch.runtime import build_watchdog

# Each body is validated with keywatch's own model; one that isn't hand-off work fails its message alone.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@cache
def watchdog() -> Watchdog:
    """Built on first use, once per container: settings validated, clients cached."""
    return build_watchdog(Settings.from_env())


@tracer.capture_method
def record_handler(record: SQSRecord) -> list[dict[str, Any]]:
    work = HandedOff.model_validate_json(record.body)
    return [a.model_dump(mode="json") for a in watchdog().finish_handed_off(work)]


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    watchdog().keep_time_of(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
