"""Subjects, headlines, Slack text and next steps say what is true now, after keywatch's own actions. Pure."""

from __future__ import annotations

import re

import pytest
from keywatch.cli.render import story
from keywatch.models import ActionResult, Policy
from keywatch.notify import blocks, text
from slack_support import APP_FS, KINDS, all_text, fs, make_result

APP_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BILLING_ARN = "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"


def done(kind: str, target: str, detail: str = "") -> ActionResult:
    return ActionResult(type=kind, target=target, status="done", detail=detail)  # type: ignore[arg-type]


def re_enabled() -> object:
    return make_result(
        "disable_key",
        state_after="Enabled",
        actions=[
            done("enable_key", APP_ARN, "key enabled"),
            ActionResult(
                type="delete_mount_targets",
                target="fs-0a1b2c3d4e5f60001",
                status="skipped",
                detail="the key has recovered; mount targets kept",
            ),
        ],
    )


def test_given_keywatch_re_enabled_the_key_when_the_messages_are_made_then_each_says_so_and_none_says_at_risk() -> None:
    result = re_enabled()

    subject = text.subject(result)
    payload = blocks.message(result)
    header = payload["attachments"][0]["blocks"][0]["text"]["text"]

    assert subject == "keywatch HIGH: KMS key disabled; keywatch re-enabled the key, 3 EFS file systems OK"
    assert payload["text"] == subject  # the Slack notification line is the same sentence
    assert header.endswith("HIGH: KMS key disabled; keywatch re-enabled the key, 3 EFS file systems OK")
    body = text.body(result)
    assert "Fixed: keywatch re-enabled the key (Disabled -> Enabled)" in body
    for said in (subject, payload["text"], header, body.split("\n\n")[0]):
        assert "at risk" not in said
    assert "*EFS file systems that can use the key again* (3)" in all_text(payload)


def test_given_keywatch_cancelled_a_deletion_and_re_enabled_when_the_subject_is_made_then_it_fits_and_says_ok() -> None:
    result = make_result(
        "schedule_key_deletion",
        state_after="Enabled",
        actions=[done("cancel_key_deletion", BILLING_ARN), done("enable_key", BILLING_ARN)],
    )

    subject = text.subject(result)

    assert len(subject) < 100 and subject.isascii() and "\n" not in subject
    assert subject.startswith("keywatch CRITICAL: KMS key scheduled for deletion; ")
    assert subject.endswith("keywatch re-enabled it, 1 EFS file system OK")
    assert "at risk" not in subject and "..." not in subject
    assert text.deletion_date(result) is None  # the deletion is no longer pending: no date, no countdown
    assert "Deletion date" not in all_text(blocks.message(result))


def test_given_an_unmount_when_the_messages_are_made_then_they_say_access_is_cut_how_it_returns_and_counts_agree() -> (
    None
):
    cut = fs("fs-0a1b2c3d4e5f60001", "app-shared", Policy.UNMOUNT, mounts=2, after=0)
    result = make_result(
        "disable_key",
        affected=[cut, *APP_FS[1:]],
        actions=[done("delete_mount_targets", cut.file_system_id, "deleted 2 of 2 mount targets")],
    )

    subject = text.subject(result)
    body = text.body(result)
    slack = all_text(blocks.message(result))

    assert subject == "keywatch HIGH: KMS key disabled; keywatch cut access to 1 EFS file system, 2 more at risk"
    assert "Access cut: keywatch removed the mount targets of app-shared (fs-0a1b2c3d4e5f60001, 2 -> 0" in body
    assert "They come back when the key is Enabled again" in body
    assert "fs-0a1b2c3d4e5f60001 (app-shared) 111122223333/us-east-1, 2 -> 0 mount targets" in body
    assert "2 \u2192 0 mount targets" in slack  # the same count in Slack as in the text and the tables
    assert "mount target(s)" not in body
    restore = "keywatch restore --file-system fs-0a1b2c3d4e5f60001 --aws --regions us-east-1"
    assert f"\n     {restore}" in body  # a command on a line of its own
    assert f"```{restore}```" in slack
    assert restore in [s.command for s in text.next_steps(result)]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_given_any_result_when_next_steps_are_made_then_every_command_is_complete_and_on_its_own_line(
    kind: str,
) -> None:
    result = make_result(kind)

    steps = text.next_steps(result)
    body = text.body(result)

    for step in steps:
        assert "..." not in step.say
        if step.command is not None:
            assert step.command.startswith(("aws ", "keywatch ")), step.command
            assert "..." not in step.command and not re.search(r"[<>]", step.command)
            assert f"\n     {step.command}\n" in body + "\n"
    assert "..." not in body
    assert len(text.subject(result)) < 100


def test_given_a_dry_run_when_the_text_is_made_then_it_says_nothing_changed_and_still_at_risk() -> None:
    result = make_result(
        "disable_key",
        actions=[
            ActionResult(type="enable_key", target=APP_ARN, status="planned", detail="would re-enable the key"),
            ActionResult(
                type="delete_mount_targets",
                target="fs-0a1b2c3d4e5f60001",
                status="skipped",
                detail="would be skipped: the key would be Enabled again by then; mount targets kept",
            ),
        ],
    )

    assert text.subject(result) == "keywatch HIGH: KMS key disabled; 3 EFS file systems at risk"
    assert text.now_line(result).startswith("Dry run: nothing was changed; enforce mode would run 1 action and skip 1")


def test_given_approve_mode_when_the_text_is_made_then_it_says_the_actions_wait_for_an_approver_not_a_dry_run() -> None:
    result = make_result(
        "disable_key",
        actions=[
            ActionResult(
                type="enable_key",
                target=APP_ARN,
                status="planned",
                detail="would re-enable the key once approved in Slack",
            ),
            ActionResult(
                type="delete_mount_targets",
                target="fs-0a1b2c3d4e5f60001",
                status="planned",
                detail="would record, then delete, the file system's mount targets once approved in Slack",
            ),
        ],
    )

    now = text.now_line(result)
    # still true once someone has clicked (the message is then rewritten with the decisions, not re-made)
    assert (
        now
        == "Approve mode: 2 actions offered; each runs only when an approver clicks its button in Slack (see Actions)."
    )
    assert "Dry run" not in text.body(result) and "enforce" not in story(result)
    assert story(result).endswith(
        "at risk; offered in Slack, waiting for an approver: re-enable the key, delete the mount targets"
    )
