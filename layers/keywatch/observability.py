"""Logger, Tracer and Metrics, made once and shared by every handler.

The Tracer is made on first use (PEP 562 module ``__getattr__``): the handlers use it, so a Lambda
container makes it at import as before, but the CLI never pays for the X-Ray SDK it does not use
(importing it and building its sampling client is about 0.4 s).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

SERVICE = "keywatch"
NAMESPACE = "keywatch"

# AWS APIs (botocore) only. Never httplib: slack-sdk posts through http.client, and X-Ray records each
# request's URL, and a Slack incoming webhook's URL is the secret (tests/notify/test_slack_secret.py).
# Tracer's default patches every library X-Ray knows that it can import (sqlite3, requests, httpx...),
# which costs cold-start time for calls keywatch never makes. See benchmarks/bench_cold_start.py.
TRACED_MODULES = ("botocore",)

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


@cache
def get_tracer() -> Tracer:
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE, patch_modules=TRACED_MODULES)


def __getattr__(name: str) -> Any:
    if name == "tracer":
        return get_tracer()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
