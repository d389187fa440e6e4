"""The Block Kit builder: content, escaping, Slack's limits. Pure: no network."""

from __future__ import annotations

import json
import re

import pytest
from keywatch.models import ActionResult, Policy
from keywatch.notify import blocks
from slack_support import NOW, all_text, fs, make_result


def _blocks(payload: dict) -> list[dict]:
    return payload["attachments"][0]["blocks"]


def test_given_a_scheduled_deletion_when_built_then_the_responder_has_everything_to_act() -> None:
    payload = blocks.message(make_result("schedule_key_deletion"), NOW)
    text = all_text(payload)

    assert "CRITICAL" in payload["text"]
    assert payload["attachments"][0]["color"] == blocks.COLOURS["critical"]
    assert ":rotating_light:" in _blocks(payload)[0]["text"]["text"]
    assert "0987dcba-09fe-87dc-65ba-ab0987654321" in text  # key ID
    assert "alias/billing" in text
    assert "PendingDeletion" in text
    assert "2026-12-28 10:02 UTC" in text and "29 days left" in text  # deletion date, days left
    assert "arn:aws:iam::111122223333:user/bob" in text and "203.0.113.24" in text  # who, from where
    assert "aws-cli/2.17.5" in text and "2026-11-28 10:02:11 UTC" in text  # user agent, when
    assert "fs-0a1b2c3d4e5f60004" in text and "billing-reports" in text and "`protect`" in text
    assert (
        "https://us-east-1.console.aws.amazon.com/kms/home?region=us-east-1#/kms/keys/"
        "0987dcba-09fe-87dc-65ba-ab0987654321"
    ) in text
    assert (
        "https://us-east-1.console.aws.amazon.com/efs/home?region=us-east-1#/file-systems/fs-0a1b2c3d4e5f60004"
    ) in text
    assert "*Next steps*\n1. Cancel the deletion" in text
    assert "```aws kms cancel-key-deletion --key-id arn:aws:kms:us-east-1:111122223333:key/0987dcba" in text
    assert blocks.violations(payload) == []


def test_given_a_recovery_when_built_then_it_is_green_and_says_nothing_to_do() -> None:
    payload = blocks.message(make_result("enable_key"), NOW)
    assert payload["attachments"][0]["color"] == blocks.RESOLVED_COLOUR
    header = _blocks(payload)[0]["text"]["text"]
    assert header.startswith(":white_check_mark: RESOLVED") and "3 EFS file systems OK" in header
    assert "nothing to do" in all_text(payload)


def test_given_actions_when_built_then_each_is_listed_with_its_result() -> None:
    result = make_result(
        "schedule_key_deletion",
        state_after="Enabled",
        actions=[
            ActionResult(
                type="cancel_key_deletion",
                target="arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321",
                status="done",
                detail="deletion cancelled; the key is Disabled",
            ),
            ActionResult(
                type="enable_key",
                target="arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321",
                status="failed",
                detail="AccessDeniedException",
            ),
        ],
    )
    text = all_text(blocks.message(result, NOW))
    assert "Cancel the key deletion" in text and "*done*" in text
    assert ":x: Re-enable the key" in text and "*failed*" in text and "AccessDeniedException" in text
    assert "`PendingDeletion` \u2192 `Enabled`" in text


@pytest.mark.parametrize(
    "hostile",
    [
        "<!channel>",
        "<!here|here>",
        "<https://evil.example|click>",
        "*bold*",
        "_it_",
        "~gone~",
        "`code`",
        "a & b",
        "<@U123>",
        "> quoted",
        "line\nbreak",
    ],
)
def test_given_a_hostile_name_when_built_then_it_can_neither_mention_link_nor_format(hostile: str) -> None:
    result = make_result("disable_key", affected=[fs("fs-0a1b2c3d4e5f60001", hostile)])
    payload = blocks.message(result, NOW)
    text = all_text(payload)

    assert hostile not in text
    assert "<!" not in text and "<@" not in text and "<https://evil" not in text
    # every "<" left is one keywatch wrote: a link to an AWS console page
    assert set(re.findall(r"<([^|>]+)\|", text)) <= {
        "https://us-east-1.console.aws.amazon.com/kms/home?region=us-east-1#/kms/keys/"
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "https://us-east-1.console.aws.amazon.com/efs/home?region=us-east-1#/file-systems/fs-0a1b2c3d4e5f60001",
    }
    line = next(line for line in text.splitlines() if "fs-0a1b2c3d4e5f60001>" in line)
    assert "*bold*" not in line and "_it_" not in line and "~gone~" not in line and "`code`" not in line
    if "&" in hostile:
        assert "a &amp; b" in line
    if hostile.startswith("<!channel"):
        assert "&lt;!channel&gt;" in line


def test_given_a_hostile_user_agent_and_detail_when_built_then_they_are_escaped(result) -> None:
    base = result("disable_key")
    event = base.event.model_copy(
        update={
            "actor": base.event.actor.model_copy(
                update={"user_agent": "<!channel> *urgent* <https://evil.example|update here>"}
            )
        }
    )
    hostile = base.model_copy(
        update={
            "event": event,
            "actions": [
                ActionResult(
                    type="enable_key", target=base.key_arn, status="failed", detail="<!everyone> denied & <https://x|y>"
                )
            ],
        }
    )
    text = all_text(blocks.message(hostile, NOW))
    assert "<!channel>" not in text and "<!everyone>" not in text and "<https://evil" not in text
    assert "<https://x|y>" not in text
    assert "&lt;!channel&gt;" in text and "denied &amp; &lt;https:\u2060//x|y&gt;" in text


def test_given_a_bare_url_as_a_name_when_built_then_slack_cannot_autolink_it() -> None:
    payload = blocks.message(
        make_result("disable_key", affected=[fs("fs-0a1b2c3d4e5f60001", "https://evil.example")]), NOW
    )
    assert "https://evil.example" not in all_text(payload)


def test_given_500_file_systems_and_long_names_when_built_then_every_slack_limit_holds() -> None:
    many = [
        fs(f"fs-{i:017x}", ("very-long-name-" * 30) + str(i), Policy.UNMOUNT, account=f"{i:012d}") for i in range(500)
    ]
    actions = [
        ActionResult(
            type="delete_mount_targets",
            target=f.file_system_id,
            status="done",
            detail="deleted 2 of 2 mount targets & <recorded>" * 10,
        )
        for f in many
    ]
    payload = blocks.message(make_result("disable_key", affected=many, actions=actions), NOW)

    assert blocks.violations(payload) == []
    found = _blocks(payload)
    assert len(found) <= blocks.MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= 3000 for b in found if b["type"] == "section" and "text" in b)
    assert all(len(b.get("fields", [])) <= 10 for b in found)
    assert all(len(b["text"]["text"]) <= 150 for b in found if b["type"] == "header")
    text = all_text(payload)
    assert "and 480 more file systems" in text and "and 480 more actions" in text
    assert "500 EFS file systems at risk" in found[0]["text"]["text"]
    assert len(json.dumps(payload)) < 40_000


def test_given_too_many_blocks_when_fitted_then_the_message_is_cut_to_fifty_and_says_so() -> None:
    many = [{"type": "section", "text": {"type": "mrkdwn", "text": str(i)}} for i in range(80)]
    fitted = blocks.fit(many)
    assert len(fitted) == 50
    assert fitted[-1]["text"]["text"] == "79"  # the closing block is kept
    assert "31 more blocks were left out" in json.dumps(fitted)


def test_given_over_long_texts_when_fitted_then_they_are_trimmed() -> None:
    fitted = blocks.fit(
        [
            {"type": "header", "text": {"type": "plain_text", "text": "h" * 400}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 5000}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2500}] * 14},
        ]
    )
    assert blocks.violations({"blocks": fitted}) == []


@pytest.mark.parametrize(("kind", "severity"), [("disable_key", "high"), ("kms_cmk_deletion", "critical")])
def test_given_a_severity_when_built_then_colour_and_emoji_follow_it(kind: str, severity: str) -> None:
    payload = blocks.message(make_result(kind), NOW)
    assert payload["attachments"][0]["color"] == blocks.COLOURS[severity]
    assert _blocks(payload)[0]["text"]["text"].startswith(blocks.EMOJI[severity])


def test_given_a_native_deletion_when_built_then_kms_itself_is_named_as_the_actor() -> None:
    text = all_text(blocks.message(make_result("kms_cmk_deletion"), NOW))
    assert "AWS KMS itself" in text and "restore the file systems' data from a backup" in text


def test_given_a_multi_region_primary_when_built_then_the_deletion_waits_for_replicas() -> None:
    text = all_text(blocks.message(make_result("schedule_key_deletion_multi_region"), NOW))
    assert "after its replica keys are deleted" in text and "mrk-1234abcd12ab34cd56ef1234567890ab" in text


def test_given_the_deletion_date_is_close_when_built_then_days_left_counts_down() -> None:
    result = make_result("schedule_key_deletion")
    assert "less than a day left" in all_text(blocks.message(result, result.key.deletion_date.replace(hour=1)))
    late = result.key.deletion_date.replace(year=2027)
    assert "the waiting period is over" in all_text(blocks.message(result, late))


def test_given_a_countdown_from_the_sweep_when_built_then_it_says_how_long_is_left_and_who_found_it() -> None:
    from datetime import timedelta

    from keywatch.models import Actor, KeyEvent, Severity

    base = make_result("schedule_key_deletion")
    event = KeyEvent(
        event_id="countdown-0987dcba-7d-2026-12-28",
        event_name="Countdown",
        kind="sweep",
        event_time=NOW,
        key_arn=base.key_arn,
        actor=Actor(type="keywatch sweep"),
    )
    countdown = base.model_copy(
        update={"event": event, "event_id": event.event_id, "event_name": "Countdown", "severity": Severity.CRITICAL}
    )
    payload = blocks.message(countdown, base.key.deletion_date - timedelta(days=6, hours=2))
    text = all_text(payload)
    assert "CRITICAL: KMS key deletion is near" in payload["attachments"][0]["blocks"][0]["text"]["text"]
    assert "6 days left" in text and "found by the keywatch sweep" in text
    assert blocks.violations(payload) == []
