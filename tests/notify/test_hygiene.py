"""Untrusted text in every message: neutralised (controls, separators, bidi marks) and bounded, in Slack and in
the SNS subject and e-mail text alike. One property test covers both channels, whatever the text and its size."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keywatch.adapters.sns import SnsPublisher
from keywatch.models import ActionResult, Actor, Affected, EventResult, KeyEvent, KeyInfo, KeyState, Outcome, Severity
from keywatch.notify import blocks, text
from keywatch.notify.channels import SnsChannel
from keywatch.notify.hygiene import UNSAFE, cap, cap_bytes, is_clean, neutral, one_line

NOW = datetime(2027, 1, 1, tzinfo=UTC)
KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SNS_LIMIT = 256 * 1024  # bytes: the whole Publish request's message, subject included

# Every character class the hygiene neutralises, one by one, and the tricks they make possible.
DANGEROUS = [chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)]] + [
    "\u061c",
    "\u200e",
    "\u200f",
    "\u2028",
    "\u2029",
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
    "\ufeff",
]
TRICKS = ["<!channel>", "<https://evil.example|click>", "*bold*", "`code`", "&amp;", "a\r\nSubject: forged", "\x1b[2J"]


@pytest.mark.parametrize("char", DANGEROUS, ids=lambda c: f"U+{ord(c):04X}")
def test_given_each_dangerous_character_when_made_one_line_then_it_is_gone(char: str) -> None:
    assert one_line(f"a{char}b") == "a b" and is_clean(one_line(f"a{char}b"))


def test_given_caps_when_applied_then_the_text_fits_and_says_it_was_cut() -> None:
    assert cap("abcdef", 4) == "abc\u2026" and cap("abc", 4) == "abc"
    assert len(cap_bytes("\u00e9" * 100, 51).encode()) <= 51
    assert neutral("  - a\nb", 10) == "  - a b"


HOSTILE_TEXT = st.one_of(
    st.text(alphabet=st.sampled_from(DANGEROUS) | st.characters(), max_size=60),
    st.sampled_from(TRICKS),
    st.lists(st.sampled_from(DANGEROUS + TRICKS + ["x", " "]), max_size=30).map("".join),
    st.integers(min_value=1, max_value=400_000).map(lambda n: ("\u202e\n<x>" * n)[:n]),  # up to 400 K characters
)
FIELDS = ("name", "alias", "principal", "role", "agent", "ip", "reason", "event_id", "error", "detail", "description")


def result_with(values: dict[str, str], n_fs: int = 3) -> EventResult:
    """An alert whose every untrusted field holds the given text."""
    event = KeyEvent(
        event_id=values["event_id"] or "e",
        event_name="DisableKey",
        kind="cloudtrail",
        event_time=NOW,
        key_arn=KEY_ARN,
        account="111122223333",
        region="us-east-1",
        actor=Actor(
            type="IAMUser",
            arn="p" + values["principal"],  # prefixed: the role is shown when it differs from the principal
            role_arn="r" + values["role"],
            source_ip=values["ip"],
            user_agent=values["agent"],
        ),
        error_message=values["error"],
    )
    key = KeyInfo(
        arn=KEY_ARN,
        key_id=KEY_ARN.rsplit("/", 1)[-1],
        state=KeyState.DISABLED,
        aliases=[values["alias"]],
        description=values["description"],
    )
    affected = [
        Affected(
            file_system_id=f"fs-{i:017x}",
            name=values["name"],
            account="111122223333",
            region="us-east-1",
            mount_targets=1,
            mount_targets_after=1,
            policy="notify",
        )
        for i in range(n_fs)
    ]
    return EventResult(
        event_id=event.event_id,
        event_name=event.event_name,
        key_arn=KEY_ARN,
        key_state=KeyState.DISABLED,
        outcome=Outcome.ALERT,
        severity=Severity.HIGH,
        reason=values["reason"],
        affected=affected,
        actions=[ActionResult(type="enable_key", target=KEY_ARN, status="failed", detail=values["detail"])],
        event=event,
        key=key,
    )


class _Capture:
    """The SNS client: keeps what Publish was asked to send."""

    def __init__(self) -> None:
        self.sent: dict[str, Any] = {}

    def publish(self, **kwargs: Any) -> dict[str, str]:
        self.sent = kwargs
        return {"MessageId": "m-1"}


class _Clients:
    def __init__(self, sns: _Capture) -> None:
        self._sns = sns

    def client(self, service: str, account: str, region: str, purpose: str = "read") -> _Capture:
        return self._sns


def sns_request(result: EventResult) -> dict[str, Any]:
    """What SNS would receive: through the real channel and the real publisher, with a client that keeps it."""
    capture = _Capture()
    publisher = SnsPublisher(_Clients(capture), "arn:aws:sns:us-east-1:123456789012:keywatch-alerts")  # type: ignore[arg-type]
    note = SnsChannel(publisher).send(result)
    assert note.status == "sent", note.detail
    return capture.sent


def strings(payload: Any) -> list[str]:
    if isinstance(payload, dict):
        return [s for v in payload.values() for s in strings(v)]
    if isinstance(payload, list):
        return [s for v in payload for s in strings(v)]
    return [payload] if isinstance(payload, str) else []


def rendered(result: EventResult) -> tuple[str, str, dict[str, Any]]:
    return text.subject(result), text.body(result, NOW), blocks.message(result, NOW)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.fixed_dictionaries({field: HOSTILE_TEXT for field in FIELDS}))
def test_given_hostile_text_in_every_field_when_rendered_for_slack_and_sns_then_clean_one_line_and_within_limits(
    values: dict[str, str],
) -> None:
    hostile = result_with(values)
    subject, body, slack = rendered(hostile)

    # A field's dangerous characters have no effect at all: the messages are exactly those of its twin
    # whose dangerous characters were spaces to begin with (no line added, nothing reordered or hidden).
    assert rendered(result_with({field: neutral(value) for field, value in values.items()})) == (subject, body, slack)
    # the SNS subject: one line, ASCII, under 100 characters, nothing to neutralise
    assert is_clean(subject) and subject.isascii() and len(subject) < 100
    # the e-mail text: every line clean
    assert all(is_clean(line) for line in body.split("\n"))
    # Slack: sendable, nothing to neutralise but the message's own line breaks, no mention or link smuggled in
    assert blocks.violations(slack) == []
    texts = strings(slack)
    assert all(is_clean(s.replace("\n", "")) for s in texts)
    joined = "\n".join(texts)
    assert "<!channel>" not in joined and "|click>" not in joined
    # SNS: the whole request fits in one message, whatever the sizes
    request = sns_request(hostile)
    assert is_clean(request["Subject"])
    assert len(request["Message"].encode()) + len(request["Subject"].encode()) <= SNS_LIMIT
    assert all(is_clean(line) for line in json.loads(request["Message"])["email"].split("\n"))


def test_given_a_user_agent_of_200_kb_and_a_reason_of_100_kb_when_published_then_it_fits_one_sns_message() -> None:
    values = {field: "x" for field in FIELDS} | {"agent": "\u202e" + "A" * 200_000, "reason": "r\n" * 50_000}
    request = sns_request(result_with(values, n_fs=400))
    assert len(request["Message"].encode()) <= SNS_LIMIT
    email = json.loads(request["Message"])["email"]
    assert "\u202e" not in email and UNSAFE.search(email.replace("\n", "")) is None
