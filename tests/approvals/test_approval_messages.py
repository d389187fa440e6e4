"""The approve-mode message, pure: which buttons, Slack's limits, escaping, the message after a decision.

Snapshots of an alert with its buttons and of the message after an approval are kept in
tests/approvals/snapshots/ (docs/tools/render_slack.py draws them for docs/slack.md). After an intended
change: ``KEYWATCH_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/approvals/test_approval_messages.py``.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import pytest
from keywatch.adapters.approvals import MemoryApprovalStore
from keywatch.approvals import issuer as issuer_module
from keywatch.approvals.issuer import ButtonIssuer
from keywatch.approvals.models import Choice, parse_button_value
from keywatch.approvals.offer import offers
from keywatch.models import ActionResult, Policy
from keywatch.notify import blocks, buttons
from notify.slack_support import NOW, fs, make_result

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("KEYWATCH_UPDATE_SNAPSHOTS") == "1"
APP_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


WOULD = {
    "enable_key": "would re-enable the key once approved in Slack",
    "delete_mount_targets": "would record, then delete, the file system's mount targets once approved in Slack",
}


def planned(kind: str, target: str) -> ActionResult:
    return ActionResult(type=kind, target=target, status="planned", detail=WOULD[kind])  # type: ignore[arg-type]


def approve_result(**kwargs: Any) -> Any:
    return make_result(
        "disable_key",
        actions=[planned("enable_key", APP_ARN), planned("delete_mount_targets", "fs-0a1b2c3d4e5f60001")],
        **kwargs,
    )


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = itertools.count(1)
    monkeypatch.setattr(issuer_module, "new_token", lambda: f"tok{next(counter):020d}")


def issue(result: Any) -> tuple[dict[str, Any], MemoryApprovalStore]:
    store = MemoryApprovalStore()
    payload, issued = ButtonIssuer(store, clock=lambda: NOW.timestamp()).attach(result, blocks.message(result, NOW))
    assert issued is not None
    return payload, store


def elements(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in payload["attachments"][0]["blocks"] if b["type"] == "actions" for e in b["elements"]]


def test_given_policies_when_offered_then_protect_and_unmount_grant_their_buttons_and_notify_only_triage() -> None:
    result = approve_result()
    assert [o.choice for o in offers(result)] == [
        Choice.ENABLE,
        Choice.CUT,
        Choice.ACK,
        Choice.SILENCE_1H,
        Choice.SILENCE_1D,
        Choice.SILENCE_7D,
    ]
    notify_only = approve_result(affected=[fs("fs-0a1b2c3d4e5f60003", "partner-share")])
    assert [o.choice for o in offers(notify_only)] == [
        Choice.ACK,
        Choice.SILENCE_1H,
        Choice.SILENCE_1D,
        Choice.SILENCE_7D,
    ], "a planned action on a file system whose policy does not grant it is never offered"
    done = make_result("disable_key", actions=[ActionResult(type="enable_key", target=APP_ARN, status="done")])
    assert Choice.ENABLE not in [o.choice for o in offers(done)], "only what is planned (approve mode) is offered"


def test_given_many_file_systems_when_offered_then_one_cut_button_covers_them_all_within_slack_limits(
    tokens: None,
) -> None:
    many = [fs(f"fs-{i:017x}", f"fs {i}", Policy.UNMOUNT) for i in range(500)]
    result = make_result(
        "disable_key", affected=many, actions=[planned("delete_mount_targets", f.file_system_id) for f in many]
    )
    payload, store = issue(result)

    assert blocks.violations(payload) == []
    found = elements(payload)
    assert len({e["action_id"] for e in found}) == len(found) == 5
    assert all(len(e["value"]) <= 2000 for e in found)
    cut = next(a for a in store.approvals.values() if a.choice == Choice.CUT)
    assert len(cut.targets) == 500, "the targets live in the record, not in the button"
    assert len(payload["attachments"][0]["blocks"]) <= 50


def test_given_a_button_value_when_parsed_then_only_keywatch_values_are_accepted() -> None:
    assert parse_button_value(f"tok{'0' * 20}|{APP_ARN}") == (f"tok{'0' * 20}", APP_ARN)
    for bad in (None, "", "x|y", f"short|{APP_ARN}", f"tok{'0' * 20}|arn:aws:iam::1:role/x", "a" * 30):
        assert parse_button_value(bad) is None


def test_given_a_hostile_user_name_when_the_decision_is_shown_then_it_is_escaped(tokens: None) -> None:
    payload, store = issue(approve_result())
    token = next(t for (_, t), a in store.approvals.items() if a.choice == Choice.ACK)
    store.claim(APP_ARN, token, "U0ALICE", "<!channel> *boss*", int(NOW.timestamp()), None)
    store.progress(APP_ARN, token, "done", [], "acknowledged")

    after = buttons.with_buttons(payload, list(store.approvals.values()))

    text = json.dumps(after)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text and "*boss*" not in text
    assert "<@U0ALICE>" in text


def _decide(store: MemoryApprovalStore, choice: Choice, results: list[ActionResult], name: str) -> None:
    token = next(t for (_, t), a in store.approvals.items() if a.choice == choice)
    store.claim(APP_ARN, token, "U0ALICE", name, int(NOW.timestamp()) + 60, None)
    store.progress(APP_ARN, token, "done", results, "summary")


def _said(payload: dict[str, Any]) -> list[str]:
    """The header, the notification text and the *Now:* line: what a person reads first."""
    sections = [b["text"]["text"] for b in payload["attachments"][0]["blocks"] if "text" in b]
    return [payload["text"], sections[0], *[t for t in sections if t.startswith("*Now:*")]]


def test_given_an_approved_re_enable_when_the_message_is_rewritten_then_it_says_fixed_not_at_risk(
    tokens: None,
) -> None:
    payload, store = issue(approve_result())
    _decide(store, Choice.ENABLE, [ActionResult(type="enable_key", target=APP_ARN, status="done")], "<b>alice</b>")

    after = buttons.with_buttons(payload, list(store.approvals.values()))

    text, header, now = _said(after)
    assert header.endswith("HIGH: KMS key disabled; key re-enabled from Slack by <b>alice</b>, 3 EFS file systems OK")
    assert text.startswith("keywatch HIGH: KMS key disabled; key re-enabled from Slack by &lt;b&gt;alice&lt;/b&gt;, ")
    assert now.startswith("*Now:* Fixed from Slack: <@U0ALICE>") and "the key is Enabled" in now
    assert all("at risk" not in said for said in (text, header, now))
    everything = json.dumps(after, ensure_ascii=False)
    assert "*EFS file systems that can use the key again* (3)" in everything
    assert "aws kms enable-key" not in everything  # no next step to re-enable a key that is Enabled
    assert blocks.violations(after) == []


def test_given_an_approved_cut_while_the_key_is_disabled_when_rewritten_then_it_still_says_at_risk(
    tokens: None,
) -> None:
    payload, store = issue(approve_result())
    cut = ActionResult(type="delete_mount_targets", target="fs-0a1b2c3d4e5f60001", status="done")
    _decide(store, Choice.CUT, [cut], "alice")

    after = buttons.with_buttons(payload, list(store.approvals.values()))

    text, header, now = _said(after)
    assert header.endswith("HIGH: KMS key disabled; 3 EFS file systems at risk") and "at risk" in text
    assert now.startswith("*Now:* Approve mode:")  # nothing claims the key is back


def _check(name: str, payload: dict[str, Any]) -> None:
    path = SNAPSHOTS / f"{name}.json"
    rendered = json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if UPDATE or not path.exists():
        path.write_text(rendered, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"snapshot {path.name} did not exist and was written; review it and run again")
        return
    assert rendered == path.read_text(encoding="utf-8"), f"{name} changed; if intended, KEYWATCH_UPDATE_SNAPSHOTS=1"


def test_given_an_alert_in_approve_mode_when_posted_and_approved_then_the_messages_match_their_snapshots(
    tokens: None,
) -> None:
    payload, store = issue(approve_result())
    _check("approve_alert", payload)

    enable = next(t for (_, t), a in store.approvals.items() if a.choice == Choice.ENABLE)
    store.claim(APP_ARN, enable, "U0ALICE", "alice", int(NOW.timestamp()) + 120, None)
    done = [ActionResult(type="enable_key", target=APP_ARN, status="done", detail="key enabled")]
    store.progress(
        APP_ARN,
        enable,
        "done",
        done,
        "Re-enable the key 1234abcd-12ab-34cd-56ef-1234567890ab: done (key enabled); key Enabled",
    )

    after = buttons.with_buttons(payload, list(store.approvals.values()))

    assert blocks.violations(after) == []
    assert [e["action_id"] for e in elements(after)] == [
        "keywatch_cut",
        "keywatch_ack",
        "keywatch_silence_1h",
        "keywatch_silence_1d",
        "keywatch_silence_7d",
    ]
    _check("approve_after", after)


@pytest.mark.parametrize("user", ["U0ALICE\n", "U0ALICE>", "<!channel>", "U0ALICE\u202e"])
def test_given_a_user_id_that_is_not_one_whole_when_named_in_a_message_then_it_is_escaped_text_not_a_mention(
    user: str,
) -> None:
    from keywatch.notify.buttons import who

    shown = who(user, None)
    assert not shown.startswith("<@") and "\n" not in shown and "<!" not in shown
    assert who("U0ALICE", "alice") == "<@U0ALICE> (alice)"


def _texts(payload: dict[str, Any]) -> list[str]:
    found = []
    for block in payload["attachments"][0]["blocks"]:
        found.append(str((block.get("text") or {}).get("text", "")))
        found += [str(f.get("text", "")) for f in block.get("fields") or []]
    return found


def test_given_an_approved_re_enable_when_the_message_is_rewritten_then_state_and_reason_say_what_is_true_now(
    tokens: None,
) -> None:
    payload, store = issue(approve_result())
    enable = next(t for (_, t), a in store.approvals.items() if a.choice == Choice.ENABLE)
    ack = next(t for (_, t), a in store.approvals.items() if a.choice == Choice.ACK)
    store.claim(APP_ARN, ack, "U0BOB", "bob", int(NOW.timestamp()) + 60, None)

    acknowledged = _texts(buttons.with_buttons(payload, list(store.approvals.values())))
    assert "*State*\n`Disabled`" in acknowledged  # nothing was fixed: the message still says what was found
    assert "The key is Disabled; 3 EFS file systems will lose access after a period of time." in acknowledged

    store.claim(APP_ARN, enable, "U0ALICE", "alice", int(NOW.timestamp()) + 120, None)
    done = [ActionResult(type="enable_key", target=APP_ARN, status="done", detail="key enabled")]
    store.progress(APP_ARN, enable, "done", done, "Re-enable the key: done (key enabled); key Enabled")
    rewritten = buttons.with_buttons(payload, list(store.approvals.values()))
    again = buttons.with_buttons(payload, list(store.approvals.values()))  # each rewrite starts from the post

    fixed = _texts(rewritten)
    assert "*State*\n`Disabled` \u2192 `Enabled`" in fixed
    assert (
        "When the event arrived: The key is Disabled; 3 EFS file systems will lose access after a period of time."
        in fixed
    )
    assert _texts(again) == fixed
