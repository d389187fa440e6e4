"""keywatch.policy: does a new key policy shut EFS out (DESIGN.md §3)? Pure, no AWS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keywatch.policy import PolicyUnreadable, Target, analyse, statements

ACCOUNT = "111122223333"
PARTNER = "444455556666"
HOME = Target("fs-0123456789abcdef0", ACCOUNT, "us-east-1")
AWAY = Target("fs-0fedcba9876543210", PARTNER, "us-east-1")
ADMIN = {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*"}


def policy(*deny: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [ADMIN, *deny]})


def deny(principal: Any = "*", action: Any = ("kms:Decrypt", "kms:CreateGrant"), **extra: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Sid": "Deny", "Effect": "Deny", "Principal": principal, "Resource": "*"}
    statement["Action"] = list(action) if isinstance(action, tuple) else action
    statement.update(extra)
    return statement


def shut(text: str, target: Target = HOME) -> tuple[str, ...] | None:
    lockout = analyse(statements(text), target).lockout
    return lockout.actions if lockout else None


# --- who and what is denied ---------------------------------------------------------------------------


def test_given_the_default_key_policy_when_analysed_then_efs_is_not_shut_out() -> None:
    assert shut(policy()) is None


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::999988887777:root", "*"]}])
def test_given_a_deny_of_decrypt_and_create_grant_to_everyone_when_analysed_then_efs_is_shut_out(
    principal: Any,
) -> None:
    assert shut(policy(deny(principal))) == ("kms:Decrypt", "kms:CreateGrant")


@pytest.mark.parametrize(
    ("action", "denied"),
    [
        ("kms:*", ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")),
        ("*", ("kms:Decrypt",)),
        ("kms:GenerateDataKey*", ("kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext")),
        ("kms:ReEncrypt*", ("kms:ReEncryptFrom", "kms:ReEncryptTo")),
        ("KMS:describekey", ("kms:DescribeKey",)),  # actions match whatever their case
        ("kms:De?rypt", ("kms:Decrypt",)),
    ],
)
def test_given_a_wildcard_covering_an_efs_action_when_analysed_then_it_is_denied(
    action: str, denied: tuple[str, ...]
) -> None:
    found = shut(policy(deny("*", action)))
    assert found is not None and set(denied) <= set(found)


@pytest.mark.parametrize("action", ["kms:GenerateDataKeyPair", "kms:Sign", "kms:ScheduleKeyDeletion", "kms:Decrypted"])
def test_given_a_deny_of_actions_efs_does_not_need_when_analysed_then_efs_is_not_shut_out(action: str) -> None:
    assert shut(policy(deny("*", action))) is None


def test_given_not_action_that_spares_every_efs_action_when_analysed_then_efs_is_not_shut_out() -> None:
    spared = [
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey*",
        "kms:ReEncrypt*",
        "kms:CreateGrant",
        "kms:Describe*",
    ]
    statement = deny("*", action="kms:Decrypt")
    del statement["Action"]
    statement["NotAction"] = spared
    assert shut(policy(statement)) is None
    statement["NotAction"] = ["kms:Decrypt"]
    assert shut(policy(statement)) == (
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:CreateGrant",
        "kms:DescribeKey",
    )


@pytest.mark.parametrize("principal", [{"AWS": PARTNER}, {"AWS": f"arn:aws:iam::{PARTNER}:root"}])
def test_given_a_deny_to_one_account_when_analysed_then_only_that_accounts_file_systems_are_shut_out(
    principal: Any,
) -> None:
    text = policy(deny(principal))
    assert shut(text, AWAY) is not None
    assert shut(text, HOME) is None


def test_given_a_deny_to_one_role_of_the_account_when_analysed_then_the_account_is_not_covered() -> None:
    assert shut(policy(deny({"AWS": f"arn:aws:iam::{ACCOUNT}:role/app"}))) is None


@pytest.mark.parametrize("service", ["elasticfilesystem.amazonaws.com", "elasticfilesystem.us-east-1.amazonaws.com"])
def test_given_a_deny_to_the_efs_service_principal_when_analysed_then_efs_is_shut_out(service: str) -> None:
    assert shut(policy(deny({"Service": service}))) is not None


def test_given_not_principal_when_analysed_then_an_account_it_spares_is_not_shut_out_and_others_are() -> None:
    statement = deny()
    del statement["Principal"]
    statement["NotPrincipal"] = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert shut(policy(statement), HOME) is None
    assert shut(policy(statement), AWAY) is not None


# --- conditions: the ones that exempt EFS, the ones that don't -------------------------------------------

EXEMPTING = {
    "not via EFS in its Region": {"StringNotEquals": {"kms:ViaService": "elasticfilesystem.us-east-1.amazonaws.com"}},
    "not via EFS anywhere": {"StringNotLike": {"kms:ViaService": "elasticfilesystem.*.amazonaws.com"}},
    "only via EC2": {"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}},
    "grants not for AWS resources": {"Bool": {"kms:GrantIsForAWSResource": "false"}},
    "direct calls only": {"Bool": {"aws:ViaAWSService": False}},
    "from an office IP only": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
    "other accounts only": {"StringNotEquals": {"kms:CallerAccount": [ACCOUNT, PARTNER]}},
    "without EFS's context": {"Null": {"kms:EncryptionContext:aws:elasticfilesystem:filesystem:id": "true"}},
}
NOT_EXEMPTING = {
    "exactly via EFS": {"StringEquals": {"kms:ViaService": "elasticfilesystem.us-east-1.amazonaws.com"}},
    "via EFS, case-insensitive": {
        "StringEqualsIgnoreCase": {"kms:ViaService": "ElasticFileSystem.us-east-1.amazonaws.com"}
    },
    "outside an office IP": {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
    "outside a VPC endpoint, if any": {"StringNotEqualsIfExists": {"aws:SourceVpce": "vpce-1a2b3c4d"}},
    "the file system's context": {
        "ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "aws:elasticfilesystem:filesystem:id"}
    },
    "the file system itself": {"StringLike": {"kms:EncryptionContext:aws:elasticfilesystem:filesystem:id": "fs-*"}},
    "over TLS": {"Bool": {"aws:SecureTransport": "true"}},
    "this account's callers": {"StringEquals": {"kms:CallerAccount": ACCOUNT}},
}


@pytest.mark.parametrize("name", sorted(EXEMPTING))
def test_given_a_deny_whose_condition_exempts_efs_when_analysed_then_efs_is_not_shut_out(name: str) -> None:
    action = "kms:CreateGrant" if "grant" in name else ("kms:Decrypt", "kms:CreateGrant")
    assert shut(policy(deny("*", action, Condition=EXEMPTING[name]))) is None


@pytest.mark.parametrize("name", sorted(NOT_EXEMPTING))
def test_given_a_deny_whose_condition_holds_for_efs_when_analysed_then_efs_is_shut_out(name: str) -> None:
    assert shut(policy(deny("*", Condition=NOT_EXEMPTING[name]))) is not None


def test_given_a_grant_for_aws_resources_condition_when_analysed_then_it_holds_for_create_grant_only() -> None:
    text = policy(
        deny("*", ("kms:Decrypt", "kms:CreateGrant"), Condition={"Bool": {"kms:GrantIsForAWSResource": "true"}})
    )
    assert shut(text) == ("kms:CreateGrant",)


def test_given_a_condition_keywatch_cannot_decide_when_analysed_then_it_is_taken_to_exempt_and_named() -> None:
    text = policy(deny("*", Condition={"StringNotEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}))
    analysis = analyse(statements(text), HOME)
    assert analysis.lockout is None and analysis.undecided == ("Deny",)


def test_given_several_conditions_when_one_exempts_efs_then_the_statement_does_not_shut_it_out() -> None:
    condition = {
        "StringEquals": {"kms:CallerAccount": ACCOUNT},
        "StringNotEquals": {"kms:ViaService": "elasticfilesystem.us-east-1.amazonaws.com"},
    }
    assert shut(policy(deny("*", Condition=condition))) is None


# --- policies that can't be read -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "not valid JSON"),
        ("[]", "not a JSON object"),
        ('{"Version": "2012-10-17"}', "no Statement"),
        ('{"Statement": ["Deny everything"]}', "not a JSON object"),
        ('{"Statement": [{"Effect": "Deny", "Principal": "*"}]}', "no Action"),
        ('{"Statement": [{"Effect": "Deny", "Action": "kms:*"}]}', "no Principal"),
        ('{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": 7}]}', "Action"),
        ('{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*", "Condition": "x"}]}', "Condition"),
        ("[" * 50_000, "nested too deeply"),
    ],
)
def test_given_a_policy_that_cannot_be_read_when_analysed_then_policy_unreadable_says_why(text: str, why: str) -> None:
    with pytest.raises(PolicyUnreadable, match=why):
        analyse(statements(text), HOME)


def test_given_a_malformed_allow_statement_when_analysed_then_it_is_not_held_against_the_policy() -> None:
    text = json.dumps({"Statement": [{"Effect": "Allow", "Principal": 42, "Action": {"x": 1}}]})
    assert shut(text) is None


POLICY_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=12)
    | st.sampled_from(["*", "Deny", "Allow", "kms:*", "kms:Decrypt", ACCOUNT, "kms:ViaService", "StringNotEquals"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "Effect",
                    "Principal",
                    "NotPrincipal",
                    "Action",
                    "NotAction",
                    "Condition",
                    "AWS",
                    "Service",
                    "StringEquals",
                    "Bool",
                    "ForAnyValue:StringLike",
                    "kms:ViaService",
                    "Sid",
                ]
            )
            | st.text(max_size=8),
            inner,
            max_size=4,
        )
    ),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        POLICY_VALUES.map(json.dumps),
        st.lists(POLICY_VALUES, max_size=3).map(lambda s: json.dumps({"Statement": s})),
        st.text(max_size=50),
    )
)
def test_given_any_policy_text_when_analysed_then_an_analysis_or_policy_unreadable(text: str) -> None:
    try:
        analyse(statements(text), HOME)
    except PolicyUnreadable as exc:
        assert str(exc)
