"""KMS key identifiers: parse, normalise and compare them.

A key can be named four ways: key ID, key ARN, alias name (``alias/x``) or alias ARN.
EFS reports ``KmsKeyId`` as the full key ARN, CloudTrail events use whatever the caller
passed. Everything is compared as a :class:`KeyRef` resolved to a key ARN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# ASCII only: ``\d`` would also take other scripts' digits (and str.isdigit() takes superscripts). Always
# matched whole (fullmatch): with re.match, ``$`` also matches before a trailing newline.
ACCOUNT = re.compile(r"^[0-9]{12}$")
REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}$")
_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):kms:(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}):(?P<account>[0-9]{12}):"
    r"(?P<kind>key|alias)/(?P<name>[A-Za-z0-9/_+=,.@:-]+)$"
)
_KEY_ID = re.compile(
    r"^(?:mrk-[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)
_ALIAS = re.compile(r"^alias/[A-Za-z0-9/_-]{1,250}$")

# Regions outside the commercial partition, by prefix (most specific first).
_PARTITIONS = (
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-iso-", "aws-iso"),
    ("us-gov-", "aws-us-gov"),
    ("cn-", "aws-cn"),
)


def is_account(text: object) -> bool:
    """True for a 12-digit AWS account ID (ASCII digits only)."""
    return isinstance(text, str) and ACCOUNT.fullmatch(text) is not None


def is_region(text: object) -> bool:
    """True for text shaped like an AWS Region name (``us-east-1``, ``us-gov-west-1``, ``cn-north-1``)."""
    return isinstance(text, str) and REGION.fullmatch(text) is not None


def partition_of(region: str) -> str:
    """The partition a Region belongs to: ``cn-north-1`` -> ``aws-cn``, ``us-gov-west-1`` -> ``aws-us-gov``."""
    return next((partition for prefix, partition in _PARTITIONS if region.startswith(prefix)), "aws")


Kind = Literal["key_id", "key_arn", "alias_name", "alias_arn"]


class InvalidKeyIdentifier(ValueError):
    """The text is not a KMS key ID, key ARN, alias name or alias ARN."""


@dataclass(frozen=True, slots=True)
class KeyRef:
    """One way of naming a KMS key, with the account and Region when the name carries them."""

    kind: Kind
    name: str  # the key ID, or the alias name ("alias/app")
    account: str | None = None
    region: str | None = None
    partition: str = "aws"

    @classmethod
    def parse(cls, text: str) -> KeyRef:
        text = (text or "").strip()
        if m := _ARN.fullmatch(text):
            if m["kind"] == "key":
                if not _KEY_ID.fullmatch(m["name"]):
                    raise InvalidKeyIdentifier(f"not a KMS key ARN: {text!r}")
                return cls("key_arn", m["name"].lower(), m["account"], m["region"], m["partition"])
            alias = f"alias/{m['name']}"
            if not _ALIAS.fullmatch(alias):
                raise InvalidKeyIdentifier(f"not a KMS alias ARN: {text!r}")
            return cls("alias_arn", alias, m["account"], m["region"], m["partition"])
        if _KEY_ID.fullmatch(text):
            return cls("key_id", text.lower())
        if _ALIAS.fullmatch(text):
            return cls("alias_name", text)
        raise InvalidKeyIdentifier(f"not a KMS key ID, key ARN, alias name or alias ARN: {text!r}")

    @property
    def is_alias(self) -> bool:
        return self.kind in ("alias_name", "alias_arn")

    @property
    def is_multi_region(self) -> bool:
        return not self.is_alias and self.name.startswith("mrk-")

    def located(self, account: str, region: str) -> KeyRef:
        """Fill in the account and Region a bare key ID or alias name lives in (and so its partition).

        Raises :class:`InvalidKeyIdentifier` when the account or Region it would take is malformed:
        an ARN is only ever built from a 12-digit account and a real Region's name.
        """
        if not self.account and not is_account(account):
            raise InvalidKeyIdentifier(f"not an AWS account ID: {account!r}")
        if not self.region and not is_region(region):
            raise InvalidKeyIdentifier(f"not an AWS Region: {region!r}")
        partition = self.partition if self.region else partition_of(region or "")
        return KeyRef(self.kind, self.name, self.account or account, self.region or region, partition)

    @property
    def arn(self) -> str:
        """The key ARN (for key identifiers) or alias ARN, once account and Region are known."""
        if self.account is None or self.region is None:
            raise InvalidKeyIdentifier(f"{self.name} needs an account and Region to form an ARN")
        kind = "alias" if self.is_alias else "key"
        name = self.name.removeprefix("alias/") if self.is_alias else self.name
        return f"arn:{self.partition}:kms:{self.region}:{self.account}:{kind}/{name}"


def key_arn(key_id: str, account: str, region: str, partition: str = "aws") -> str:
    return KeyRef("key_id", key_id.lower(), account, region, partition).arn


def split_key_arn(arn: str) -> tuple[str, str, str]:
    """Return (account, region, key_id) of a key ARN."""
    ref = KeyRef.parse(arn)
    if ref.kind != "key_arn" or ref.account is None or ref.region is None:
        raise InvalidKeyIdentifier(f"not a KMS key ARN: {arn!r}")
    return ref.account, ref.region, ref.name


def console_url(arn: str) -> str:
    _, region, key_id = split_key_arn(arn)
    return f"https://{region}.console.aws.amazon.com/kms/home?region={region}#/kms/keys/{key_id}"
