"""Logger, Tracer and Metrics, made once and shared by every handler."""

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "keywatch"
NAMESPACE = "keywatch"

# Only what keywatch calls: AWS APIs (botocore) and Slack (slack-sdk goes through http.client).
# Tracer's default patches every library X-Ray knows that it can import (sqlite3, requests, httpx...),
# which costs cold-start time for calls keywatch never makes. See benchmarks/bench_cold_start.py.
TRACED_MODULES = ("botocore", "httplib")

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE, patch_modules=TRACED_MODULES)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
