"""Plain-text rendering of a result: the one-line summary (SNS subject, Slack text), the e-mail body
and the next steps. Pure functions.

Every line says what is true *now*, after keywatch's own actions: a key keywatch re-enabled is not
"at risk", an unmount says that access was cut and how it comes back, and the mount-target counts
are the same ones the tables show (before -> after).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from keywatch.models import Affected, EventResult, KeyState, Outcome
from keywatch.notify.hygiene import LINE_CHARS, neutral, one_line

SUBJECT_LIMIT = 99  # SNS: fewer than 100 characters, ASCII, no line breaks
PENDING_DELETION = frozenset({KeyState.PENDING_DELETION, KeyState.PENDING_REPLICA_DELETION})
REIMPORT_GUIDE = "https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-import-key-material.html"
EFS_RESTORE_GUIDE = "https://docs.aws.amazon.com/aws-backup/latest/devguide/restoring-efs.html"

HEADLINES = {
    "DisableKey": "KMS key disabled",
    "EnableKey": "KMS key re-enabled",
    "ScheduleKeyDeletion": "KMS key scheduled for deletion",
    "CancelKeyDeletion": "KMS key deletion cancelled, key left disabled",
    "RetireGrant": "EFS grant retired on KMS key",
    "RevokeGrant": "EFS grant revoked on KMS key",
    "DeleteImportedKeyMaterial": "imported key material deleted",
    "ImportKeyMaterial": "key material imported",
    "PutKeyPolicy": "KMS key policy changed",
    "KMS CMK Deletion": "KMS key deleted",
    "KMS Imported Key Material Expiration": "imported key material expired",
    "Countdown": "KMS key deletion is near",
    "Sweep": "KMS key problem found by the sweep",
    "ManualRestore": "mount targets restored by hand",
}


ACTION_NAMES = {
    "cancel_key_deletion": "Cancel the key deletion",
    "enable_key": "Re-enable the key",
    "delete_mount_targets": "Delete the mount targets",
    "restore_mount_targets": "Restore the mount targets",
}


# How a reason written about the key as the event found it begins, once the key has been put right (by
# keywatch in enforce mode, or by an approver's click in approve mode).
FOUND = "When the event arrived: "
NOTHING_BROKEN = "Nothing is broken now. Ask who changed the key (Who, above) why, before it happens again."


def action_name(kind: str) -> str:
    """``delete the mount targets``: an action's name within a sentence."""
    return ACTION_NAMES.get(kind, kind).lower()


@dataclass(frozen=True)
class Step:
    """One thing for the owner to do: in words, and as a complete command to copy when there is one."""

    say: str
    command: str | None = None

    def report(self) -> dict[str, Any]:
        return {"step": self.say, "command": self.command}


def headline(result: EventResult) -> str:
    return HEADLINES.get(result.event_name, result.event_name)


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def file_systems(n: int) -> str:
    return plural(n, "EFS file system")


def days_left(deletion: datetime | None, now: datetime | None = None) -> int | None:
    if deletion is None:
        return None
    now = now or datetime.now(UTC)
    return max(0, (deletion - now).days)


def deletion_date(result: EventResult) -> datetime | None:
    """When the key will be deleted, while its deletion is still pending (not after it was cancelled)."""
    if state_now(result) not in PENDING_DELETION:
        return None
    if result.key and result.key.deletion_date:
        return result.key.deletion_date
    return result.event.deletion_date if result.event else None


def key_label(result: EventResult) -> str:
    aliases = result.key.aliases if result.key else []
    key_id = result.key_arn.rsplit("/", 1)[-1] if result.key_arn else "unknown key"
    return f"{aliases[0]} ({key_id})" if aliases else key_id


def state_now(result: EventResult) -> KeyState | None:
    return result.key_state_after or result.key_state


def _done(result: EventResult, *types: str) -> bool:
    return any(a.type in types and a.status == "done" for a in result.actions)


def key_fixed(result: EventResult) -> bool:
    """keywatch's own actions made the key usable again."""
    return _done(result, "enable_key") and state_now(result) == KeyState.ENABLED


def cut_off(result: EventResult) -> list[Affected]:
    """File systems whose mount targets keywatch removed in this result."""
    removed = {a.target for a in result.actions if a.type == "delete_mount_targets" and a.status == "done"}
    return [fs for fs in result.affected if fs.file_system_id in removed and fs.mount_targets_after < fs.mount_targets]


def put_back(result: EventResult) -> list[Affected]:
    """File systems whose mount targets keywatch re-created in this result."""
    restored = {a.target for a in result.actions if a.type == "restore_mount_targets" and a.status == "done"}
    return [fs for fs in result.affected if fs.file_system_id in restored]


def fixed_by(result: EventResult) -> str:
    """``keywatch re-enabled the key`` (or cancelled the deletion and re-enabled it), from the actions done."""
    if _done(result, "cancel_key_deletion"):
        return "keywatch cancelled the deletion and re-enabled the key"
    return "keywatch re-enabled the key"


def _tails(result: EventResult) -> list[str]:
    """What is true now, longest first: the subject takes the first one that fits."""
    n = len(result.affected)
    if result.outcome == Outcome.RESOLVED:
        if put_back(result):
            return [f"keywatch put the mount targets back, {file_systems(n)} OK", f"{file_systems(n)} OK"]
        return [f"{file_systems(n)} OK"]
    if result.outcome != Outcome.ALERT:
        return [file_systems(n)] if n else []
    if key_fixed(result):
        return [
            f"{fixed_by(result)}, {file_systems(n)} OK",
            f"keywatch re-enabled the key, {file_systems(n)} OK",
            f"keywatch re-enabled it, {file_systems(n)} OK",
            f"key re-enabled by keywatch, {n} OK",
        ]
    cut = cut_off(result)
    if cut:
        rest = n - len(cut)
        more = f", {rest} more at risk" if rest else ""
        return [f"keywatch cut access to {file_systems(len(cut))}{more}", f"access cut to {len(cut)}{more}"]
    if _done(result, "cancel_key_deletion"):
        return [f"keywatch cancelled the deletion, key still {state_now(result)}, {file_systems(n)} at risk"]
    return [f"{file_systems(n)} at risk"]


def level(result: EventResult) -> str:
    if result.outcome == Outcome.RESOLVED:
        return "RESOLVED"
    return result.severity.value.upper() if result.severity else result.outcome.value.upper()


def summary(result: EventResult, limit: int | None = None) -> str:
    """``HIGH: KMS key disabled; keywatch re-enabled the key, 3 EFS file systems OK``: one line, true now."""
    tails = _tails(result)
    lines = [f"{level(result)}: {headline(result)}" + (f"; {tail}" if tail else "") for tail in tails or [""]]
    for line in lines:
        if limit is None or len(line) <= limit:
            return line
    line = lines[-1]
    return line[: limit - 3] + "..." if limit is not None else line


def subject(result: EventResult) -> str:
    """The SNS subject: ASCII, one line, fewer than 100 characters."""
    prefix = "keywatch "
    text = prefix + one_line(summary(result, SUBJECT_LIMIT - len(prefix)))  # no control characters or breaks
    return text.encode("ascii", "replace").decode()


def _counts(fs: Affected) -> str:
    if fs.mount_targets_after != fs.mount_targets:
        return f"{fs.mount_targets} -> {fs.mount_targets_after} mount targets"
    return plural(fs.mount_targets, "mount target")


def _names(items: Sequence[Affected]) -> str:
    return ", ".join(f"{fs.name or fs.file_system_id} ({fs.file_system_id}, {_counts(fs)})" for fs in items)


def now_line(result: EventResult) -> str:
    """One sentence: what keywatch did and what that means now. Empty when keywatch did nothing."""
    parts: list[str] = []
    if key_fixed(result):
        n = len(result.affected)
        them = "the EFS file system can" if n == 1 else f"the {n} EFS file systems can"
        parts.append(f"Fixed: {fixed_by(result)} ({result.key_state} -> {KeyState.ENABLED}); {them} use it.")
    elif _done(result, "cancel_key_deletion"):
        parts.append(f"keywatch cancelled the deletion; the key is still {state_now(result)}.")
    cut = cut_off(result)
    if cut:
        parts.append(
            f"Access cut: keywatch removed the mount targets of {_names(cut)}. They come back when the key is "
            "Enabled again (keywatch puts them back itself, or run keywatch restore)."
        )
    back = put_back(result)
    if back:
        parts.append(f"keywatch put back the mount targets of {_names(back)}.")
    offered = [a for a in result.actions if a.offered]
    if offered:
        parts.append(
            f"Approve mode: {plural(len(offered), 'action')} offered; each runs only when an approver clicks "
            "its button in Slack (see Actions)."
        )
    planned = [a for a in result.actions if a.status == "planned" and not a.offered]
    skipped = [a for a in result.actions if a.status == "skipped" and a.detail.startswith("would")]
    if planned or skipped:
        would = f"run {plural(len(planned), 'action')}" + (f" and skip {len(skipped)}" if skipped else "")
        parts.append(f"Dry run: nothing was changed; enforce mode would {would} (see Actions).")
    failed = [a for a in result.actions if a.status == "failed"]
    if failed:
        parts.append(f"{plural(len(failed), 'action')} failed: " + "; ".join(f"{a.type}: {a.detail}" for a in failed))
    return " ".join(parts)


def next_steps(result: EventResult) -> list[Step]:
    """What the owner should do now, in order; each command complete, to copy as it is. Empty: nothing to do."""
    if not result.key_arn:
        return []
    arn = result.key_arn
    region = arn.split(":")[3]
    where = f"--key-id {arn} --region {region}"
    steps: list[Step] = []
    cut = cut_off(result)
    if result.outcome == Outcome.RESOLVED:
        stuck = [a for a in result.actions if a.type == "restore_mount_targets" and a.status == "failed"]
        return [
            Step(
                f"keywatch could not put back the mount targets of {a.target}; once the cause is fixed, run",
                f"keywatch restore --file-system {a.target} --aws --regions {region}",
            )
            for a in stuck
        ]
    if result.outcome != Outcome.ALERT:
        return []
    state = state_now(result)
    if key_fixed(result):
        steps.append(Step(NOTHING_BROKEN))
    elif state in PENDING_DELETION:
        steps.append(
            Step("Cancel the deletion (this leaves the key Disabled):", f"aws kms cancel-key-deletion {where}")
        )
        steps.append(Step("Then re-enable the key:", f"aws kms enable-key {where}"))
    elif state == KeyState.DISABLED:
        steps.append(Step("Re-enable the key, if it was not meant to be disabled:", f"aws kms enable-key {where}"))
    elif state == KeyState.PENDING_IMPORT:
        steps.append(
            Step(
                "Get a new wrapping key and import token for the key:",
                f"aws kms get-parameters-for-import {where} "
                "--wrapping-algorithm RSAES_OAEP_SHA_256 --wrapping-key-spec RSA_4096",
            )
        )
        steps.append(
            Step(
                "Wrap the same key material as before (KMS accepts no other) with that public key and import it "
                f"with aws kms import-key-material, as {REIMPORT_GUIDE} shows."
            )
        )
    elif state == KeyState.UNAVAILABLE:
        steps.append(
            Step(
                "The key's custom key store is disconnected: find it, then reconnect it "
                "(aws kms connect-custom-key-store):",
                f"aws kms describe-key {where} --query KeyMetadata.CustomKeyStoreId --output text",
            )
        )
    elif state == KeyState.DELETED:
        steps.append(
            Step(
                "The key is gone and can't be brought back: restore the file systems' data from a backup "
                f"encrypted with another key ({EFS_RESTORE_GUIDE})."
            )
        )
    elif result.event_name in ("RetireGrant", "RevokeGrant"):
        steps.append(
            Step(
                "List the key's grants: each file system needs its EFS grant (encryption context "
                "aws:elasticfilesystem:filesystem:id). If one is gone, contact AWS Support.",
                f"aws kms list-grants {where}",
            )
        )
    elif result.event_name == "PutKeyPolicy":
        steps.append(
            Step(
                "Read the key policy and take out what shuts EFS out:",
                f"aws kms get-key-policy {where} --policy-name default",
            )
        )
    else:
        steps.append(Step("Check the key:", f"aws kms describe-key {where}"))
    for fs in cut:
        steps.append(
            Step(
                f"Access to {fs.name or fs.file_system_id} stays cut until the key is Enabled; keywatch then puts "
                "its mount targets back. To do it by hand once the key is Enabled "
                "(with KEYWATCH_INCIDENTS_TABLE set):",
                f"keywatch restore --file-system {fs.file_system_id} --aws --regions {fs.region}",
            )
        )
    return steps


def body(result: EventResult, now: datetime | None = None) -> str:
    event = result.event
    lines = [subject(result), ""]
    if line := now_line(result):
        lines += [line, ""]
    lines += [result.reason, ""]
    deletion = deletion_date(result)
    lines.append(f"Key:        {key_label(result)}")
    lines.append(f"Key ARN:    {result.key_arn}")
    changed = result.key_state_after and result.key_state_after != result.key_state
    lines.append(f"State:      {result.key_state}" + (f" -> {result.key_state_after}" if changed else ""))
    if deletion:
        lines.append(f"Deletion:   {deletion:%Y-%m-%d %H:%M} UTC ({days_left(deletion, now)} days left)")
    if event:
        lines.append(f"Event:      {event.event_name} ({event.event_id})")
        lines.append(f"Who:        {event.actor.display}")
        if event.actor.source_ip or event.actor.user_agent:
            lines.append(f"From:       {event.actor.source_ip or '-'}  {event.actor.user_agent or ''}".rstrip())
        if event.event_time:
            lines.append(f"When:       {event.event_time.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
    lines += ["", f"EFS file systems ({len(result.affected)}):"]
    for fs in result.affected:
        lines.append(
            f"  - {fs.file_system_id} ({fs.name or 'no Name tag'}) {fs.account}/{fs.region}, "
            f"{_counts(fs)}, policy {fs.policy.value}"
        )
    if result.actions:
        lines += ["", "Actions:"]
        for a in result.actions:
            on = f" {a.target}" if a.target.startswith("fs-") else " (the key)"
            lines.append(f"  - {a.type}{on}: {a.status}" + (f" ({a.detail})" if a.detail else ""))
    steps = next_steps(result)
    if steps:
        lines += ["", "Next:"]
        for i, step in enumerate(steps, 1):
            lines.append(f"  {i}. {step.say}")
            if step.command:
                lines.append(f"     {step.command}")
    elif result.outcome == Outcome.RESOLVED:
        lines += ["", "Next: nothing to do; the key is usable again."]
    # Every line is neutralised and capped as a whole: a name, principal or user agent can neither break a
    # line (newline, U+2028/U+2029), hide or reorder text (ESC, NUL, bidi controls) nor grow without bound.
    return "\n".join(neutral(line, LINE_CHARS).rstrip() for line in lines)
