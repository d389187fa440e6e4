"""Helpers the tests share (importable: pytest puts tests/ on sys.path, see pyproject.toml)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    """A sample from events/, by the name after its order prefix: load_event("disable_key")."""
    matches = sorted(p for p in EVENTS.glob("*.json") if p.stem.split("_", 1)[-1] == name)
    if not matches:
        raise FileNotFoundError(f"no sample event named {name!r} in {EVENTS}")
    return json.loads(matches[0].read_text())


@dataclass
class FakeLambdaContext:
    """The LambdaContext attributes Powertools reads."""

    function_name: str = "keywatch-key-events"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:keywatch-key-events"
    aws_request_id: str = "00000000-0000-4000-8000-000000000001"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def sqs_record(
    body: str, message_id: str | None = None, receive_count: int = 1, queue: str = "keywatch-queue"
) -> dict[str, Any]:
    """One SQS record as Lambda hands it to a queue worker."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1764662400000",
            "SenderId": "AROAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1764662400001",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:111122223333:{queue}",
        "awsRegion": "us-east-1",
    }


def load_function(name: str) -> Any:
    """Import functions/<name>/app.py the way Lambda does: as a top-level module named app."""
    spec = importlib.util.spec_from_file_location(f"{name}_app", ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def populate_server(endpoint: str, fleet: dict[str, Any], region: str = "us-east-1") -> dict[str, str]:
    """Build one account's fleet on a moto server through boto3 only, as a real account would be built.

    Keys get the IDs moto picks; file systems get Name tags and EFS-style grants. Returns {name: fs id}.
    """
    import boto3

    kms = boto3.client("kms", region_name=region, endpoint_url=endpoint)
    efs = boto3.client("efs", region_name=region, endpoint_url=endpoint)
    spec = fleet["accounts"][0]["regions"][region]
    key_arns: dict[str, str] = {}
    for key in spec.get("keys", []):
        meta = kms.create_key(Description=key["id"], Origin=key.get("origin", "AWS_KMS"))["KeyMetadata"]
        key_arns[key["id"]] = meta["Arn"]
        state = key.get("state", "Enabled")
        if state == "Disabled":
            kms.disable_key(KeyId=meta["KeyId"])
        elif state == "PendingDeletion":
            kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=key.get("pending_window_days", 30))
    ids: dict[str, str] = {}
    for fs in spec.get("file_systems", []):
        args: dict[str, Any] = {
            "CreationToken": fs["name"],
            "Encrypted": bool(fs.get("key") or fs.get("encrypted")),
            "Tags": [{"Key": "Name", "Value": fs["name"]}],
        }
        if fs.get("key"):
            args["KmsKeyId"] = key_arns[fs["key"]]
        fs_id = efs.create_file_system(**args)["FileSystemId"]
        ids[fs["name"]] = fs_id
        if fs.get("key"):
            kms.create_grant(
                KeyId=key_arns[fs["key"]],
                GranteePrincipal="elasticfilesystem.amazonaws.com",
                Operations=["Encrypt", "Decrypt", "GenerateDataKeyWithoutPlaintext", "CreateGrant"],
                Constraints={"EncryptionContextSubset": {"aws:elasticfilesystem:filesystem:id": fs_id}},
            )
    return ids
