"""EFS adapter: page through file systems; read, delete and re-create mount targets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from keywatch.adapters.aws import AwsClients, Purpose
from keywatch.iam import needs
from keywatch.models import POLICY_TAG, FileSystem, Policy

PAGE_SIZE = 100  # the most DescribeFileSystems returns per page


class EfsGateway:
    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    def _client(self, account: str, region: str, purpose: Purpose = "read") -> Any:
        return self._clients.client("efs", account, region, purpose)

    @needs("elasticfilesystem:DescribeFileSystems")
    def file_systems(self, account: str, region: str) -> Iterator[FileSystem]:
        """Every file system in one account and Region: ceil(N/100) DescribeFileSystems calls."""
        paginator = self._client(account, region).get_paginator("describe_file_systems")
        for page in paginator.paginate(PaginationConfig={"PageSize": PAGE_SIZE}):
            for raw in page.get("FileSystems", []):
                yield to_file_system(raw, account, region)


def to_file_system(raw: dict[str, Any], account: str, region: str) -> FileSystem:
    tags = {t["Key"]: t["Value"] for t in raw.get("Tags", []) if "Key" in t}
    tag_value = (tags.get(POLICY_TAG) or "").strip().lower()
    try:
        policy = Policy(tag_value) if tag_value else Policy.NOTIFY
        invalid = None
    except ValueError:
        policy, invalid = Policy.NOTIFY, tags.get(POLICY_TAG)
    return FileSystem(
        file_system_id=raw["FileSystemId"],
        name=raw.get("Name") or tags.get("Name"),
        account=account,
        region=region,
        arn=raw.get("FileSystemArn"),
        kms_key_id=raw.get("KmsKeyId"),
        encrypted=bool(raw.get("Encrypted")),
        mount_targets=int(raw.get("NumberOfMountTargets") or 0),
        policy=policy,
        policy_tag_invalid=invalid,
    )
