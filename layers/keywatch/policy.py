"""Does a new key policy shut EFS out? A pure analyser of the policy a PutKeyPolicy sets (DESIGN.md §3).

A policy shuts EFS out of a file system's key when one of its statements has an explicit ``Deny`` of
an action EFS needs (``kms:Decrypt``, ``kms:Encrypt``, ``kms:GenerateDataKey*``, ``kms:ReEncrypt*``,
``kms:CreateGrant``, ``kms:DescribeKey``, or a wildcard or ``NotAction`` covering one), for a principal
that covers everyone (``"*"``, ``{"AWS": "*"}``) or the file system's account (its ID or its ``:root``
ARN; a ``NotPrincipal`` that leaves the account out), with no condition that exempts EFS.

Conditions are evaluated against what a request EFS makes for that file system carries:
``kms:ViaService`` = ``elasticfilesystem.<region>.amazonaws.com``, ``kms:CallerAccount`` and
``aws:PrincipalAccount`` = the file system's account, ``aws:ViaAWSService`` = true,
``aws:CalledVia`` = EFS, ``kms:GrantIsForAWSResource`` = true (CreateGrant), the encryption context
``aws:elasticfilesystem:filesystem:id`` = the file system's ID (cryptographic operations), and no
``aws:SourceIp``/``aws:SourceVpc``/``aws:SourceVpce`` (a service calling on your behalf has none). A
condition is decided as IAM decides it: ``...IfExists`` and the negated operators hold when the key is
absent; ``ForAnyValue``/``ForAllValues`` for multi-valued keys. A condition on anything else
(``aws:PrincipalOrgID``, ``aws:PrincipalArn``, tags...) can't be decided here: such a statement is
taken as one that may exempt EFS, and the verdict says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

EFS_SERVICE = "elasticfilesystem.amazonaws.com"
# The concrete calls behind the actions §3 lists (GenerateDataKey* and ReEncrypt* expanded).
CRYPTO_ACTIONS = (
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)
EFS_ACTIONS = (*CRYPTO_ACTIONS, "kms:CreateGrant", "kms:DescribeKey")
# Keys a request EFS makes never carries: a service calling on your behalf has no source IP or VPC.
ABSENT_KEYS = frozenset({"aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:vpcsourceip"})

Decision = Literal["applies", "exempt", "unknown"]


class PolicyUnreadable(ValueError):
    """The policy is not a key policy keywatch can read."""


@dataclass(frozen=True)
class Target:
    """The file system a request from EFS would be made for."""

    file_system_id: str
    account: str
    region: str


@dataclass(frozen=True)
class Lockout:
    """A statement that denies EFS an action it needs for one file system."""

    statement: str  # its Sid, or its position
    actions: tuple[str, ...]
    principal: str  # who it denies, in words

    def describe(self) -> str:
        """``statement Freeze denies kms:Decrypt, kms:CreateGrant to everyone`` (at most four actions named)."""
        actions = ", ".join(self.actions[:4]) + (" ..." if len(self.actions) > 4 else "")
        return f"statement {self.statement} denies {actions} to {self.principal}"


@dataclass(frozen=True)
class Analysis:
    lockout: Lockout | None
    undecided: tuple[str, ...] = ()  # statements whose conditions keywatch can't decide


def statements(policy_text: str) -> list[dict[str, Any]]:
    """The policy's statements. Raises :class:`PolicyUnreadable` with the reason."""
    try:
        document = json.loads(policy_text)
    except RecursionError as exc:
        raise PolicyUnreadable("it is nested too deeply") from exc
    except ValueError as exc:
        raise PolicyUnreadable(f"it is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise PolicyUnreadable("it is not a JSON object")
    found = document.get("Statement")
    if isinstance(found, dict):
        found = [found]
    if not isinstance(found, list) or not found:
        raise PolicyUnreadable("it has no Statement list")
    if not all(isinstance(s, dict) for s in found):
        raise PolicyUnreadable("a statement is not a JSON object")
    return found


def analyse(policy: Sequence[Mapping[str, Any]], target: Target) -> Analysis:
    """Whether the policy's statements shut EFS out of ``target``'s key. Raises :class:`PolicyUnreadable`."""
    undecided: list[str] = []
    for i, statement in enumerate(policy):
        if statement.get("Effect") != "Deny":
            continue
        name = str(statement.get("Sid") or f"#{i + 1}")
        principal = _denied_principal(statement, target)
        if principal is None:
            continue
        actions = _denied_actions(statement)
        if not actions:
            continue
        decisions = {action: _condition(statement.get("Condition"), _context(action, target)) for action in actions}
        denied = tuple(a for a, d in decisions.items() if d == "applies")
        if denied:
            return Analysis(Lockout(name, denied, principal))
        if "unknown" in decisions.values():
            undecided.append(name)
    return Analysis(None, tuple(undecided))


# --- principals and actions -------------------------------------------------------------------------------


def _strings(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise PolicyUnreadable(f"a Deny statement's {field} is not a string or a list of strings")


def _names(principal: Any, target: Target) -> list[str]:
    """The principals listed that cover the target's account, or EFS itself, in words."""
    if principal == "*":
        return ["everyone"]
    if not isinstance(principal, dict):
        raise PolicyUnreadable('a Deny statement\'s Principal is neither "*" nor an object')
    found: list[str] = []
    for kind, value in principal.items():
        for name in _strings(value, f"Principal.{kind}"):
            if kind == "AWS" and name == "*":
                found.append("everyone")
            elif kind == "AWS" and (
                name == target.account or (_ROOT.fullmatch(name) and name.split(":")[4] == target.account)
            ):
                found.append(f"account {target.account}")
            elif kind == "Service" and name in (EFS_SERVICE, f"elasticfilesystem.{target.region}.amazonaws.com"):
                found.append("the EFS service")
    return found


def _denied_principal(statement: Mapping[str, Any], target: Target) -> str | None:
    """Who the Deny covers among everyone, the target's account and EFS (None: none of them)."""
    if "Principal" in statement:
        names = _names(statement["Principal"], target)
        return names[0] if names else None
    if "NotPrincipal" in statement:
        spared = _names(statement["NotPrincipal"], target)
        return None if spared else f"everyone but {_describe(statement['NotPrincipal'])}"
    raise PolicyUnreadable("a Deny statement names no Principal")


def _describe(principal: Any) -> str:
    try:
        listed = [n for v in principal.values() for n in _strings(v, "NotPrincipal")]
    except (AttributeError, PolicyUnreadable):
        return "the principals listed"
    return ", ".join(listed[:3]) + (" ..." if len(listed) > 3 else "")


_ROOT = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:root")


def _glob(pattern: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    """An IAM wildcard (``*`` any run, ``?`` one character); actions match case-insensitively."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), flags)


def _denied_actions(statement: Mapping[str, Any]) -> list[str]:
    if "Action" in statement:
        patterns = [_glob(p) for p in _strings(statement["Action"], "Action")]
        return [a for a in EFS_ACTIONS if any(p.fullmatch(a) for p in patterns)]
    if "NotAction" in statement:
        spared = [_glob(p) for p in _strings(statement["NotAction"], "NotAction")]
        return [a for a in EFS_ACTIONS if not any(p.fullmatch(a) for p in spared)]
    raise PolicyUnreadable("a Deny statement names no Action")


# --- conditions ---------------------------------------------------------------------------------------------


def _context(action: str, target: Target) -> dict[str, list[str]]:
    """What a request EFS makes for ``target`` carries, by lower-case condition key."""
    context = {
        "kms:viaservice": [f"elasticfilesystem.{target.region}.amazonaws.com"],
        "kms:calleraccount": [target.account],
        "aws:principalaccount": [target.account],
        "aws:viaawsservice": ["true"],
        "aws:calledvia": [EFS_SERVICE],
        "aws:calledviafirst": [EFS_SERVICE],
        "aws:calledvialast": [EFS_SERVICE],
        "aws:securetransport": ["true"],
        "aws:requestedregion": [target.region],
    }
    if action == "kms:CreateGrant":
        context["kms:grantisforawsresource"] = ["true"]
    if action in CRYPTO_ACTIONS:
        context["kms:encryptioncontext:aws:elasticfilesystem:filesystem:id"] = [target.file_system_id]
        context["kms:encryptioncontextkeys"] = ["aws:elasticfilesystem:filesystem:id"]
    return context


def _condition(condition: Any, context: Mapping[str, list[str]]) -> Decision:
    """Whether the statement's Condition holds for the request (all operators and keys must hold)."""
    if condition is None:
        return "applies"
    if not isinstance(condition, dict):
        raise PolicyUnreadable("a Deny statement's Condition is not an object")
    unknown = False
    for operator, block in condition.items():
        if not isinstance(block, dict):
            raise PolicyUnreadable(f"the condition {operator} is not an object")
        for key, wanted in block.items():
            values = _condition_values(wanted, operator)
            decision = _test(str(operator), str(key).lower(), values, context)
            if decision == "exempt":
                return "exempt"
            unknown = unknown or decision == "unknown"
    return "unknown" if unknown else "applies"


def _condition_values(value: Any, operator: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            out.append(str(item))
        else:
            raise PolicyUnreadable(f"a value of the condition {operator} is not a string, number or boolean")
    return out


_NEGATED = frozenset(
    {
        "StringNotEquals",
        "StringNotEqualsIgnoreCase",
        "StringNotLike",
        "ArnNotEquals",
        "ArnNotLike",
        "NotIpAddress",
        "NumericNotEquals",
        "DateNotEquals",
    }
)


def _test(operator: str, key: str, wanted: list[str], context: Mapping[str, list[str]]) -> Decision:
    """One condition key under one operator, as IAM evaluates it."""
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    present = context.get(key)
    if base == "Null":
        absent_wanted = [w.lower() == "true" for w in wanted]
        if present is None and key not in ABSENT_KEYS:
            return "unknown"
        return "applies" if (present is None) in absent_wanted else "exempt"
    if present is None:
        if key not in ABSENT_KEYS:
            return "unknown"
        if if_exists or qualifier == "ForAllValues":
            return "applies"  # IfExists holds without the key; ForAllValues holds over no values
        if qualifier == "ForAnyValue":
            return "exempt"  # no value to match
        return "applies" if base in _NEGATED else "exempt"
    match = _matcher(base)
    if match is None:
        return "unknown"
    negated = base in _NEGATED

    def hit(value: str) -> bool:
        return any(match(value, w) for w in wanted)

    if qualifier == "ForAllValues":
        result = all(hit(v) for v in present)
    else:  # single-valued keys, and ForAnyValue
        result = any(hit(v) for v in present)
    if negated:
        result = not result
    return "applies" if result else "exempt"


def _matcher(base: str) -> Any:
    exact = {"StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals"}
    like = {"StringLike", "StringNotLike", "ArnLike", "ArnNotLike"}
    if base in exact:
        return lambda value, wanted: value == wanted
    if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return lambda value, wanted: value.lower() == wanted.lower()
    if base in like:
        return lambda value, wanted: _glob(wanted, 0).fullmatch(value) is not None
    if base == "Bool":
        return lambda value, wanted: value.lower() == wanted.lower()
    return None
