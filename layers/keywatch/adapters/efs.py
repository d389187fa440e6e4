"""EFS adapter: page through file systems; read, delete and re-create mount targets."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from keywatch.adapters.aws import AwsClients, Purpose, error_code
from keywatch.iam import needs
from keywatch.models import POLICY_TAG, FileSystem, IpAddressType, MountTargetSpec, Policy

if TYPE_CHECKING:
    from mypy_boto3_efs import EFSClient
    from mypy_boto3_efs.type_defs import FileSystemDescriptionTypeDef, MountTargetDescriptionTypeDef

PAGE_SIZE = 100  # the most DescribeFileSystems returns per page


class EfsGateway:
    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    def _client(self, account: str, region: str, purpose: Purpose = "read") -> EFSClient:
        return self._clients.client("efs", account, region, purpose)

    @needs("elasticfilesystem:DescribeFileSystems")
    def pages(self, account: str, region: str) -> Iterator[list[FileSystemDescriptionTypeDef]]:
        """The raw DescribeFileSystems pages of one account and Region: ceil(N/100) calls, one after another."""
        paginator = self._client(account, region).get_paginator("describe_file_systems")
        for page in paginator.paginate(PaginationConfig={"PageSize": PAGE_SIZE}):
            yield page.get("FileSystems", [])

    def file_systems(self, account: str, region: str) -> Iterator[FileSystem]:
        """Every file system in one account and Region: ceil(N/100) DescribeFileSystems calls."""
        for page in self.pages(account, region):
            for raw in page:
                yield to_file_system(raw, account, region)

    @needs("elasticfilesystem:DescribeFileSystems")
    def get(self, file_system_id: str, account: str, region: str) -> FileSystem | None:
        try:
            found = self._client(account, region).describe_file_systems(FileSystemId=file_system_id)
        except ClientError as exc:
            if error_code(exc) in ("FileSystemNotFound", "BadRequest"):
                return None
            raise
        systems = found.get("FileSystems", [])
        return to_file_system(systems[0], account, region) if systems else None


def to_file_system(raw: Mapping[str, Any], account: str, region: str) -> FileSystem:
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


def ip_address_type(ipv4: str | None, ipv6: str | None) -> IpAddressType | None:
    """DescribeMountTargets has no IpAddressType: it follows from which addresses a mount target has."""
    if ipv4 and ipv6:
        return "DUAL_STACK"
    if ipv6:
        return "IPV6_ONLY"
    return "IPV4_ONLY" if ipv4 else None


class MountTargetGateway:
    """Read, delete and re-create mount targets. Deleting one breaks every mount at once."""

    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    def _client(self, account: str, region: str, purpose: Purpose = "read") -> EFSClient:
        return self._clients.client("efs", account, region, purpose)

    @needs("elasticfilesystem:DescribeMountTargets", "elasticfilesystem:DescribeMountTargetSecurityGroups")
    def describe(self, fs: FileSystem) -> list[MountTargetSpec]:
        """Every live mount target of a file system, with its subnet, IP address, AZ and security groups."""
        client = self._client(fs.account, fs.region)
        return [
            MountTargetSpec(
                mount_target_id=mt["MountTargetId"],
                subnet_id=mt["SubnetId"],
                ip_address=mt.get("IpAddress"),
                ipv6_address=mt.get("Ipv6Address"),
                ip_address_type=ip_address_type(mt.get("IpAddress"), mt.get("Ipv6Address")),
                availability_zone=mt.get("AvailabilityZoneName"),
                security_groups=sorted(
                    client.describe_mount_target_security_groups(MountTargetId=mt["MountTargetId"]).get(
                        "SecurityGroups", []
                    )
                ),
            )
            for mt in self._live(fs)
        ]

    @needs("elasticfilesystem:DescribeMountTargets")
    def subnets(self, fs: FileSystem) -> list[str]:
        """The subnets of a file system's live mount targets: enough to count them, or to see which
        are back, without a security-group call per mount target."""
        return [mt["SubnetId"] for mt in self._live(fs)]

    @needs("elasticfilesystem:DescribeMountTargets")
    def file_system_of(self, mount_target_id: str, account: str, region: str) -> str | None:
        """The file system a mount target serves, while AWS still lists it (a DeleteMountTarget names only
        the mount target); None once it is gone."""
        try:
            found = self._client(account, region).describe_mount_targets(MountTargetId=mount_target_id)
        except ClientError as exc:
            if error_code(exc) in ("MountTargetNotFound", "BadRequest"):
                return None
            raise
        targets = found.get("MountTargets", [])
        return str(targets[0]["FileSystemId"]) if targets else None

    def _live(self, fs: FileSystem) -> list[MountTargetDescriptionTypeDef]:
        """DescribeMountTargets, less those being deleted (AWS lists them until they are gone)."""
        paginator = self._client(fs.account, fs.region).get_paginator("describe_mount_targets")
        return [
            mt
            for page in paginator.paginate(FileSystemId=fs.file_system_id)
            for mt in page.get("MountTargets", [])
            if mt.get("LifeCycleState") not in ("deleting", "deleted")
        ]

    @needs("elasticfilesystem:DeleteMountTarget", "ec2:DeleteNetworkInterface", scope="remediate")
    def delete(self, fs: FileSystem, mount_target_id: str) -> bool:
        """Delete one mount target. Returns False when it was already gone (idempotent)."""
        try:
            self._client(fs.account, fs.region, "write").delete_mount_target(MountTargetId=mount_target_id)
        except ClientError as exc:
            if error_code(exc) == "MountTargetNotFound":
                return False
            raise
        return True

    @needs(
        "elasticfilesystem:CreateMountTarget",
        "ec2:CreateNetworkInterface",
        "ec2:DescribeSubnets",
        "ec2:DescribeNetworkInterfaces",
        scope="remediate",
    )
    def create(self, fs: FileSystem, spec: MountTargetSpec) -> str | None:
        """Re-create a mount target from its record. Returns None if one already exists in that AZ."""
        args: dict[str, Any] = {"FileSystemId": fs.file_system_id, "SubnetId": spec.subnet_id}
        if spec.ip_address:
            args["IpAddress"] = spec.ip_address
        if spec.ipv6_address:
            args["Ipv6Address"] = spec.ipv6_address
        if spec.ip_address_type:
            args["IpAddressType"] = spec.ip_address_type
        if spec.security_groups:
            args["SecurityGroups"] = spec.security_groups
        try:
            return str(self._client(fs.account, fs.region, "write").create_mount_target(**args)["MountTargetId"])
        except ClientError as exc:
            if error_code(exc) == "MountTargetConflict":
                return None
            raise
