"""The stack alone, as a handler: what key_events' dependencies cost before keywatch does anything.

pydantic with one discriminated envelope model, validated once at the edge (as keywatch.parse does);
Powertools Logger, Metrics and Tracer (botocore patched) around the handler as key_events has them, and
Idempotency built as key_events builds it on its first event (config, DynamoDB persistence, the decorated
function); clients from keywatch's factory.
``bench_cold_start.py --stack`` times it like a handler, to show how much of the 1.5x budget the stack
leaves to keywatch's own code. It is not deployed.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from keywatch.adapters.aws import AwsClients
from pydantic import BaseModel, Field, TypeAdapter

logger = Logger(service="stack")
metrics = Metrics(namespace="stack", service="stack")
tracer = Tracer(service="stack", patch_modules=("botocore",))


class Record(BaseModel):
    event_id: str = Field(alias="eventID")
    event_name: str = Field(alias="eventName")
    event_time: datetime | None = Field(default=None, alias="eventTime")


class CloudTrail(BaseModel):
    kind: Literal["AWS API Call via CloudTrail"] = Field(alias="detail-type")
    id: str
    time: datetime
    detail: Record


class Native(BaseModel):
    kind: Literal["KMS CMK Deletion"] = Field(alias="detail-type")
    id: str
    time: datetime


ENVELOPE: TypeAdapter[CloudTrail | Native] = TypeAdapter(Annotated[CloudTrail | Native, Field(discriminator="kind")])


class Stack:
    """What key_events' first event builds that is Powertools' rather than keywatch's: duplicate detection."""

    def __init__(self) -> None:
        self.clients = AwsClients()

    def register_lambda_context(self, context: Any) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        config = IdempotencyConfig(event_key_jmespath="id", raise_on_no_idempotency_key=True)
        persistence = DynamoDBPersistenceLayer(
            table_name="stack-idempotency", boto3_client=self.clients.home_client("dynamodb", "us-east-1")
        )

        @idempotent_function(data_keyword_argument="key", persistence_store=persistence, config=config)  # type: ignore[misc]
        def once(key: dict[str, str]) -> str:
            return key["id"]

        config.register_lambda_context(context)
        self.once = once


@cache
def watchdog() -> Stack:
    return Stack()


@logger.inject_lambda_context(correlation_id_path="id", log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> str:
    return str(watchdog().once(key={"id": ENVELOPE.validate_python(event).id}))
