"""Approved-action worker: one approval per SQS message, with partial-batch failure reporting. Thin."""

# No ``from __future__ import annotations`` here: the record model's annotations must be real types, since Lambda
# (and the tests) load this file as a bare module that pydantic can't resolve names in later.
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from keywatch.approvals.execute import ApprovedRunner, MessageUpdater
from keywatch.approvals.models import ApprovedWork
from keywatch.approvals.runtime import build_worker
from keywatch.approvals.worker import run_approved
from keywatch.config import Settings
from keywatch.observability import logger, metrics, tracer
from pydantic import Json


class ApprovedWorkRecord(SqsRecordModel):
    body: Json[ApprovedWork]  # type: ignore[assignment]


processor = BatchProcessor(event_type=EventType.SQS, model=ApprovedWorkRecord, raise_on_entire_batch_failure=False)


@cache
def worker() -> tuple[ApprovedRunner, MessageUpdater]:
    """Built on first use, once per container: settings validated, clients cached."""
    return build_worker(Settings.from_env())


@tracer.capture_method
def record_handler(record: ApprovedWorkRecord) -> dict[str, Any]:
    runner, messages = worker()
    return run_approved(runner, messages, record.body, int(record.attributes.ApproximateReceiveCount))


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
