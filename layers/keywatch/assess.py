"""Assess: which file systems a key event hits, and how badly. Pure functions, no boto3."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from keywatch.keys import InvalidKeyIdentifier, KeyRef
from keywatch.models import DELETED, UNKNOWN, FileSystem, KeyEvent, KeyState, Outcome, Severity
from keywatch.parse import GRANT_EVENTS, NATIVE_EVENTS, RECOVERY_EVENTS, WATCHED_EVENT_NAMES

EFS_SERVICE = "elasticfilesystem.amazonaws.com"

# Key states that make every file system on the key stop working, by severity.
CRITICAL_STATES = frozenset(
    {KeyState.DELETED, KeyState.PENDING_DELETION, KeyState.PENDING_REPLICA_DELETION, KeyState.PENDING_IMPORT}
)
HIGH_STATES = frozenset({KeyState.DISABLED, KeyState.UNAVAILABLE})
UNUSABLE_STATES = CRITICAL_STATES | HIGH_STATES

AliasResolver = Callable[[str, str, str], str | None]  # (account, region, alias name) -> key id


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    severity: Severity | None
    reason: str


def normalise_key_arn(fs: FileSystem, resolve_alias: AliasResolver | None = None) -> str | None:
    """The full key ARN of a file system's ``KmsKeyId``, whatever form it is stored in."""
    if not fs.encrypted or not fs.kms_key_id:
        return None
    try:
        ref = KeyRef.parse(fs.kms_key_id).located(fs.account, fs.region)
    except InvalidKeyIdentifier:
        return None
    if ref.is_alias:
        if resolve_alias is None or ref.account is None or ref.region is None:
            return None
        target = resolve_alias(ref.account, ref.region, ref.name)
        if not target:
            return None
        ref = KeyRef("key_id", target.lower()).located(ref.account, ref.region)
    return ref.arn.lower()


def file_systems_using(
    key_arn: str, file_systems: Iterable[FileSystem], resolve_alias: AliasResolver | None = None
) -> list[FileSystem]:
    wanted = key_arn.lower()
    return [fs for fs in file_systems if normalise_key_arn(fs, resolve_alias) == wanted]


def is_efs_itself(event: KeyEvent) -> bool:
    """True when the EFS service made the call (it retires its own grants when a file system goes).

    Only what AWS writes counts: ``invokedBy``, and ``sourceIPAddress`` (the service name when a
    service calls). Never ``userAgent``: any caller can set it to ``elasticfilesystem.amazonaws.com``.
    """
    actor = event.actor
    return EFS_SERVICE in (actor.invoked_by, actor.source_ip) or (actor.arn or "").endswith(f":{EFS_SERVICE}")


def prefilter(event: KeyEvent, own_roles: Iterable[str] = ()) -> Verdict | None:
    """Reasons to ignore an event before looking at the estate, or None to go on."""
    if event.error_code:
        return Verdict(
            Outcome.IGNORED, None, f"The {event.event_name} call failed ({event.error_code}); nothing changed."
        )
    if event.event_name not in WATCHED_EVENT_NAMES:
        return Verdict(Outcome.IGNORED, None, f"{event.event_name} is not an event keywatch watches.")
    if event.event_name in GRANT_EVENTS and is_efs_itself(event):
        return Verdict(
            Outcome.IGNORED, None, f"EFS itself called {event.event_name} on its own grant; this is routine."
        )
    if not event.key_arn:
        return Verdict(Outcome.IGNORED, None, f"The {event.event_name} event names no KMS key keywatch can locate.")
    if is_own_action(event, own_roles):
        return Verdict(Outcome.IGNORED, None, f"{event.event_name} was made by keywatch's own remediation role.")
    return None


def _role_name(arn: str) -> str | None:
    """The role name in an IAM role ARN or an STS assumed-role ARN."""
    if ":role/" in arn:
        return arn.rsplit("/", 1)[-1]
    if ":assumed-role/" in arn:
        return arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
    return None


# The only calls keywatch itself makes. A role that merely bears keywatch's role name (bare names match
# in any account) must never hide a call that breaks a key.
OWN_ACTIONS = frozenset({"CancelKeyDeletion", "EnableKey"})


def is_own_action(event: KeyEvent, own_roles: Iterable[str]) -> bool:
    """True when keywatch's own role made the call. ``own_roles`` holds role ARNs or bare role names.

    Only for the calls keywatch makes (:data:`OWN_ACTIONS`): whoever disables a key, schedules its
    deletion or takes a grant away is reported, whatever the role is called.
    """
    if event.event_name not in OWN_ACTIONS:
        return False
    wanted = {r.lower() for r in own_roles if r}
    if not wanted:
        return False
    seen = {a.lower() for a in (event.actor.role_arn, event.actor.arn) if a}
    names = {n.lower() for a in (event.actor.role_arn, event.actor.arn) if a and (n := _role_name(a))}
    return bool(wanted & seen) or bool(names & {w for w in wanted if ":" not in w})


def decide(event: KeyEvent, key_state: KeyState, affected: list[FileSystem]) -> Verdict:
    """Outcome and severity, as DESIGN.md §3 prescribes, for an event on a key file systems use."""
    n = len(affected)
    if n == 0:
        return Verdict(Outcome.IGNORED, None, "No EFS file system uses this key.")
    fs_text = f"{n} EFS file system{'s' if n != 1 else ''}"
    state = key_state
    if state == UNKNOWN and event.reported_key_state:
        state = event.reported_key_state  # keywatch can't read the key; trust what the event says
    if state in CRITICAL_STATES:
        what = {
            DELETED: "has been deleted; the data on",
            KeyState.PENDING_DELETION: "is scheduled for deletion, which is irreversible;",
            KeyState.PENDING_REPLICA_DELETION: "is a multi-Region primary pending deletion;",
            KeyState.PENDING_IMPORT: "has no key material (deleted or expired);",
        }[state]
        return Verdict(Outcome.ALERT, Severity.CRITICAL, f"The key {what} {fs_text} will become unreadable.")
    if state in HIGH_STATES:
        extra = " Cancelling a deletion leaves the key Disabled." if event.event_name == "CancelKeyDeletion" else ""
        return Verdict(
            Outcome.ALERT,
            Severity.HIGH,
            f"The key is {state}; {fs_text} will lose access after a period of time.{extra}",
        )
    if event.event_name in GRANT_EVENTS:
        who = event.actor.display
        return Verdict(
            Outcome.ALERT,
            Severity.HIGH,
            f"{who} called {event.event_name} on a grant of a key used by {fs_text}; "
            "if it was the EFS grant, they will lose access.",
        )
    if event.event_name in RECOVERY_EVENTS and state == KeyState.ENABLED:
        return Verdict(Outcome.RESOLVED, Severity.INFO, f"The key is Enabled again; {fs_text} can use it.")
    if state == UNKNOWN:
        return Verdict(
            Outcome.ALERT,
            Severity.HIGH,
            f"keywatch cannot read the key's state after {event.event_name}; check {fs_text}.",
        )
    if event.event_name in NATIVE_EVENTS:
        return Verdict(Outcome.IGNORED, None, f"The key is {state}; {event.event_name} left it usable.")
    return Verdict(Outcome.IGNORED, None, f"The key is {state} after {event.event_name}; {fs_text} are not at risk.")
