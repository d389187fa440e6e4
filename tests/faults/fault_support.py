"""The fault-injection harness: the real handler, the template's environment, a moto estate built with
plain boto3, faults injected only in moto's backends and in a local Slack server, redelivery as Lambda
retries an asynchronous invocation (the same event again, after the handler raised).

It counts end states, never log lines: Slack posts the server answered 200, SNS messages delivered to
an SQS queue subscribed to the alert topic, the key's state, the live mount targets, the records.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from support import ROOT, FakeLambdaContext, load_function

ACCOUNT = "123456789012"  # moto's default account: keywatch runs in it, and so do the keys
REGION = "us-east-1"
PROTECT_KEY_TAG = {"TagKey": "keywatch:protect", "TagValue": "true"}
INCIDENTS = "keywatch-incidents"
IDEMPOTENCY = "keywatch-idempotency"
LAMBDA_ATTEMPTS = 3  # an asynchronous invocation and Lambda's two retries (MaximumRetryAttempts: 2)


def template_environment(resolved: dict[str, str], parameters: dict[str, str]) -> dict[str, str]:
    """KeyEventsFunction's environment as template.yaml gives it, with Refs resolved to the estate."""
    from cfnlint.decode import decode

    template, errors = decode(str(ROOT / "template.yaml"))
    assert template is not None and not errors
    params = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    params.update(parameters)
    function = template["Resources"]["KeyEventsFunction"]["Properties"]
    variables = {
        **template["Globals"]["Function"]["Environment"]["Variables"],
        **function.get("Environment", {}).get("Variables", {}),
    }
    conditions = {"HasSweepRegions": bool(params.get("SweepRegions")), "CanChange": params.get("Mode") == "enforce"}

    def value(node: Any) -> str:
        if isinstance(node, (str, int)):
            return str(node)
        (fn, arg), *_ = node.items()
        if fn == "Ref":
            return params.get(arg) if arg in params else resolved.get(arg, "")
        if fn == "Fn::GetAtt":
            name = arg if isinstance(arg, str) else ".".join(arg)
            return resolved.get(name, "")
        if fn == "Fn::Join":
            return str(arg[0]).join(value(part) for part in arg[1])
        if fn == "Fn::If":
            return value(arg[1] if conditions.get(arg[0], False) else arg[2])
        raise AssertionError(f"the harness can't resolve {node!r}")

    return {name: value(node) for name, node in variables.items()}


@dataclass
class Estate:
    """What the judges build with plain boto3: keys, file systems with mount targets, the topic and an
    SQS queue subscribed to it, the two tables, the Slack secret."""

    protect_key: str = ""
    unmount_key: str = ""
    kept_fs: str = ""
    cut_fs: str = ""
    topic_arn: str = ""
    queue_url: str = ""
    secret_arn: str = ""
    remediation_queue_url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    @classmethod
    def build(cls, webhook_url: str) -> Estate:
        kms, efs, ec2 = cls.client("kms"), cls.client("efs"), cls.client("ec2")
        estate = cls()
        estate.protect_key = kms.create_key(Description="protected", Tags=[PROTECT_KEY_TAG])["KeyMetadata"]["Arn"]
        estate.unmount_key = kms.create_key(Description="cut access")["KeyMetadata"]["Arn"]
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        group = ec2.create_security_group(GroupName="nfs", Description="NFS", VpcId=vpc)["GroupId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"][
                "SubnetId"
            ]
            for i, zone in enumerate("ab")
        ]

        def file_system(name: str, key: str, policy: str, mounts: int) -> str:
            fs = efs.create_file_system(
                CreationToken=name,
                Encrypted=True,
                KmsKeyId=key,
                Tags=[{"Key": "Name", "Value": name}, {"Key": "keywatch:on-key-loss", "Value": policy}],
            )["FileSystemId"]
            for subnet in subnets[:mounts]:
                efs.create_mount_target(FileSystemId=fs, SubnetId=subnet, SecurityGroups=[group])
            return fs

        estate.kept_fs = file_system("kept", estate.protect_key, "protect", 1)
        estate.cut_fs = file_system("cut", estate.unmount_key, "unmount", 2)

        sns, sqs = cls.client("sns"), cls.client("sqs")
        estate.topic_arn = sns.create_topic(Name="keywatch-alerts")["TopicArn"]
        estate.queue_url = sqs.create_queue(QueueName="alert-reader")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=estate.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=estate.topic_arn, Protocol="sqs", Endpoint=queue_arn)
        estate.remediation_queue_url = sqs.create_queue(QueueName="keywatch-remediation")["QueueUrl"]

        dynamodb = cls.client("dynamodb")
        dynamodb.create_table(**incidents_table_spec())
        dynamodb.create_table(
            TableName=IDEMPOTENCY,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        )
        estate.secret_arn = cls.client("secretsmanager").create_secret(
            Name="keywatch/slack", SecretString=json.dumps({"webhook_url": webhook_url})
        )["ARN"]
        return estate

    def resources(self) -> dict[str, str]:
        role = f"arn:aws:iam::{ACCOUNT}:role/keywatch/"
        return {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AlertTopic": self.topic_arn,
            "IncidentsTable": INCIDENTS,
            "IdempotencyTable": IDEMPOTENCY,
            "KeyEventsFunctionRole.Arn": role + "keywatch-key-events",
            "SweepWorkerFunctionRole.Arn": role + "keywatch-sweep-worker",
            "SweepQueue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/sweep",
            "RemediationQueue": self.remediation_queue_url,
        }

    # --- end states -------------------------------------------------------------------------------

    def sns_messages(self) -> list[dict[str, Any]]:
        """Every message the topic delivered to the subscribed queue so far (read once, kept)."""
        sqs = self.client("sqs")
        while batch := sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                self.received.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return self.received

    def key_state(self, key_arn: str) -> str:
        return str(self.client("kms").describe_key(KeyId=key_arn)["KeyMetadata"]["KeyState"])

    def mount_targets(self, fs_id: str) -> list[dict[str, Any]]:
        return list(self.client("efs").describe_mount_targets(FileSystemId=fs_id)["MountTargets"])

    def recorded_mount_targets(self, key_arn: str, fs_id: str) -> set[str]:
        item = self.client("dynamodb").get_item(
            TableName=INCIDENTS, Key={"pk": {"S": key_arn}, "sk": {"S": f"snapshot#{fs_id}"}}
        )
        return set(item.get("Item", {}).get("mount_targets", {}).get("M", {}))

    def incident(self, key_arn: str) -> dict[str, Any]:
        item = self.client("dynamodb").get_item(
            TableName=INCIDENTS, Key={"pk": {"S": key_arn}, "sk": {"S": "incident"}}
        )
        return dict(item.get("Item", {}))


def incidents_table_spec() -> dict[str, Any]:
    return {
        "TableName": INCIDENTS,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
    }


def cloudtrail(event_name: str, key_arn: str, event_id: str, **detail: Any) -> dict[str, Any]:
    """A CloudTrail KMS call as EventBridge delivers it (the shape of events/ samples)."""
    key_id = key_arn.rsplit("/", 1)[-1]
    return {
        "version": "0",
        "id": f"eb-{event_id}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.kms",
        "account": ACCOUNT,
        "time": "2026-11-28T10:02:11Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "IAMUser",
                "arn": f"arn:aws:iam::{ACCOUNT}:user/bob",
                "accountId": ACCOUNT,
                "userName": "bob",
            },
            "eventTime": "2026-11-28T10:02:11Z",
            "eventSource": "kms.amazonaws.com",
            "eventName": event_name,
            "awsRegion": REGION,
            "sourceIPAddress": "203.0.113.24",
            "userAgent": "aws-cli/2.17.5",
            "requestParameters": {"keyId": key_id},
            "responseElements": None,
            "eventID": event_id,
            "readOnly": False,
            "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": key_arn}],
            "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT,
            **detail,
        },
    }


# --- faults, in moto's backends only ----------------------------------------------------------------


class Faults:
    """Make a moto backend method raise for its first N calls (that match), then behave again."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self.raised: dict[str, int] = {}

    def fail(
        self,
        owner: Any,
        method: str,
        times: int,
        error: Callable[[], Exception],
        when: Callable[..., bool] = lambda *a, **k: True,
    ) -> None:
        original = getattr(owner, method)
        label = f"{owner.__name__}.{method}"
        self.raised[label] = 0

        def faulty(backend: Any, *args: Any, **kwargs: Any) -> Any:
            if self.raised[label] < times and when(*args, **kwargs):
                self.raised[label] += 1
                raise error()
            return original(backend, *args, **kwargs)

        self._monkeypatch.setattr(owner, method, faulty)

    def heal(self, owner: Any, method: str) -> None:
        """The fault is over: the original method again, whatever count was left."""
        self.raised[f"{owner.__name__}.{method}"] = 10**9


def throttling() -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError("ThrottlingException", "Rate exceeded")


def table_not_found() -> Exception:
    from moto.dynamodb.exceptions import ResourceNotFoundException

    return ResourceNotFoundException("Requested resource not found")


@contextmanager
def instant_botocore_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """botocore retries exactly as configured (adaptive, 8 attempts), without sleeping between them:
    only the timing changes, so that a burst of throttling takes milliseconds in the suite."""
    from botocore.retries import adaptive, standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
    monkeypatch.setattr(adaptive.ClientRateLimiter, "on_sending_request", lambda self, request, **kw: None)
    yield


# --- the handler, and redelivery ----------------------------------------------------------------------


@dataclass
class Deliveries:
    """What each attempt at one event gave: the report, or the exception the handler raised."""

    attempts: list[dict[str, Any] | BaseException] = field(default_factory=list)

    @property
    def failed(self) -> list[BaseException]:
        return [a for a in self.attempts if isinstance(a, BaseException)]

    @property
    def report(self) -> dict[str, Any]:
        last = self.attempts[-1]
        assert not isinstance(last, BaseException), f"every attempt failed; the last with {last!r}"
        return last


class Deployed:
    """functions/key_events/app.py, loaded as Lambda loads it, with the template's environment."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]) -> None:
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        self.module = load_function("key_events")
        self.module.watchdog.cache_clear()
        self.invocations = 0

    def invoke(self, event: dict[str, Any], context: FakeLambdaContext | None = None) -> dict[str, Any]:
        self.invocations += 1
        context = context or FakeLambdaContext(aws_request_id=f"00000000-0000-4000-8000-{self.invocations:012d}")
        result: dict[str, Any] = self.module.lambda_handler(json.loads(json.dumps(event)), context)
        return result

    def cold_start(self) -> None:
        """A new container: nothing in memory survives."""
        self.module.watchdog.cache_clear()

    def deliver(
        self,
        event: dict[str, Any],
        attempts: int = LAMBDA_ATTEMPTS,
        between: Callable[[int], None] | None = None,
        cold: bool = False,
    ) -> Deliveries:
        """Invoke; after a failure, invoke again with the same event (as Lambda retries), at most ``attempts``."""
        out = Deliveries()
        for attempt in range(attempts):
            if attempt:
                if between is not None:
                    between(attempt)
                if cold:
                    self.cold_start()
            try:
                out.attempts.append(self.invoke(event))
            except Exception as exc:  # noqa: BLE001 - the harness records it, as Lambda would
                out.attempts.append(exc)
                continue
            break
        return out
