"""Plain-text rendering of a result: the SNS subject and the e-mail body. Pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

from keywatch.models import EventResult, KeyState, Outcome
from keywatch.notify.hygiene import LINE_CHARS, neutral, one_line

SUBJECT_LIMIT = 99  # SNS: fewer than 100 characters, ASCII, no line breaks

HEADLINES = {
    "DisableKey": "KMS key disabled",
    "EnableKey": "KMS key re-enabled",
    "ScheduleKeyDeletion": "KMS key scheduled for deletion",
    "CancelKeyDeletion": "KMS key deletion cancelled, key still disabled",
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


def headline(result: EventResult) -> str:
    return HEADLINES.get(result.event_name, result.event_name)


def days_left(deletion: datetime | None, now: datetime | None = None) -> int | None:
    if deletion is None:
        return None
    now = now or datetime.now(UTC)
    return max(0, (deletion - now).days)


def deletion_date(result: EventResult) -> datetime | None:
    if result.key and result.key.deletion_date:
        return result.key.deletion_date
    return result.event.deletion_date if result.event else None


def key_label(result: EventResult) -> str:
    aliases = result.key.aliases if result.key else []
    key_id = result.key_arn.rsplit("/", 1)[-1] if result.key_arn else "unknown key"
    return f"{aliases[0]} ({key_id})" if aliases else key_id


def next_step(result: EventResult) -> str:
    """One line: what the owner should do now."""
    if result.outcome != Outcome.ALERT or not result.key_arn:
        return "Nothing to do: the key is usable again." if result.outcome == Outcome.RESOLVED else ""
    region = result.key_arn.split(":")[3]
    arn = result.key_arn
    state = result.key_state_after or result.key_state
    if state in (KeyState.PENDING_DELETION, KeyState.PENDING_REPLICA_DELETION):
        return (
            f"Cancel the deletion, then re-enable the key: aws kms cancel-key-deletion --key-id {arn} "
            f"--region {region} && aws kms enable-key --key-id {arn} --region {region}"
        )
    if state in (KeyState.DISABLED, KeyState.UNAVAILABLE):
        return f"Re-enable the key if this was not intended: aws kms enable-key --key-id {arn} --region {region}"
    if state == KeyState.PENDING_IMPORT:
        return f"Re-import the same key material: aws kms import-key-material --key-id {arn} --region {region} ..."
    if state == KeyState.DELETED:
        return "The key is gone: restore the file systems' data from a backup encrypted with another key."
    if result.event_name in ("RetireGrant", "RevokeGrant"):
        return "Check the EFS grant on the key (aws kms list-grants); if it is gone, contact AWS Support."
    if state == KeyState.ENABLED and result.key_state not in (None, KeyState.ENABLED):
        return (
            f"keywatch put the key back in service ({result.key_state} -> Enabled); find out who changed it "
            "and why, before it happens again."
        )
    return "Check the key in the KMS console."


def subject(result: EventResult) -> str:
    n = len(result.affected)
    level = result.severity.value.upper() if result.severity else result.outcome.value.upper()
    if result.outcome == Outcome.RESOLVED:
        text = f"keywatch RESOLVED: {headline(result)}, {n} EFS file system{'s' if n != 1 else ''} OK"
    else:
        text = f"keywatch {level}: {headline(result)}, {n} EFS file system{'s' if n != 1 else ''} at risk"
    text = one_line(text).encode("ascii", "replace").decode()  # no control characters, no line breaks
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."


def body(result: EventResult, now: datetime | None = None) -> str:
    event = result.event
    lines = [subject(result), "", result.reason, ""]
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
    lines += ["", f"Affected EFS file systems ({len(result.affected)}):"]
    for fs in result.affected:
        lines.append(
            f"  - {fs.file_system_id} ({fs.name or 'no Name tag'}) {fs.account}/{fs.region}, "
            f"{fs.mount_targets} mount target(s), policy {fs.policy.value}"
        )
    if result.actions:
        lines += ["", "Actions:"]
        lines += [f"  - {a.type} {a.target}: {a.status}{f' ({a.detail})' if a.detail else ''}" for a in result.actions]
    step = next_step(result)
    if step:
        lines += ["", f"Next: {step}"]
    # Every line is neutralised and capped as a whole: a name, principal or user agent can neither break a
    # line (newline, U+2028/U+2029), hide or reorder text (ESC, NUL, bidi controls) nor grow without bound.
    return "\n".join(neutral(line, LINE_CHARS).rstrip() for line in lines)
