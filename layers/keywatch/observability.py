"""Logger, Tracer and Metrics, made once and shared by every handler."""

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "keywatch"
NAMESPACE = "keywatch"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
