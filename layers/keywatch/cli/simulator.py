"""The simulated estate: a fleet file becomes a moto AWS account, and events change it as AWS would.

Only the CLI, the tests and the benchmarks import this module; moto never reaches the Lambda layer.
Where moto 5 lacks a KMS state change (PendingImport, PendingReplicaDeletion, deletion), the
simulator sets it on moto's backend, in one place: :class:`_Backends`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from keywatch.adapters.aws import AwsClients
from keywatch.config import Settings
from keywatch.keys import ACCOUNT, InvalidKeyIdentifier, KeyRef, split_key_arn
from keywatch.models import KeyEvent
from keywatch.validation import plain

if TYPE_CHECKING:
    from keywatch.efs_events import EfsEvent

KeyState = Literal["Enabled", "Disabled", "PendingDeletion", "PendingReplicaDeletion", "PendingImport", "Unavailable"]
HOME_ACCOUNT = "123456789012"  # the account keywatch itself runs in, inside the simulation
HOME_REGION = "us-east-1"
SIM_ROLE = "keywatch-simulator"
TOPIC_NAME = "keywatch-alerts"
INCIDENTS_TABLE = "keywatch-incidents"
IDEMPOTENCY_TABLE = "keywatch-idempotency"
INDEX_TABLE = "keywatch-index"
EFS_PRINCIPAL = "elasticfilesystem.amazonaws.com"


class FleetError(ValueError):
    """The fleet file is missing, unreadable or describes an impossible estate."""


GRANT_ID = r"^[A-Za-z0-9_-]{1,128}$"  # KMS's own grant IDs are 64 hex digits; a fleet may name its grants
GrantOperation = Literal[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "GetPublicKey",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
]
EFS_GRANT_OPERATIONS: list[GrantOperation] = [
    "Encrypt",
    "Decrypt",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "CreateGrant",
    "DescribeKey",
    "RetireGrant",
]


class FleetGrant(BaseModel):
    """Another service's grant on a key (AWS Backup's, for example), with the ID a sample event names."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=GRANT_ID)
    grantee: str = Field(min_length=1, max_length=256)
    operations: list[GrantOperation] = Field(min_length=1)
    retiring_principal: str | None = Field(default=None, max_length=256)
    encryption_context: dict[str, str] = Field(default_factory=dict)


class FleetKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    aliases: list[str] = Field(default_factory=list)
    state: KeyState = "Enabled"
    origin: Literal["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"] = "AWS_KMS"
    multi_region: bool = False
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    pending_window_days: int = Field(default=30, ge=7, le=30)
    grants: list[FleetGrant] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        try:
            ref = KeyRef.parse(value)
        except InvalidKeyIdentifier as exc:
            raise ValueError(str(exc)) from exc
        if ref.kind != "key_id":
            raise ValueError(f"a key's id must be a bare key ID, not {value!r}")
        return ref.name

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: list[str]) -> list[str]:
        for alias in value:
            if KeyRef.parse(alias).kind != "alias_name" or alias.startswith("alias/aws/"):
                raise ValueError(f"{alias!r} is not an alias name a customer can create (alias/...)")
        return value


class FleetFileSystem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    id: str | None = Field(default=None, pattern=r"^fs-[0-9a-f]{8,40}$")
    key: str | None = None
    encrypted: bool | None = None
    mount_targets: int = Field(default=0, ge=0, le=6)
    tags: dict[str, str] = Field(default_factory=dict)
    grant_id: str | None = Field(default=None, pattern=GRANT_ID)  # the ID of its EFS grant on its key

    @model_validator(mode="after")
    def _encryption(self) -> FleetFileSystem:
        if self.key and self.encrypted is False:
            raise ValueError(f"file system {self.name!r} names a key but says encrypted: false")
        if self.grant_id and not self.key:
            raise ValueError(f"file system {self.name!r} has a grant_id but no key to hold the grant on")
        return self

    @property
    def is_encrypted(self) -> bool:
        return bool(self.key) or bool(self.encrypted)


class FleetRegion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[FleetKey] = Field(default_factory=list)
    file_systems: list[FleetFileSystem] = Field(default_factory=list)


class FleetAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ACCOUNT.pattern)
    regions: dict[str, FleetRegion] = Field(default_factory=dict)

    @field_validator("id", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value).zfill(12) if isinstance(value, int) else value


class Fleet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accounts: list[FleetAccount] = Field(min_length=1)

    @classmethod
    def load(cls, path: Path) -> Fleet:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise FleetError(f"{path}: cannot read the fleet file ({exc.strerror or exc})") from exc
        except UnicodeDecodeError:
            raise FleetError(f"{path}: not UTF-8 text") from None
        except yaml.YAMLError as exc:
            raise FleetError(f"{path}: {yaml_problem(exc)}") from exc
        if data is None:
            raise FleetError(f"{path}: the file is empty")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise FleetError(f"{path}: {plain(exc, whole='the fleet file')}") from exc

    @property
    def account_ids(self) -> list[str]:
        return [a.id for a in self.accounts]

    @property
    def regions(self) -> list[str]:
        return sorted({r for a in self.accounts for r in a.regions})


def yaml_problem(exc: yaml.YAMLError) -> str:
    """``not valid YAML at line 3, column 5: expected ...``: where the parser gave up, counted from 1."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return f"not valid YAML ({problem})"
    return f"not valid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"


def stable_fs_id(account: str, region: str, name: str) -> str:
    """Deterministic file system IDs, so that replays of the same fleet read the same."""
    return "fs-" + hashlib.sha256(f"{account}/{region}/{name}".encode()).hexdigest()[:17]


@contextmanager
def simulated_aws() -> Iterator[None]:
    """moto in-process, with throwaway credentials that can never reach real AWS."""
    from moto import mock_aws

    saved = {k: os.environ.get(k) for k in _SIM_ENV}
    os.environ.update(_SIM_ENV)
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        saved.setdefault(var, os.environ.pop(var, None))
    _accept_real_multi_region_key_ids()
    try:
        with mock_aws():
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _accept_real_multi_region_key_ids() -> None:
    """moto 5 only accepts ``mrk-<uuid>``; AWS multi-Region key IDs are ``mrk-<32 hex>``."""
    from moto.kms import responses
    from moto.kms.exceptions import NotFoundException

    original = responses.KmsResponse._validate_cmk_id
    if getattr(original, "_keywatch", False):
        return

    def validate(self: Any, key_id: str) -> None:
        if re.fullmatch(r"mrk-[0-9a-f]{32}", key_id):
            if key_id not in self.kms_backend.keys:
                raise NotFoundException(f"Key '{self._display_arn(key_id)}' does not exist")
            return
        original(self, key_id)

    validate._keywatch = True  # type: ignore[attr-defined]
    responses.KmsResponse._validate_cmk_id = validate  # type: ignore[method-assign]


_SIM_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": HOME_REGION,
    "MOTO_ALLOW_NONEXISTENT_REGION": "false",
}


class _Backends:
    """Direct access to moto's backends, for what moto's API can't do. Nothing else touches them."""

    @staticmethod
    def kms(account: str, region: str) -> Any:
        from moto.kms.models import kms_backends

        return kms_backends[account][region]

    @staticmethod
    def efs(account: str, region: str) -> Any:
        from moto.efs.models import efs_backends

        return efs_backends[account][region]

    @classmethod
    def key(cls, key_arn: str) -> Any | None:
        account, region, key_id = split_key_arn(key_arn)
        return cls.kms(account, region).keys.get(key_id)

    @classmethod
    def rekey(cls, account: str, region: str, old_id: str, new_id: str) -> None:
        backend = cls.kms(account, region)
        key = backend.keys.pop(old_id)
        arn = f"arn:aws:kms:{region}:{account}:key/{new_id}"
        key.id, key.arn = new_id, arn
        if getattr(key, "multi_region", False):
            key.multi_region_configuration["PrimaryKey"]["Arn"] = arn
        backend.keys[new_id] = key
        tags = backend.tagger.list_tags_for_resource(old_id).get("Tags", [])
        backend.tagger.delete_all_tags_for_resource(old_id)
        if tags:
            backend.tagger.tag_resource(new_id, tags)

    @classmethod
    def rename_file_system(cls, account: str, region: str, old_id: str, new_id: str) -> None:
        backend = cls.efs(account, region)
        fs = backend.file_systems_by_id.pop(old_id)
        fs.file_system_id = new_id
        fs.file_system_arn = fs.file_system_arn.rsplit("/", 1)[0] + "/" + new_id
        backend.file_systems_by_id[new_id] = fs

    @classmethod
    def regrant(cls, key_arn: str, old_id: str, new_id: str) -> None:
        """Give a grant a fixed ID (moto picks random ones), so that a sample event can name it."""
        key = cls.key(key_arn)
        if key is None:
            raise FleetError(f"key {key_arn} is not defined")
        if new_id in key.grants:
            raise FleetError(f"grant ID {new_id} appears twice on key {key_arn}")
        grant = key.grants.pop(old_id)
        grant.id = new_id
        key.grants[new_id] = grant

    @classmethod
    def set_state(cls, key_arn: str, state: str) -> None:
        key = cls.key(key_arn)
        if key is not None:
            key.key_state = state
            key.enabled = state == "Enabled"
            if state not in ("PendingDeletion", "PendingReplicaDeletion"):
                key.deletion_date = None

    @classmethod
    def delete_key(cls, key_arn: str) -> None:
        account, region, key_id = split_key_arn(key_arn)
        cls.kms(account, region).delete_key(key_id)


def create_incidents_table(dynamodb: Any, name: str) -> None:
    """The incidents table as template.yaml declares it: partition key ``pk``, sort key ``sk``."""
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
    )


def create_index_table(dynamodb: Any, name: str) -> None:
    """The key-to-file-system index as template.yaml declares it (keywatch.adapters.index): ``pk``/``sk``,
    and the ``by-file-system`` index on ``fs``."""
    from keywatch.adapters.index import BY_FILE_SYSTEM

    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "fs", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": BY_FILE_SYSTEM,
                "KeySchema": [{"AttributeName": "fs", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )


def simulated_environment(fleet: Fleet) -> dict[str, str]:
    """The environment that points a keywatch Lambda handler at a simulated estate of this fleet, as
    template.yaml points it at a deployment: its topic, tables, roles, accounts and Regions.

    With it, ``functions/slack_actions/app.py`` (add the approve-mode variables: signing secret, approvers)
    finds the approval records that ``keywatch replay --mode approve`` wrote, in the same moto.
    """
    return {
        "KEYWATCH_HOME_ACCOUNT": HOME_ACCOUNT,
        "KEYWATCH_TOPIC_ARN": f"arn:aws:sns:{HOME_REGION}:{HOME_ACCOUNT}:{TOPIC_NAME}",
        "KEYWATCH_INCIDENTS_TABLE": INCIDENTS_TABLE,
        "KEYWATCH_IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        "KEYWATCH_INDEX_TABLE": INDEX_TABLE,
        "KEYWATCH_ACCOUNTS": ",".join(fleet.account_ids),
        "KEYWATCH_REGIONS": ",".join(fleet.regions),
        "KEYWATCH_READ_ROLE": SIM_ROLE,
        "KEYWATCH_WRITE_ROLE": SIM_ROLE,
    }


# What an estate sets (the home account is the clients' business, so a base setting is kept)
_ESTATE_SETTINGS = {
    "topic_arn",
    "incidents_table",
    "idempotency_table",
    "index_table",
    "accounts",
    "regions",
    "read_role",
    "write_role",
}


@dataclass
class Estate:
    """A simulated AWS estate built from a fleet file, inside an active :func:`simulated_aws`."""

    fleet: Fleet
    clients: AwsClients
    topic_arn: str
    file_system_ids: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (acct, region, name) -> id
    _subnets: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _security_group: dict[tuple[str, str], str] = field(default_factory=dict)
    _applied: set[str] = field(default_factory=set)  # event IDs already applied: a repeat delivery changes nothing

    def settings(self, base: Settings | None = None) -> Settings:
        """Settings that point keywatch at this estate's topic, tables, accounts and Regions."""
        here = Settings.from_env(simulated_environment(self.fleet)).model_dump(include=_ESTATE_SETTINGS)
        return (base or Settings()).model_copy(update=here)

    @classmethod
    def build(cls, fleet: Fleet, index: bool = True) -> Estate:
        """The estate, as a deployment of keywatch sees it after its first sweep: with ``index`` (the default)
        the key-to-file-system index is filled as a sweep fills it (:meth:`fill_index`)."""
        clients = AwsClients(read_role=SIM_ROLE, write_role=SIM_ROLE, home_account=HOME_ACCOUNT)
        topic_arn = clients.home_client("sns", HOME_REGION).create_topic(Name=TOPIC_NAME)["TopicArn"]
        dynamodb = clients.home_client("dynamodb", HOME_REGION)
        create_incidents_table(dynamodb, INCIDENTS_TABLE)
        dynamodb.create_table(
            TableName=IDEMPOTENCY_TABLE,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        )
        create_index_table(dynamodb, INDEX_TABLE)
        estate = cls(fleet=fleet, clients=clients, topic_arn=topic_arn)
        for account in fleet.accounts:
            for region in account.regions:
                try:
                    _Backends.kms(account.id, region), _Backends.efs(account.id, region)
                except KeyError:
                    raise FleetError(
                        f"accounts {account.id}: {region!r} is not an AWS Region with KMS and EFS"
                    ) from None
        for account in fleet.accounts:
            for region, spec in account.regions.items():
                for key in spec.keys:
                    estate._create_key(account.id, region, key)
        for account in fleet.accounts:
            for region, spec in account.regions.items():
                for fs in spec.file_systems:
                    estate._create_file_system(account.id, region, fs)
        if index:
            estate.fill_index()
        clients.calls.clear()
        return estate

    def fill_index(self) -> int:
        """Fill the key-to-file-system index the way a sweep does (the same listing and writes, without the
        key lookups, incidents or notifications a full sweep adds), so that a replay follows the Lambda's path."""
        from keywatch.fanout import targets_for
        from keywatch.runtime import build_watchdog
        from keywatch.sweep.runner import Sweeper

        sweep_container = AwsClients(read_role=SIM_ROLE, write_role=SIM_ROLE, home_account=HOME_ACCOUNT)
        watchdog = build_watchdog(self.settings(), sweep_container)
        return Sweeper(watchdog).fill_index(targets_for(self.fleet.account_ids, self.fleet.regions))

    # --- building ------------------------------------------------------------------------------

    def _create_key(self, account: str, region: str, spec: FleetKey) -> None:
        kms = self.clients.client("kms", account, region, "write")
        if spec.id in _Backends.kms(account, region).keys:
            raise FleetError(f"key {spec.id} appears twice in {account}/{region}")
        created = kms.create_key(
            Description=spec.description or f"keywatch demo key {spec.id}",
            Origin=spec.origin,
            MultiRegion=spec.multi_region,
            Tags=[{"TagKey": k, "TagValue": v} for k, v in spec.tags.items()],
        )["KeyMetadata"]
        _Backends.rekey(account, region, created["KeyId"], spec.id)
        for alias in spec.aliases:
            kms.create_alias(AliasName=alias, TargetKeyId=spec.id)
        arn = f"arn:aws:kms:{region}:{account}:key/{spec.id}"
        for grant in spec.grants:
            args: dict[str, Any] = {
                "KeyId": spec.id,
                "GranteePrincipal": grant.grantee,
                "Operations": list(grant.operations),
                "Name": grant.id,
            }
            if grant.retiring_principal:
                args["RetiringPrincipal"] = grant.retiring_principal
            if grant.encryption_context:
                args["Constraints"] = {"EncryptionContextSubset": grant.encryption_context}
            _Backends.regrant(arn, kms.create_grant(**args)["GrantId"], grant.id)
        if spec.state == "PendingDeletion":
            kms.schedule_key_deletion(KeyId=spec.id, PendingWindowInDays=spec.pending_window_days)
        elif spec.state != "Enabled":
            _Backends.set_state(arn, spec.state)

    def _resolve_fleet_key(self, account: str, region: str, text: str) -> str:
        try:
            ref = KeyRef.parse(text).located(account, region)
        except InvalidKeyIdentifier as exc:
            raise FleetError(str(exc)) from exc
        assert ref.account and ref.region
        if ref.region != region:
            raise FleetError(f"{text}: EFS in {region} cannot use a key in {ref.region}")
        if ref.is_alias:
            backend = _Backends.kms(ref.account, ref.region)
            target = backend.get_key_id_from_alias(ref.name) if backend.alias_exists(ref.name) else None
            if not target:
                raise FleetError(f"alias {ref.name} is not defined in {ref.account}/{ref.region}")
            return f"arn:aws:kms:{ref.region}:{ref.account}:key/{target}"
        if _Backends.key(ref.arn) is None:
            raise FleetError(f"key {text} is not defined in {ref.account}/{ref.region}")
        return ref.arn

    def _network(self, account: str, region: str, count: int) -> tuple[list[str], str]:
        """One VPC and security group per account and Region; a subnet per AZ, made as needed."""
        ec2 = self.clients.client("ec2", account, region, "write")
        where = (account, region)
        if where not in self._security_group:
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            self._security_group[where] = ec2.create_security_group(
                GroupName="efs-mount-targets", Description="NFS from the app tier", VpcId=vpc
            )["GroupId"]
            self._subnets[where] = []
        subnets = self._subnets[where]
        if len(subnets) < count:
            zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
            if count > len(zones):
                raise FleetError(f"{region} has {len(zones)} Availability Zones; {count} mount targets won't fit")
            vpc_id = ec2.describe_security_groups(GroupIds=[self._security_group[where]])["SecurityGroups"][0]["VpcId"]
            for i in range(len(subnets), count):
                subnets.append(
                    # a /20 per AZ: room for 4,091 mount targets (a /24 ran out at 251 file systems)
                    ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{16 * i}.0/20", AvailabilityZone=zones[i])[
                        "Subnet"
                    ]["SubnetId"]
                )
        return subnets[:count], self._security_group[where]

    def _create_file_system(self, account: str, region: str, spec: FleetFileSystem) -> None:
        efs = self.clients.client("efs", account, region, "write")
        key_arn = self._resolve_fleet_key(account, region, spec.key) if spec.key else None
        where = (account, region, spec.name)
        if where in self.file_system_ids:
            raise FleetError(f"file system {spec.name!r} appears twice in {account}/{region}")
        args: dict[str, Any] = {"CreationToken": f"{account}-{region}-{spec.name}", "Encrypted": spec.is_encrypted}
        if key_arn:
            args["KmsKeyId"] = key_arn  # stored the way EFS reports it: the full key ARN
        created = efs.create_file_system(**args)["FileSystemId"]
        fs_id = spec.id or stable_fs_id(*where)
        _Backends.rename_file_system(account, region, created, fs_id)
        tags = {"Name": spec.name, **{k: v for k, v in spec.tags.items() if k != "Name"}}
        efs.tag_resource(ResourceId=fs_id, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        self.file_system_ids[where] = fs_id
        if key_arn:
            key_account, key_region, key_id = split_key_arn(key_arn)
            grant_id = self.clients.client("kms", key_account, key_region, "write").create_grant(
                KeyId=key_id,
                GranteePrincipal=EFS_PRINCIPAL,
                RetiringPrincipal=EFS_PRINCIPAL,
                Operations=EFS_GRANT_OPERATIONS,
                Constraints={"EncryptionContextSubset": {"aws:elasticfilesystem:filesystem:id": fs_id}},
            )["GrantId"]
            if spec.grant_id:
                _Backends.regrant(key_arn, grant_id, spec.grant_id)
        if spec.mount_targets:
            subnets, group = self._network(account, region, spec.mount_targets)
            for subnet in subnets:
                efs.create_mount_target(FileSystemId=fs_id, SubnetId=subnet, SecurityGroups=[group])

    # --- events change the estate as AWS already has when they arrive ------------------------

    def apply(self, event: KeyEvent | EfsEvent) -> str:
        """Apply the event's effect. Returns what was done, for the record.

        A repeat delivery of an event (same CloudTrail ``eventID``, or EventBridge ``id`` for native
        events) is the same call delivered twice, not a second call: AWS changes nothing again.
        """
        if event.event_id in self._applied:
            return "nothing (repeat delivery of an event already applied)"
        self._applied.add(event.event_id)
        if not isinstance(event, KeyEvent):
            return self._apply_efs(event)
        if event.error_code or not event.key_arn:
            return "nothing (failed call or no key)"
        key_arn = event.key_arn
        ref = KeyRef.parse(key_arn)
        if ref.is_alias:
            backend = _Backends.kms(ref.account or "", ref.region or "")
            if not backend.alias_exists(ref.name):
                return "nothing (unknown alias)"
            key_arn = f"arn:aws:kms:{ref.region}:{ref.account}:key/{backend.get_key_id_from_alias(ref.name)}"
        key = _Backends.key(key_arn)
        if key is None:
            return "nothing (key not in the estate)"
        account, region, key_id = split_key_arn(key_arn)
        kms = self.clients.client("kms", account, region, "write")
        name = event.event_name
        if name == "DisableKey":
            kms.disable_key(KeyId=key_id)
        elif name in ("EnableKey", "ImportKeyMaterial"):
            kms.enable_key(KeyId=key_id)
        elif name == "ScheduleKeyDeletion":
            if event.reported_key_state == "PendingReplicaDeletion":
                _Backends.set_state(key_arn, "PendingReplicaDeletion")
            else:
                window = min(30, max(7, event.pending_window_days or 30))
                kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=window)
                if event.deletion_date:
                    key.deletion_date = event.deletion_date.astimezone(UTC).replace(tzinfo=None)  # moto: naive UTC
        elif name == "CancelKeyDeletion":
            kms.cancel_key_deletion(KeyId=key_id)
        elif name in ("DeleteImportedKeyMaterial", "KMS Imported Key Material Expiration"):
            _Backends.set_state(key_arn, "PendingImport")
        elif name == "KMS CMK Deletion":
            _Backends.delete_key(key_arn)
        elif name in ("RetireGrant", "RevokeGrant"):
            return self._remove_grant(kms, key_id, event.grant_id)
        elif name == "PutKeyPolicy" and event.policy_document:
            kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=_policy_moto_reads(event.policy_document))
        else:
            return "nothing"
        return name

    def _apply_efs(self, event: EfsEvent) -> str:
        """An EFS call, as AWS has already made it: the file system created, deleted or tagged, a mount target
        created or deleted. The event's own IDs are kept, so that later events can name them."""
        if event.error_code or not (event.account and event.region):
            return "nothing (failed call or no account)"
        account, region, fs_id = event.account, event.region, event.file_system_id
        efs = self.clients.client("efs", account, region, "write")
        exists = fs_id is not None and fs_id in _Backends.efs(account, region).file_systems_by_id
        name = event.event_name
        if name == "CreateFileSystem" and fs_id and not exists:
            spec = FleetFileSystem(
                name=event.tags.get("Name") or fs_id,
                id=fs_id,
                key=event.kms_key_id,
                encrypted=event.encrypted,
                tags={k: v for k, v in event.tags.items() if k != "Name"},
            )
            try:
                self._create_file_system(account, region, spec)
            except FleetError as exc:
                return f"nothing ({exc})"
            return f"{fs_id} created"
        if name == "CreateMountTarget" and fs_id and exists:
            present = len(efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"])
            subnets, group = self._network(account, region, present + 1)
            efs.create_mount_target(FileSystemId=fs_id, SubnetId=subnets[present], SecurityGroups=[group])
            return f"mount target created for {fs_id}"
        if name == "DeleteMountTarget" and event.mount_target_id:
            try:
                efs.delete_mount_target(MountTargetId=event.mount_target_id)
            except efs.exceptions.MountTargetNotFound:
                return "nothing (no such mount target)"
            return f"{event.mount_target_id} deleted"
        if not (fs_id and exists):
            return "nothing (no such file system)"
        if name == "DeleteFileSystem":
            for target in efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]:
                efs.delete_mount_target(MountTargetId=target["MountTargetId"])
            efs.delete_file_system(FileSystemId=fs_id)
            self.file_system_ids = {k: v for k, v in self.file_system_ids.items() if v != fs_id}
            return f"{fs_id} deleted"
        if name == "TagResource" and event.tags:
            efs.tag_resource(ResourceId=fs_id, Tags=[{"Key": k, "Value": v} for k, v in event.tags.items()])
            return f"{fs_id} tagged"
        if name == "UntagResource" and event.tag_keys:
            efs.untag_resource(ResourceId=fs_id, TagKeys=event.tag_keys)
            return f"{fs_id} untagged"
        return "nothing"

    @staticmethod
    def _remove_grant(kms: Any, key_id: str, grant_id: str | None) -> str:
        """The grant the event names goes; when the key has no grant of that ID, nothing does."""
        grants = kms.list_grants(KeyId=key_id).get("Grants", [])
        if not grant_id or not any(g["GrantId"] == grant_id for g in grants):
            return "nothing (no grant of that ID on the key)"
        kms.revoke_grant(KeyId=key_id, GrantId=grant_id)
        return f"grant {grant_id} removed"


def _policy_moto_reads(document: str) -> str:
    """The key policy as moto can evaluate it. The policy grammar lets ``Statement`` be one object instead
    of a list; moto then fails on every later call on the key (AttributeError in its policy check), so the
    simulated estate stores the same statement in a list. AWS stores what it was given; keywatch's own
    analysis (:func:`keywatch.policy.statements`) reads both forms."""
    try:
        parsed = json.loads(document)
    except (ValueError, RecursionError):
        return document
    if isinstance(parsed, dict) and isinstance(parsed.get("Statement"), dict):
        parsed["Statement"] = [parsed["Statement"]]
        return json.dumps(parsed)
    return document
