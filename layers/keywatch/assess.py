"""Assess: which file systems a key event hits, and how badly. Pure functions, no boto3."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from keywatch.keys import InvalidKeyIdentifier, KeyRef
from keywatch.models import DELETED, UNKNOWN, Actor, FileSystem, KeyEvent, KeyState, Outcome, Severity
from keywatch.parse import GRANT_EVENTS, NATIVE_EVENTS, RECOVERY_EVENTS, WATCHED_EVENT_NAMES

EFS_SERVICE = "elasticfilesystem.amazonaws.com"
# The AWS-owned accounts EFS makes its KMS calls from, one per Region, as the EFS user guide lists
# them ("Logging Amazon EFS API calls with AWS CloudTrail": "Amazon EFS log file entries for
# encrypted-at-rest file systems"). Such a call carries no invokedBy.
EFS_SERVICE_ACCOUNTS = frozenset(
    {
        "771736226457",  # us-east-2
        "055650462987",  # us-east-1
        "208867197265",  # us-west-1
        "736298361104",  # us-west-2
        "855919597013",  # af-south-1
        "832882505983",  # ap-east-1
        "063610658798",  # ap-south-1
        "518632624599",  # ap-northeast-2
        "448676862907",  # ap-southeast-1
        "288718191711",  # ap-southeast-2
        "620757817088",  # ap-northeast-1
        "838331228873",  # ca-central-1, and eu-west-2 as the guide lists it
        "365623262523",  # cn-north-1
        "361049930386",  # cn-northwest-1
        "992038834663",  # eu-central-1
        "805538244694",  # eu-west-1
        "393586363892",  # eu-south-1
        "063566772258",  # eu-west-3
        "030059730498",  # eu-north-1
        "545970776878",  # me-south-1
        "041656882570",  # sa-east-1
        "167972735943",  # us-gov-east-1
        "174619389399",  # us-gov-west-1
    }
)

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


def _from_aws(actor: Actor) -> bool:
    """The record says AWS itself made the call: no IAM principal of the caller's, and an origin only AWS
    writes (``sourceIPAddress`` is "AWS Internal" or a service's name; a person's call has an IP address)."""
    origin = actor.source_ip or ""
    return (
        actor.arn is None
        and actor.type in (None, "AWSAccount", "AWSService")
        and (origin == "AWS Internal" or origin.endswith(".amazonaws.com"))
    )


def aws_owned_caller(actor: Actor, estate: Collection[str]) -> str | None:
    """The caller's account when it is an AWS-owned one outside the estate (EFS's, or one whose call AWS
    itself originated), else None. An account of the estate is never AWS-owned, whatever the record says."""
    account = actor.account
    if account is None or account in estate:
        return None
    return account if account in EFS_SERVICE_ACCOUNTS or _from_aws(actor) else None


def is_efs_itself(event: KeyEvent, estate: Collection[str] = ()) -> bool:
    """True when EFS made the call (it retires its own grants when a file system goes), without a lookup.

    Only what AWS writes counts: ``invokedBy``; ``userIdentity.type`` ``AWSService`` with EFS's name in
    ``invokedBy``, ``sourceIPAddress`` or the principal; or a caller in an AWS-owned account outside the
    estate (``estate``: the key's account, keywatch's home account, the configured accounts). Never
    ``userAgent``: any caller can set it to ``elasticfilesystem.amazonaws.com``.
    """
    actor = event.actor
    if EFS_SERVICE in (actor.invoked_by, actor.source_ip) or (actor.arn or "").endswith(f":{EFS_SERVICE}"):
        return True
    return aws_owned_caller(actor, {*estate, *([event.account] if event.account else [])}) is not None


def prefilter(event: KeyEvent, own_roles: Iterable[str] = (), estate: Collection[str] = ()) -> Verdict | None:
    """Reasons to ignore an event before looking at the estate, or None to go on.

    ``estate``: the accounts keywatch watches (the key's own is always one), so that a call from an
    AWS-owned account outside them can be told from one of the estate's.
    """
    if event.error_code:
        return Verdict(
            Outcome.IGNORED, None, f"The {event.event_name} call failed ({event.error_code}); nothing changed."
        )
    if event.event_name not in WATCHED_EVENT_NAMES:
        return Verdict(Outcome.IGNORED, None, f"{event.event_name} is not an event keywatch watches.")
    if event.event_name in GRANT_EVENTS and is_efs_itself(event, estate):
        account = aws_owned_caller(event.actor, {*estate, *([event.account] if event.account else [])})
        where = f" from the AWS-owned account {account}, outside the estate" if account else ""
        return Verdict(
            Outcome.IGNORED,
            None,
            f"EFS itself{where} called {event.event_name} on its own grant; this is routine.",
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


# --- grants: the one check the event path and the sweep share -----------------------------------------


def grant_holders(grants: Mapping[str, str], gone: str | None = None) -> frozenset[str]:
    """File system IDs (lower case) holding an EFS grant, from ``{grant ID: file system ID}``.

    ``gone``: the grant an event retired or revoked. KMS is eventually consistent ("usually less than
    five minutes"), so ListGrants may still list it just after: it is counted as gone all the same.
    """
    return frozenset(fs.lower() for grant, fs in grants.items() if grant != gone)


def grant_lost(fs: FileSystem, holders: Collection[str]) -> bool:
    """True when ``fs`` no longer holds its EFS grant (``holders`` from :func:`grant_holders`)."""
    return fs.file_system_id.lower() not in holders


def _systems(n: int) -> str:
    return f"{n} EFS file system{'s' if n != 1 else ''}"


def judge_grants(
    event: KeyEvent, using: list[FileSystem], grants: Mapping[str, str] | None, unreadable: str = ""
) -> tuple[list[FileSystem], Verdict]:
    """After RetireGrant or RevokeGrant by someone other than EFS: exactly the file systems whose EFS grant
    is gone are affected (DESIGN.md §3). ``grants`` is None when the key's grants could not be listed."""
    call = f"{event.actor.display} called {event.event_name}"
    if event.grant_id:
        call += f" (grant {event.grant_id})"
    if grants is None:
        return using, Verdict(
            Outcome.ALERT,
            Severity.HIGH,
            f"{call}, and keywatch could not list the key's grants ({unreadable or 'ListGrants failed'}), so it "
            f"cannot tell whether the EFS grant of any of the {_systems(len(using))} that use the key is gone: "
            "check them with aws kms list-grants.",
        )
    holders = grant_holders(grants, event.grant_id)
    lost = [fs for fs in using if grant_lost(fs, holders)]
    if not lost:
        every = (
            "the EFS file system that uses the key still holds"
            if len(using) == 1
            else (f"every one of the {_systems(len(using))} that use the key still holds")
        )
        return using, Verdict(
            Outcome.IGNORED,
            None,
            f"{call}, but {every} its EFS grant: the grant that went was not an EFS grant of theirs.",
        )
    return lost, Verdict(
        Outcome.ALERT,
        Severity.HIGH,
        f"{call}: the EFS grant of {_systems(len(lost))} is gone; "
        f"{'it' if len(lost) == 1 else 'they'} will lose access to the key.",
    )


# --- key policies ---------------------------------------------------------------------------------------


def judge_key_policy(event: KeyEvent, using: list[FileSystem]) -> tuple[list[FileSystem], Verdict]:
    """After PutKeyPolicy on a usable key: the file systems whose EFS the new policy shuts out (DESIGN.md §3).

    A policy that can't be read is an alert, with the reason: keywatch can't tell that EFS still gets in.
    """
    who = event.actor.display
    if event.policy_document is None:
        return using, Verdict(
            Outcome.ALERT,
            Severity.HIGH,
            f"{who} changed the key policy, but the record carries no policy to check; keywatch cannot tell "
            f"whether EFS can still use the key for the {_systems(len(using))} that use it: check the policy.",
        )
    from keywatch.policy import PolicyUnreadable, Target, analyse, statements  # only PutKeyPolicy needs it

    try:
        policy = statements(event.policy_document)
        analyses = [(fs, analyse(policy, Target(fs.file_system_id, fs.account, fs.region))) for fs in using]
    except PolicyUnreadable as exc:
        return using, Verdict(
            Outcome.ALERT,
            Severity.HIGH,
            f"{who} set a key policy keywatch cannot read ({exc}); it cannot tell whether EFS can still use "
            f"the key for the {_systems(len(using))} that use it: check the policy.",
        )
    shut = [(fs, a.lockout) for fs, a in analyses if a.lockout is not None]
    if shut:
        return [fs for fs, _ in shut], Verdict(
            Outcome.ALERT,
            Severity.HIGH,
            f"{who} set a key policy that shuts EFS out: {shut[0][1].describe()}, with no condition that exempts "
            f"EFS; {_systems(len(shut))} will lose access to the key.",
        )
    undecided = sorted({name for _, a in analyses for name in a.undecided})
    caveat = (
        f" (statement{'s' if len(undecided) > 1 else ''} {', '.join(undecided[:3])} deny with conditions "
        "keywatch can't decide for EFS's requests; they are taken to exempt it)"
        if undecided
        else ""
    )
    return using, Verdict(
        Outcome.IGNORED,
        None,
        f"The new key policy still lets EFS use the key: no statement denies it an action it needs, for "
        f"everyone or a file system's account, without a condition that exempts EFS{caveat}.",
    )
