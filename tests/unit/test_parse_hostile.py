"""Hostile input never escapes the parser: any input is a KeyEvent or a one-line InvalidEvent. Pure.

Named cases first (each one escaped once, as something else than InvalidEvent), then property tests
(hypothesis) over whole documents, over every field of the sample events, and over raw file bytes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keywatch.models import KeyEvent
from keywatch.parse import MAX_EVENT_BYTES, InvalidEvent, load_event_file, parse_event, read_event_file

EVENTS = Path(__file__).resolve().parents[2] / "events"
SAMPLES = {p.name: json.loads(p.read_text()) for p in sorted(EVENTS.glob("*.json"))}
ACCOUNT = "111122223333"
APP_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
APP_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{APP_ID}"


def sample(name: str) -> dict[str, Any]:
    [raw] = [copy.deepcopy(v) for k, v in SAMPLES.items() if k.split("_", 1)[1] == f"{name}.json"]
    return raw


def outcome(raw: Any) -> KeyEvent | str:
    """The parser's answer: a KeyEvent, or the InvalidEvent's message (checked to be one short line)."""
    try:
        return parse_event(raw)
    except InvalidEvent as exc:
        message = str(exc)
        assert message and "\n" not in message and "\r" not in message and len(message) <= 300, message
        return message


# --- the cases from the issue --------------------------------------------------------------------------


@pytest.mark.parametrize("digits", ["\u00b9" + ACCOUNT[1:], "\u0663" * 12, "\uff11" * 12])
def test_given_an_account_in_non_ascii_digits_when_it_would_place_the_key_then_invalid_event(digits: str) -> None:
    raw = sample("disable_key")
    raw["detail"]["resources"] = None
    raw["detail"]["recipientAccountId"] = digits
    assert outcome(raw) == "detail.recipientAccountId: not a 12-digit AWS account ID"  # in words (validation.py)


@pytest.mark.parametrize("digits", ["\u00b9" + ACCOUNT[1:], "\u0663" * 12])
def test_given_a_non_ascii_envelope_account_when_parsed_then_invalid_event_naming_account(digits: str) -> None:
    raw = sample("kms_cmk_deletion")
    raw["account"] = digits
    assert str(outcome(raw)).startswith("account:")


@pytest.mark.parametrize(
    ("field", "value"),
    [("account", ACCOUNT + "\n"), ("region", "us-east-1\n"), ("account", ACCOUNT + "\r\n")],
)
def test_given_a_trailing_newline_in_a_field_that_places_the_key_when_parsed_then_invalid_event(
    field: str, value: str
) -> None:
    # re.match's "$" matches before a final newline: the strict fields are matched whole
    raw = sample("kms_cmk_deletion")
    raw[field] = value
    assert str(outcome(raw)).startswith(f"{field}:")


def test_given_a_record_account_with_a_trailing_newline_when_it_would_place_the_key_then_invalid_event() -> None:
    raw = sample("disable_key")
    raw["detail"]["resources"] = None
    raw["detail"]["recipientAccountId"] = ACCOUNT + "\n"
    assert outcome(raw) == "detail.recipientAccountId: not a 12-digit AWS account ID"


def test_given_a_callers_account_in_superscript_digits_when_parsed_then_it_is_no_account_at_all() -> None:
    raw = sample("retire_grant")
    raw["detail"]["userIdentity"]["accountId"] = "\u00b9" + ACCOUNT[1:]
    event = outcome(raw)
    assert isinstance(event, KeyEvent) and event.actor.account is None and event.key_arn == APP_ARN


def test_given_a_resource_arn_with_non_ascii_digits_when_parsed_then_it_is_not_taken_for_a_key() -> None:
    raw = sample("disable_key")
    raw["detail"]["resources"] = [{"ARN": APP_ARN.replace(ACCOUNT, "\u0663" * 12)}]
    raw["detail"]["requestParameters"] = {"keyId": "not-a-key"}
    event = outcome(raw)
    assert isinstance(event, KeyEvent) and event.key_arn is None


def test_given_a_file_holding_a_5000_digit_integer_when_loaded_then_invalid_event() -> None:
    with pytest.raises(InvalidEvent) as raised:
        load_event_file('{"id": ' + "7" * 5000 + "}")
    # in words, not Python's advice to raise its limit
    assert (
        str(raised.value) == "not an EventBridge event (a number in it has more digits than any event field can hold)"
    )


@pytest.mark.parametrize("field", ["pendingWindowInDays", "deletionDate"])
@pytest.mark.parametrize(
    "value",
    [10**5000, -(10**4000), 1e308, float("inf"), float("nan")],
    ids=["10^5000", "-10^4000", "1e308", "inf", "nan"],
)
def test_given_a_huge_number_in_an_informative_field_when_parsed_then_the_event_parses_without_it(
    field: str, value: Any
) -> None:
    raw = sample("schedule_key_deletion")
    target = "requestParameters" if field == "pendingWindowInDays" else "responseElements"
    raw["detail"][target][field] = value
    event = outcome(raw)
    assert isinstance(event, KeyEvent) and event.reported_key_state == "PendingDeletion"


@pytest.mark.parametrize("field", ["eventTime", "eventID"])
def test_given_a_huge_number_where_a_time_or_id_belongs_when_parsed_then_invalid_event(field: str) -> None:
    raw = sample("disable_key")
    raw["detail"][field] = 10**5000
    assert str(outcome(raw)).startswith(f"detail.{field} ")  # "detail.eventTime must be a date and time"


@pytest.mark.parametrize("grant", [42, 4.2, True, ["g-1"], {"id": "g-1"}])
def test_given_a_grant_id_that_is_not_text_when_parsed_then_the_event_parses_with_no_grant(grant: Any) -> None:
    raw = sample("revoke_grant")
    raw["detail"]["requestParameters"]["grantId"] = grant
    event = outcome(raw)
    assert isinstance(event, KeyEvent) and event.grant_id is None and event.key_arn == APP_ARN


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("awsRegion", "us-east-1\nus-west-2"),
        ("awsRegion", "../../etc"),
        ("awsRegion", "US-EAST-1"),
        ("recipientAccountId", "12345"),
        ("recipientAccountId", "1111-2222-3333"),
    ],
)
def test_given_a_bad_account_or_region_to_build_an_arn_from_when_parsed_then_invalid_event(
    field: str, value: str
) -> None:
    raw = sample("disable_key")
    raw["detail"]["resources"] = None  # the ARN would have to be built from these
    raw["detail"][field] = value
    assert str(outcome(raw)).startswith(f"detail.{field}: ") and "Value error" not in str(outcome(raw))


def test_given_a_bad_envelope_region_when_a_native_event_needs_it_then_invalid_event() -> None:
    raw = sample("kms_cmk_deletion")
    raw["resources"], raw["region"] = [], "moon-base-1\u202e"
    assert str(outcome(raw)).startswith("region:")


def test_given_json_nested_too_deeply_when_loaded_then_invalid_event() -> None:
    with pytest.raises(InvalidEvent, match="nested too deeply"):
        load_event_file("[" * 100_000 + "]" * 100_000)


def test_given_deeply_nested_values_inside_an_event_when_parsed_then_it_is_still_handled() -> None:
    deep: Any = "bottom"
    for _ in range(20_000):
        deep = {"k": deep}
    raw = sample("disable_key")
    raw["detail"]["requestParameters"]["encryptionContext"] = deep
    raw["detail"]["additionalEventData"] = deep
    raw["detail"]["userIdentity"]["sessionContext"] = deep
    event = outcome(raw)
    assert isinstance(event, KeyEvent) and event.key_arn == APP_ARN


def test_given_a_pydantic_error_whose_location_holds_a_newline_when_parsed_then_the_message_is_one_line() -> None:
    raw = sample("disable_key")
    raw["detail"]["resources"] = [{"ARN": APP_ARN}, "line one\nline two"]
    assert str(outcome(raw)).startswith("detail.resources[1] ")


# --- files ---------------------------------------------------------------------------------------------------


def test_given_a_file_over_256_kb_when_read_then_it_is_not_an_event(tmp_path: Path) -> None:
    raw = sample("disable_key")
    raw["detail"]["userAgent"] = "x" * MAX_EVENT_BYTES  # valid JSON, valid event, too big to be one
    path = tmp_path / "big.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(InvalidEvent, match="256 KB"):
        read_event_file(path)


def test_given_a_file_of_exactly_256_kb_when_read_then_it_is_an_event(tmp_path: Path) -> None:
    text = json.dumps(sample("disable_key"))
    path = tmp_path / "edge.json"
    path.write_text(text + " " * (MAX_EVENT_BYTES - len(text.encode())))
    assert path.stat().st_size == MAX_EVENT_BYTES
    assert read_event_file(path).key_arn == APP_ARN


def test_given_a_file_with_a_byte_order_mark_when_read_then_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(sample("disable_key")).encode())
    assert read_event_file(path).event_name == "DisableKey"


def test_given_a_file_that_is_not_utf8_when_read_then_invalid_event(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(json.dumps({"id": "caf\u00e9"}).encode("utf-16"))
    with pytest.raises(InvalidEvent, match="UTF-8"):
        read_event_file(path)


# --- properties ------------------------------------------------------------------------------------------------

NASTY_TEXT = st.sampled_from(
    [
        "",
        "\u00b9" + ACCOUNT[1:],
        "\u0663" * 12,
        "us-east-1\n",
        "\x00\x1b[31m",
        "\u202eevil\u2066",
        "\u2028\u2029\u061c",
        APP_ARN,
        APP_ID,
        "alias/app",
        "arn:aws:kms:us-east-1:111122223333:alias/app",
        "Apr 12, 2021 18:58:30 PM",
        "NEW_KEY_MATERIAL",
        "AWS API Call via CloudTrail",
        "KMS CMK Deletion",
        "aws.kms",
        "kms.amazonaws.com",
        "x" * 5000,
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**4000, -(10**300), 2**63, 1e308, float("inf"), float("nan"), -0.0])  # printable ints
    | st.floats()
    | st.text(max_size=40)
    | NASTY_TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12) | NASTY_TEXT, inner, max_size=4),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a document that holds a value: dictionary keys and list positions."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


FIELDS = [(name, path) for name, raw in SAMPLES.items() for path in _paths(raw)]


def _replace(raw: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    node: Any = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSON, st.dictionaries(st.sampled_from(list(SAMPLES["01_disable_key.json"])), JSON)))
def test_given_any_json_value_when_parsed_then_a_key_event_or_a_one_line_invalid_event(raw: Any) -> None:
    outcome(raw)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(FIELDS), JSON)
def test_given_a_sample_with_any_one_field_replaced_when_parsed_then_a_key_event_or_a_one_line_invalid_event(
    field: tuple[str, tuple[Any, ...]], value: Any
) -> None:
    name, path = field
    outcome(_replace(SAMPLES[name], path, value))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(SAMPLES)), st.sampled_from([None, "drop"]) | JSON, st.data())
def test_given_a_sample_with_a_field_removed_or_replaced_at_random_depth_when_read_from_a_file_then_never_escapes(
    name: str, value: Any, data: st.DataObject
) -> None:
    raw = SAMPLES[name]
    path = data.draw(st.sampled_from(list(_paths(raw))))
    if value == "drop":
        mutated = copy.deepcopy(raw)
        node: Any = mutated
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]
    else:
        mutated = _replace(raw, path, value)
    outcome(mutated)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000) | st.text(max_size=2000).map(str.encode))
def test_given_any_bytes_in_a_file_when_read_then_a_key_event_or_a_one_line_invalid_event(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("bytes") / "event.json"
    path.write_bytes(data)
    try:
        read_event_file(path)
    except InvalidEvent as exc:
        assert "\n" not in str(exc) and len(str(exc)) <= 300
