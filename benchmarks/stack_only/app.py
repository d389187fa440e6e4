"""The stack alone, as a handler: what key_events' dependencies cost before keywatch does anything.

pydantic with one discriminated envelope model, validated once at the edge (as keywatch.parse does);
Powertools Logger, Metrics, Tracer (botocore patched) and Idempotency; clients from keywatch's factory.
``bench_cold_start.py --stack`` times it like a handler, to show how much of the 1.5x budget the stack
leaves to keywatch's own code. It is not deployed.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal

import aws_lambda_powertools.utilities.idempotency  # noqa: F401  (key_events builds it on its first event)
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


@cache
def watchdog() -> AwsClients:
    return AwsClients()


@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> str:
    return ENVELOPE.validate_python(event).id
