"""SNS adapter: one publish, with message attributes that subscription filter policies can use."""

from __future__ import annotations

import json
from typing import Any

from keywatch.adapters.aws import AwsClients
from keywatch.iam import needs


class SnsPublisher:
    def __init__(self, clients: AwsClients, topic_arn: str) -> None:
        self._clients = clients
        self.topic_arn = topic_arn

    @needs("sns:Publish", scope="notify")
    def publish(self, subject: str, text: str, document: dict[str, Any], attributes: dict[str, str]) -> str:
        """Publish with ``MessageStructure=json``: text for e-mail and SMS, the full JSON for programs."""
        _, _, _, region, account, _ = self.topic_arn.split(":", 5)
        as_json = json.dumps(document, default=str)
        message = {
            "default": text,
            "email": text,
            "email-json": as_json,
            "sqs": as_json,
            "lambda": as_json,
            "http": as_json,
            "https": as_json,
        }
        response = self._clients.client("sns", account, region).publish(
            TopicArn=self.topic_arn,
            Subject=subject,
            Message=json.dumps(message),
            MessageStructure="json",
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items() if value
            },
        )
        return str(response["MessageId"])
