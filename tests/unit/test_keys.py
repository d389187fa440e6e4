"""KeyRef: every way of naming a KMS key parses, normalises and compares the same way. Pure, no AWS."""

from __future__ import annotations

import pytest
from keywatch.keys import (
    InvalidKeyIdentifier,
    KeyRef,
    console_url,
    is_account,
    is_region,
    key_arn,
    partition_of,
    split_key_arn,
)

ACCOUNT = "111122223333"
REGION = "us-east-1"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
MRK_ID = "mrk-1234abcd12ab34cd56ef1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"
ALIAS_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/app"


# --- the four forms ---------------------------------------------------------------------------------


def test_given_a_bare_key_id_when_parsed_then_it_is_a_key_id_with_no_account_or_region() -> None:
    ref = KeyRef.parse(KEY_ID)
    assert (ref.kind, ref.name, ref.account, ref.region) == ("key_id", KEY_ID, None, None)
    assert not ref.is_alias and not ref.is_multi_region


def test_given_a_key_arn_when_parsed_then_account_region_and_partition_come_from_the_arn() -> None:
    ref = KeyRef.parse(KEY_ARN)
    assert (ref.kind, ref.name, ref.account, ref.region, ref.partition) == ("key_arn", KEY_ID, ACCOUNT, REGION, "aws")
    assert ref.arn == KEY_ARN


def test_given_an_alias_name_when_parsed_then_it_is_an_alias_with_its_prefix_kept() -> None:
    ref = KeyRef.parse("alias/app")
    assert (ref.kind, ref.name, ref.account, ref.region) == ("alias_name", "alias/app", None, None)
    assert ref.is_alias and not ref.is_multi_region


def test_given_an_alias_arn_when_parsed_then_the_alias_name_and_its_location_are_kept() -> None:
    ref = KeyRef.parse(ALIAS_ARN)
    assert (ref.kind, ref.name, ref.account, ref.region) == ("alias_arn", "alias/app", ACCOUNT, REGION)
    assert ref.is_alias
    assert ref.arn == ALIAS_ARN


def test_given_an_alias_with_slashes_when_parsed_then_the_whole_path_is_the_name() -> None:
    assert KeyRef.parse("alias/team/app-prod_1").name == "alias/team/app-prod_1"
    assert KeyRef.parse(f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/team/app").name == "alias/team/app"


def test_given_the_aws_managed_efs_alias_when_parsed_then_it_is_an_alias_name() -> None:
    assert KeyRef.parse("alias/aws/elasticfilesystem").kind == "alias_name"


# --- multi-Region keys --------------------------------------------------------------------------------


def test_given_a_multi_region_key_id_when_parsed_then_it_is_a_multi_region_key_id() -> None:
    ref = KeyRef.parse(MRK_ID)
    assert ref.kind == "key_id" and ref.is_multi_region and ref.name == MRK_ID


def test_given_multi_region_replica_arns_when_parsed_then_same_id_but_each_region_has_its_own_arn() -> None:
    primary = KeyRef.parse(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{MRK_ID}")
    replica = KeyRef.parse(f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{MRK_ID}")
    assert primary.is_multi_region and replica.is_multi_region
    assert primary.name == replica.name
    assert primary.arn != replica.arn
    assert replica.arn == f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{MRK_ID}"


def test_given_a_multi_region_id_with_upper_case_hex_when_parsed_then_it_is_lower_cased() -> None:
    assert KeyRef.parse("mrk-1234ABCD12AB34CD56EF1234567890AB").name == MRK_ID


# --- normalisation ------------------------------------------------------------------------------------


def test_given_upper_case_hex_in_an_id_or_arn_when_parsed_then_the_key_id_is_lower_case() -> None:
    assert KeyRef.parse(KEY_ID.upper()).name == KEY_ID
    assert KeyRef.parse(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID.upper()}").arn == KEY_ARN


def test_given_surrounding_whitespace_when_parsed_then_it_is_ignored() -> None:
    assert KeyRef.parse(f"  {KEY_ARN}\n").arn == KEY_ARN


def test_given_a_key_id_when_located_then_its_arn_is_the_key_arn_in_that_account_and_region() -> None:
    assert KeyRef.parse(KEY_ID).located(ACCOUNT, REGION).arn == KEY_ARN


def test_given_an_alias_name_when_located_then_its_arn_is_the_alias_arn() -> None:
    assert KeyRef.parse("alias/app").located(ACCOUNT, REGION).arn == ALIAS_ARN


def test_given_a_key_arn_when_located_elsewhere_then_the_arn_keeps_its_own_account_and_region() -> None:
    located = KeyRef.parse(KEY_ARN).located("444455556666", "eu-west-1")
    assert located.arn == KEY_ARN


def test_given_a_key_id_and_its_arn_in_any_case_when_located_then_they_name_the_same_key() -> None:
    forms = [KEY_ID, KEY_ID.upper(), KEY_ARN, f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID.upper()}"]
    assert {KeyRef.parse(text).located(ACCOUNT, REGION).arn for text in forms} == {KEY_ARN}


def test_given_a_bare_key_id_when_no_location_is_known_then_no_arn_can_be_formed() -> None:
    with pytest.raises(InvalidKeyIdentifier, match="account and Region"):
        _ = KeyRef.parse(KEY_ID).arn


# --- other partitions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("partition", "region"),
    [
        ("aws-cn", "cn-north-1"),
        ("aws-us-gov", "us-gov-west-1"),
        ("aws-iso", "us-iso-east-1"),
        ("aws-iso-b", "us-isob-east-1"),
    ],
)
def test_given_an_arn_in_another_partition_when_parsed_then_the_partition_is_kept(partition: str, region: str) -> None:
    arn = f"arn:{partition}:kms:{region}:{ACCOUNT}:key/{KEY_ID}"
    ref = KeyRef.parse(arn)
    assert (ref.kind, ref.partition, ref.region) == ("key_arn", partition, region)
    assert ref.arn == arn
    alias = KeyRef.parse(f"arn:{partition}:kms:{region}:{ACCOUNT}:alias/app")
    assert alias.arn == f"arn:{partition}:kms:{region}:{ACCOUNT}:alias/app"


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("eu-west-1", "aws"),
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
    ],
)
def test_given_a_region_when_its_partition_is_asked_then_the_right_one_is_named(region: str, partition: str) -> None:
    assert partition_of(region) == partition


def test_given_a_bare_key_id_located_in_a_china_region_then_the_arn_is_in_the_aws_cn_partition() -> None:
    located = KeyRef.parse(KEY_ID).located(ACCOUNT, "cn-north-1")
    assert located.arn == f"arn:aws-cn:kms:cn-north-1:{ACCOUNT}:key/{KEY_ID}"


def test_given_an_alias_name_located_in_govcloud_then_the_alias_arn_is_in_the_aws_us_gov_partition() -> None:
    assert KeyRef.parse("alias/app").located(ACCOUNT, "us-gov-east-1").arn == (
        f"arn:aws-us-gov:kms:us-gov-east-1:{ACCOUNT}:alias/app"
    )


# --- helpers ------------------------------------------------------------------------------------------


def test_given_a_key_arn_when_split_then_account_region_and_key_id_come_back() -> None:
    assert split_key_arn(KEY_ARN) == (ACCOUNT, REGION, KEY_ID)


@pytest.mark.parametrize("text", [ALIAS_ARN, KEY_ID, "alias/app"])
def test_given_anything_but_a_key_arn_when_split_then_it_is_refused(text: str) -> None:
    with pytest.raises(InvalidKeyIdentifier):
        split_key_arn(text)


def test_given_parts_when_a_key_arn_is_built_then_the_id_is_lower_cased() -> None:
    assert key_arn(KEY_ID.upper(), ACCOUNT, REGION) == KEY_ARN


def test_given_a_key_arn_when_a_console_url_is_made_then_it_opens_the_key_in_its_region() -> None:
    url = console_url(KEY_ARN)
    assert url.startswith("https://us-east-1.console.aws.amazon.com/kms/home?region=us-east-1")
    assert url.endswith(f"/kms/keys/{KEY_ID}")


# --- invalid input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "not-a-key",
        "1234abcd-12ab-34cd-56ef-1234567890a",  # one hex digit short
        "1234abcd-12ab-34cd-56ef-1234567890abcd",  # too long
        "1234abcz-12ab-34cd-56ef-1234567890ab",  # not hex
        "mrk-1234",  # multi-Region prefix, too short
        "alias/",  # empty alias name
        "alias/has space",
        "alias/a.b",  # dots are not allowed in alias names
        "app",  # alias name without its prefix
        f"arn:aws:kms:{REGION}:1111:key/{KEY_ID}",  # short account
        f"arn:aws:kms:{REGION}:{ACCOUNT}:key/alias/app",  # an alias where a key ID belongs
        f"arn:aws:kms:{REGION}:{ACCOUNT}:key/not-a-uuid",
        f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/a.b",  # alias ARN with a character alias names can't hold
        f"arn:aws:kms:{REGION}:{ACCOUNT}:grant/{KEY_ID}",
        f"arn:aws:s3:::{KEY_ID}",
        f"arn:aws:kms:{REGION}:{ACCOUNT}:key/",
    ],
)
def test_given_text_that_names_no_key_when_parsed_then_invalid_key_identifier(text: str) -> None:
    with pytest.raises(InvalidKeyIdentifier):
        KeyRef.parse(text)


def test_given_none_when_parsed_then_invalid_key_identifier_not_a_type_error() -> None:
    with pytest.raises(InvalidKeyIdentifier):
        KeyRef.parse(None)  # type: ignore[arg-type]


def test_given_invalid_text_when_parsed_then_the_error_is_a_value_error_that_quotes_the_input() -> None:
    with pytest.raises(ValueError, match="'not-a-key'"):
        KeyRef.parse("not-a-key")


@pytest.mark.parametrize("suffix", ["\n", "\r\n", " "])
def test_given_a_trailing_newline_or_space_when_checked_strictly_then_not_an_account_or_region(suffix: str) -> None:
    # matched whole: with re.match, "$" also matches before a final newline
    assert is_account("111122223333") and not is_account("111122223333" + suffix)
    assert is_region("us-east-1") and not is_region("us-east-1" + suffix)
