"""Approved-action worker: one approval per SQS message, with partial-batch failure reporting. Thin."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from keywatch.approvals.execute import ApprovedRunner, MessageUpdater
from keywatch.approvals.models import ApprovedWork
from keywatch.approvals.runtime import build_worker
from keywatch.approvals.worker import run_approved
from keywatch.config import Settings
from keywatch.observability import logger, metrics, tracer

# Each body is validated with keywatch's own model; one that isn't approved work fails its message alone.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@cache
def worker() -> tuple[ApprovedRunner, MessageUpdater]:
    """Built on first use, once per container: settings validated, clients cached."""
    return build_worker(Settings.from_env())


@tracer.capture_method
def record_handler(record: SQSRecord) -> dict[str, Any]:
    work = ApprovedWork.model_validate_json(record.body)
    runner, messages = worker()
    return run_approved(runner, messages, work, int(record.attributes.approximate_receive_count))


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
