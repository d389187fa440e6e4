"""Scheduled sweep: fan out one SQS message per account and Region to the sweep workers. Thin."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from keywatch.adapters.aws import AwsClients
from keywatch.config import Settings
from keywatch.fanout import ScheduledEvent, fan_out, sweep_id_for
from keywatch.observability import logger, metrics, tracer


@cache
def settings_and_clients() -> tuple[Settings, AwsClients]:
    """Built on first use, once per container."""
    settings = Settings.from_env()
    return settings, AwsClients(
        read_role=settings.read_role, write_role=settings.write_role, home_account=settings.home_account
    )


@logger.inject_lambda_context(correlation_id_path="id", log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    schedule = ScheduledEvent.model_validate(event)
    settings, clients = settings_and_clients()
    plan = fan_out(settings, clients, sweep_id=sweep_id_for(schedule.time))
    metrics.add_metric(name="SweepTargets", unit="Count", value=plan.messages)
    return plan.model_dump(mode="json")
