"""Lambda function URL for Slack's interactivity requests (approve mode's buttons). Thin.

The URL's AuthType is NONE: Slack's request signature is the authentication, verified before anything
else is read (keywatch.approvals.clicks).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from keywatch.approvals.clicks import ClickHandler, FunctionUrlRequest, request_from_function_url
from keywatch.approvals.runtime import build_click_handler
from keywatch.config import Settings
from keywatch.observability import logger, metrics, tracer


@cache
def handler() -> ClickHandler:
    """Built on first use, once per container: settings validated, clients cached."""
    return build_click_handler(Settings.from_env())


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    url_request = FunctionUrlRequest.model_validate(event)  # parsed at the edge, with keywatch's own model
    request = request_from_function_url(url_request.headers, url_request.body, url_request.isBase64Encoded)
    response = handler().handle(request) if request is not None else None
    status = response.status if response is not None else 400
    return {"statusCode": status, "headers": {"Content-Type": "text/plain"}, "body": response.body if response else ""}
