"""Support for the approve-mode tests: a Slack that also answers chat.update and user groups, signed
function-URL requests, and a small estate where every policy is represented."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import urlencode

from keywatch.cli.simulator import simulated_environment
from notify.slack_support import FakeSlack, Reply, Request
from slack_sdk.signature import SignatureVerifier
from support import sqs_record as any_sqs_record

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the Slack docs' example format, not a real one
APPROVER, APPROVER_NAME = "U0APPROVER", "alice"
OUTSIDER = "U0OUTSIDER"
GROUP, GROUP_MEMBER = "S0ONCALL", "U0ONCALL"
KEY_ACCOUNT = "111122223333"
APP_KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
BILLING_KEY = "0987dcba-09fe-87dc-65ba-ab0987654321"
PLAIN_KEY = "9f8e7d6c-5b4a-4392-8a1b-0c9d8e7f6a5b"
APP_ARN = f"arn:aws:kms:us-east-1:{KEY_ACCOUNT}:key/{APP_KEY}"
BILLING_ARN = f"arn:aws:kms:us-east-1:{KEY_ACCOUNT}:key/{BILLING_KEY}"
PLAIN_ARN = f"arn:aws:kms:us-east-1:{KEY_ACCOUNT}:key/{PLAIN_KEY}"

FLEET: dict[str, Any] = {
    "accounts": [
        {
            "id": KEY_ACCOUNT,
            "regions": {
                "us-east-1": {
                    "keys": [
                        {"id": APP_KEY, "aliases": ["alias/app"]},
                        {"id": BILLING_KEY, "aliases": ["alias/billing"]},
                        {"id": PLAIN_KEY, "aliases": ["alias/plain"]},
                    ],
                    "file_systems": [
                        {
                            "name": "app-shared",
                            "key": "alias/app",
                            "mount_targets": 2,
                            "tags": {"keywatch:on-key-loss": "unmount"},
                        },
                        {"name": "app-home", "key": APP_KEY, "tags": {"keywatch:on-key-loss": "protect"}},
                        {
                            "name": "billing-reports",
                            "key": "alias/billing",
                            "mount_targets": 1,
                            "tags": {"keywatch:on-key-loss": "protect"},
                        },
                        {"name": "plain-share", "key": "alias/plain", "mount_targets": 1},
                    ],
                }
            },
        }
    ]
}


class InteractiveSlack(FakeSlack):
    """The local Slack of tests/notify, answering chat.update and usergroups.users.list as Slack does."""

    def __init__(self, groups: dict[str, list[str]] | None = None) -> None:
        super().__init__()
        self.groups = groups or {}

    def _record(self, request: Request) -> Reply:
        reply = super()._record(request)
        if "/usergroups.users.list" in request.path and reply.status == 200 and reply.body == "ok":
            from urllib.parse import parse_qs, urlsplit

            form = parse_qs(str(request.body.get("_raw", ""))) | parse_qs(urlsplit(request.path).query)
            found = self.groups.get((form.get("usergroup") or [""])[0])
            return Reply(
                200, {"ok": True, "users": found} if found is not None else {"ok": False, "error": "no_such_subteam"}
            )
        if request.path.endswith("/chat.update") and reply.status == 200 and reply.body == "ok":
            return Reply(200, {"ok": True, "channel": request.body.get("channel"), "ts": request.body.get("ts")})
        return reply

    @property
    def response_url(self) -> str:
        return self.base + "/actions/T0KEYWATCH/1234567890/responseUrlSecretPart"

    def to_response_url(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path.startswith("/actions/")]

    def updates(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path.endswith("/chat.update")]


def buttons_of(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every button a posted message carries, by action_id."""
    found = {}
    for attachment in payload.get("attachments", []):
        for block in attachment.get("blocks", []):
            if block.get("type") == "actions":
                for element in block["elements"]:
                    found[element["action_id"]] = element
    return found


def click_body(button: dict[str, Any], user: str = APPROVER, name: str = APPROVER_NAME, response_url: str = "") -> str:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": name, "name": name, "team_id": "T0KEYWATCH"},
        "api_app_id": "A0KEYWATCH",
        "team": {"id": "T0KEYWATCH", "domain": "example"},
        "container": {"type": "message", "message_ts": "1764392400.000001", "channel_id": "C0ALERTS"},
        "channel": {"id": "C0ALERTS", "name": "efs-alerts"},
        "trigger_id": "1234.5678.abcd",
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": button["action_id"],
                "block_id": "keywatch_actions",
                "text": button["text"],
                "value": button["value"],
                "action_ts": "1764392460.000100",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def signed_event(
    body: str,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    base64_body: bool = False,
    signature: str | None = None,
) -> dict[str, Any]:
    """A Lambda function URL event (payload format 2.0), as Slack's request arrives."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    sig = signature if signature is not None else SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": ts,
            "x-slack-signature": sig or "",
            "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": "abcdefghij.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghij",
            "http": {
                "method": "POST",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "Slackbot 1.0",
            },
            "requestId": "c7e5a3c2-0000-4000-8000-000000000001",
            "routeKey": "$default",
            "stage": "$default",
            "time": "29/Nov/2026:05:01:00 +0000",
            "timeEpoch": 1795928460000,
        },
        "body": base64.b64encode(body.encode()).decode() if base64_body else body,
        "isBase64Encoded": base64_body,
    }


def endpoint_env(estate: Any, signing_secret_arn: str, **extra: str) -> dict[str, str]:
    """The environment template.yaml gives the endpoint and the worker, pointed at the simulated estate."""
    env = simulated_environment(estate.fleet) | {
        "KEYWATCH_MODE": "approve",
        "KEYWATCH_SLACK_SIGNING_SECRET": signing_secret_arn,
        "KEYWATCH_SLACK_APPROVERS": APPROVER,
    }
    env.update(extra)
    return env


def sqs_record(body: str, receive_count: int = 1) -> dict[str, Any]:
    return any_sqs_record(body, receive_count=receive_count, queue="keywatch-ApprovedActions")


def received(sqs: Any, queue_url: str) -> list[str]:
    """Every message body waiting in the queue (taken off it, as the event source mapping does)."""
    bodies: list[str] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [m["Body"] for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return bodies
