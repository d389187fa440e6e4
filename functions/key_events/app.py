"""Lambda entry point for KMS key events routed by EventBridge. Thin: parse, hand over, dump."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from keywatch.config import Settings
from keywatch.engine import Watchdog
from keywatch.observability import logger, metrics, tracer
from keywatch.parse import parse_envelope
from keywatch.runtime import build_watchdog


@cache
def watchdog() -> Watchdog:
    """Built on first use, once per container: settings validated, clients cached."""
    return build_watchdog(Settings.from_env())


@logger.inject_lambda_context(correlation_id_path="detail.eventID || id", log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    envelope = parse_envelope(event)  # the discriminated union of CloudTrail, native and other events
    dog = watchdog()
    dog.register_lambda_context(context)
    result = dog.handle(envelope)
    metrics.add_metric(name=f"Outcome_{result.outcome.value}", unit="Count", value=1)
    return result.report()
