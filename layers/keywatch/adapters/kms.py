"""KMS adapter: key state, aliases, grants, and the two remediations that keep a key alive."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from keywatch.adapters.aws import AWS_ERRORS, AccountAccessError, AwsClients, Purpose, describe_error, error_code
from keywatch.iam import needs
from keywatch.keys import KeyRef, split_key_arn
from keywatch.models import DELETED, UNKNOWN, KeyInfo, KeyState

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

EFS_GRANT_CONTEXT = "aws:elasticfilesystem:filesystem:id"


class KmsError(RuntimeError):
    """A KMS call failed in a way keywatch cannot work around."""


class GrantsUnavailable(KmsError):
    """The key's grants could not be listed (its message names the AWS error code, never a value)."""


class KmsGateway:
    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients
        self._alias_maps: dict[tuple[str, str], dict[str, str]] = {}

    def _client(self, account: str, region: str, purpose: Purpose = "read") -> KMSClient:
        return self._clients.client("kms", account, region, purpose)

    @needs("kms:DescribeKey")
    def describe_key(self, key_arn: str) -> KeyInfo:
        """Live state of the key. A deleted key is reported as state ``Deleted``, not an error."""
        account, region, key_id = split_key_arn(key_arn)
        try:
            meta = self._client(account, region).describe_key(KeyId=key_arn)["KeyMetadata"]
        except ClientError as exc:
            code = error_code(exc)
            if code == "NotFoundException":
                return KeyInfo(arn=key_arn, key_id=key_id, state=DELETED)
            if code in ("AccessDeniedException", "KMSInvalidStateException"):
                return KeyInfo(arn=key_arn, key_id=key_id, state=UNKNOWN, description=code)
            raise KmsError(f"DescribeKey {key_arn}: {exc}") from exc
        return _key_info(meta, key_arn)

    def resolve_alias(self, alias_arn: str) -> str | None:
        """Key ARN an alias ARN points at, or None if the alias does not exist."""
        ref = KeyRef.parse(alias_arn)
        if ref.account is None or ref.region is None:
            return None
        target = self.alias_map(ref.account, ref.region).get(ref.name)
        return KeyRef("key_id", target).located(ref.account, ref.region).arn if target else None

    @needs("kms:ListAliases")
    def alias_map(self, account: str, region: str) -> dict[str, str]:
        """``{alias name: key id}`` for one account and Region, listed once and cached."""
        cached = self._alias_maps.get((account, region))
        if cached is None:
            cached = {}
            paginator = self._client(account, region).get_paginator("list_aliases")
            for page in paginator.paginate():
                for alias in page.get("Aliases", []):
                    if alias.get("TargetKeyId"):
                        cached[alias["AliasName"]] = alias["TargetKeyId"]
            self._alias_maps[(account, region)] = cached
        return cached

    @needs("kms:ListAliases")
    def aliases_of(self, key_arn: str) -> list[str]:
        account, region, key_id = split_key_arn(key_arn)
        try:
            page = self._client(account, region).list_aliases(KeyId=key_id)
        except ClientError:
            return []
        return sorted(a["AliasName"] for a in page.get("Aliases", []))

    @needs("kms:ListGrants")
    def efs_grants(self, key_arn: str) -> dict[str, str]:
        """The key's EFS grants: ``{grant ID: file system ID}`` for every grant whose encryption context
        names a file system (``aws:elasticfilesystem:filesystem:id``), whoever its grantee.

        Raises :class:`GrantsUnavailable` (with the AWS error code) when the grants can't be listed.
        """
        account, region, _ = split_key_arn(key_arn)
        found: dict[str, str] = {}
        try:
            pages = (
                self._client(account, region)
                .get_paginator("list_grants")
                .paginate(KeyId=key_arn, PaginationConfig={"PageSize": 100})  # the most ListGrants returns
            )
            for page in pages:
                for grant in page.get("Grants", []):
                    constraints = grant.get("Constraints") or {}
                    context = constraints.get("EncryptionContextSubset") or constraints.get("EncryptionContextEquals")
                    fs_id = (context or {}).get(EFS_GRANT_CONTEXT)
                    if fs_id and grant.get("GrantId"):
                        found[grant["GrantId"]] = fs_id
        except (*AWS_ERRORS, AccountAccessError) as exc:
            raise GrantsUnavailable(f"ListGrants failed: {describe_error(exc)}") from exc
        return found

    @needs("kms:GetKeyPolicy")
    def key_policy(self, key_arn: str) -> str:
        """The key's policy document (its one policy, ``default``), as text."""
        account, region, _ = split_key_arn(key_arn)
        return str(self._client(account, region).get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])

    # --- remediations -------------------------------------------------------------------------

    @needs("kms:CancelKeyDeletion", scope="remediate")
    def cancel_key_deletion(self, key_arn: str) -> None:
        account, region, key_id = split_key_arn(key_arn)
        self._client(account, region, "write").cancel_key_deletion(KeyId=key_id)

    @needs("kms:EnableKey", scope="remediate")
    def enable_key(self, key_arn: str) -> None:
        account, region, key_id = split_key_arn(key_arn)
        self._client(account, region, "write").enable_key(KeyId=key_id)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _key_info(meta: Mapping[str, Any], key_arn: str) -> KeyInfo:
    deletion = meta.get("DeletionDate")
    valid_to = meta.get("ValidTo")
    return KeyInfo(
        arn=str(meta.get("Arn") or key_arn),
        key_id=str(meta["KeyId"]),
        state=KeyState.read(meta.get("KeyState") or ("Enabled" if meta.get("Enabled") else "Disabled")),
        deletion_date=_aware(deletion) if isinstance(deletion, datetime) else None,
        origin=meta.get("Origin"),
        multi_region=bool(meta.get("MultiRegion")),
        description=meta.get("Description") or None,
        key_manager=meta.get("KeyManager"),
        valid_to=_aware(valid_to) if isinstance(valid_to, datetime) else None,
    )
