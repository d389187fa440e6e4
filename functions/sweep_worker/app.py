"""Sweep worker: one account and Region per SQS message, with partial-batch failure reporting. Thin.

An account that denies access or throttles fails its own message only (ReportBatchItemFailures);
the others in the batch are swept and deleted from the queue.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from keywatch.config import Settings
from keywatch.observability import logger, metrics, tracer
from keywatch.runtime import build_watchdog
from keywatch.sweep import Sweeper, SweepTarget, sweep_target

# Each message's body is validated here with keywatch's own model: a body that isn't a target fails its message
# alone. (Not with a Powertools Parser record model: importing those builds every model it has, on every cold start.)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@cache
def sweeper() -> Sweeper:
    """Built on first use, once per container: settings validated, clients cached."""
    return Sweeper(build_watchdog(Settings.from_env()))


@tracer.capture_method
def record_handler(record: SQSRecord) -> dict[str, Any]:
    target = SweepTarget.model_validate_json(record.body)
    return sweep_target(sweeper(), target).summary.model_dump(mode="json")


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
