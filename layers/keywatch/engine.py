"""The watchdog: parse -> assess -> plan -> act -> report. The Lambda, the sweep and the CLI all call this."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from keywatch.adapters.aws import AWS_ERRORS, AccountAccessError, AwsClients, describe_error
from keywatch.adapters.deliveries import Journal
from keywatch.adapters.efs import EfsGateway, MountTargetGateway
from keywatch.adapters.incidents import IncidentStore
from keywatch.adapters.index import KeyIndex
from keywatch.adapters.kms import KmsError, KmsGateway
from keywatch.adapters.occurrences import OccurrenceLog
from keywatch.assess import (
    HIGH_STATES,
    UNUSABLE_STATES,
    Verdict,
    decide,
    judge_grants,
    judge_key_policy,
    normalise_key_arn,
    prefilter,
)
from keywatch.config import Settings
from keywatch.errors import HandedOffIncomplete, HandlingIncomplete
from keywatch.keys import KeyRef, split_key_arn
from keywatch.locate import Located, Locator
from keywatch.models import (
    DELETED,
    POLICY_TAG,
    UNKNOWN,
    ActionResult,
    Actor,
    Affected,
    EventResult,
    FileSystem,
    KeyEvent,
    KeyInfo,
    KeyState,
    Mode,
    Outcome,
    Severity,
)
from keywatch.notify.channels import Channel
from keywatch.notify.text import FOUND, fixed_by
from keywatch.observability import logger, metrics
from keywatch.parse import (
    GRANT_EVENTS,
    NATIVE_DELETION,
    NATIVE_EXPIRATION,
    NEW_KEY_MATERIAL,
    KmsEnvelope,
    is_efs_envelope,
    to_key_event,
)
from keywatch.remediate import Planned, Remediator, plan

if TYPE_CHECKING:  # loaded when an EFS event or a hand-off needs them: a KMS event in notify mode never does
    from keywatch.efs_events import EfsEvent, IndexKeeper
    from keywatch.handoff import HandedOff, Sender

Deduplicate = Callable[[KeyEvent, Callable[[], EventResult]], EventResult]
STATE_ERRORS = AWS_ERRORS
RECORDED_AS = ("type", "target", "status", "detail")  # an action recorded by an earlier attempt, exactly
# KMS sends these again under new ids: (occurrence kind, window; None: a key is deleted once, for good).
REPEATS = {NATIVE_DELETION: ("deleted", None), NATIVE_EXPIRATION: ("expired", timedelta(minutes=10))}


class Watchdog:
    def __init__(
        self,
        settings: Settings,
        clients: AwsClients,
        channels: Sequence[Channel] = (),
        incidents: IncidentStore | None = None,
        deduplicate: Deduplicate | None = None,
        journal: Journal | None = None,
        index: KeyIndex | None = None,
        occurrences: OccurrenceLog | None = None,
        handoff: Sender | None = None,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.kms = KmsGateway(clients)
        self.efs = EfsGateway(clients)
        self.mounts = MountTargetGateway(clients)
        self.incidents = incidents
        self.remediator = Remediator(self.kms, self.mounts, incidents)
        self.channels = list(channels)
        self._deduplicate = deduplicate
        self.journal = journal
        self.index = index
        self.locator = Locator(self.efs, self.kms, index, settings.accounts)
        self._keeper: IndexKeeper | None = None
        self.occurrences = occurrences
        self.handoff = handoff  # the remediation queue (enforce mode only): work this invocation can't finish
        self._context: Any = None

    @property
    def keeper(self) -> IndexKeeper | None:
        """What keeps the index current on EFS events (none without an index), made on the first one."""
        if self._keeper is None and self.index is not None:
            from keywatch.efs_events import IndexKeeper

            self._keeper = IndexKeeper(
                self.efs, self.mounts, self.index, self.describe_key, self.alias_target, self.settings.sweep_schedule
            )
        return self._keeper

    @property
    def mode(self) -> Mode:
        return self.settings.mode

    @property
    def actor(self) -> str:
        return self.settings.write_role or "keywatch"

    # --- assess -----------------------------------------------------------------------------

    def alias_target(self, account: str, region: str, alias: str) -> str | None:
        return self.kms.alias_map(account, region).get(alias)

    def locate(self, key_arn: str) -> Located:
        """Every file system that uses the key, in every account and Region: the index's candidates, each
        confirmed live, plus the key's own account and Region listed live (:mod:`keywatch.locate`)."""
        return self.locator.locate(key_arn)

    def find_affected(self, key_arn: str) -> list[FileSystem]:
        return self.locate(key_arn).file_systems

    def describe_key(self, key_arn: str, with_aliases: bool = False) -> KeyInfo:
        try:
            key = self.kms.describe_key(key_arn)
        except AccountAccessError as exc:
            logger.warning("key unreadable", key_arn=key_arn, error=str(exc))
            _, _, key_id = split_key_arn(key_arn)
            return KeyInfo(arn=key_arn, key_id=key_id, state=UNKNOWN, description=str(exc))
        if with_aliases and key.state != DELETED:
            key = key.model_copy(update={"aliases": self.kms.aliases_of(key_arn)})
        return key

    # --- handle -----------------------------------------------------------------------------

    def register_lambda_context(self, context: Any) -> None:
        """Let duplicate detection expire an in-progress record if this invocation times out, and the actions
        hand what won't fit in its remaining time to the remediation queue."""
        self.keep_time_of(context)
        register = getattr(self._deduplicate, "register_lambda_context", None)
        if register is not None:
            register(context)

    def keep_time_of(self, context: Any) -> None:
        """The Lambda context whose remaining time bounds the actions (:class:`keywatch.handoff.Budget`)."""
        self._context = context

    def handle(self, envelope: KmsEnvelope) -> EventResult:
        if is_efs_envelope(envelope):
            from keywatch.efs_events import to_efs_event

            return self.handle_efs(to_efs_event(envelope))
        return self.handle_event(to_key_event(envelope))

    def handle_event(self, event: KeyEvent | EfsEvent) -> EventResult:
        """Handle one event once: a repeat delivery of the same event ID reports ``duplicate``."""
        if not isinstance(event, KeyEvent):
            return self.handle_efs(event)
        if self._deduplicate is None:
            return self._handle(event)
        return self._deduplicate(event, lambda: self._handle(event))

    def handle_efs(self, event: EfsEvent) -> EventResult:
        """An EFS call: refresh that file system's entry in the index from a live read (:mod:`keywatch.efs_events`).
        Idempotent by nature (it writes what EFS says now), so it needs no duplicate detection."""
        key_arn = None
        if self.keeper is None:
            reason = "No key-to-file-system index is configured (KEYWATCH_INDEX_TABLE); nothing to keep current."
        else:
            reason, key_arn = self.keeper.refresh(event)
        logger.info("efs event", event_name=event.event_name, file_system=event.file_system_id, reason=reason)
        return EventResult(
            event_id=event.event_id,
            event_name=event.event_name,
            key_arn=key_arn,
            outcome=Outcome.IGNORED,
            severity=None,
            reason=reason,
        )

    def _handle(self, event: KeyEvent) -> EventResult:
        early = prefilter(event, [*self.settings.own_role_arns, self.settings.write_role or ""], self._estate(event))
        if early is not None:
            return self._result(event, early)
        if (repeat := self._repeat(event)) is not None:
            return repeat

        key_arn = event.key_arn
        assert key_arn is not None
        if KeyRef.parse(key_arn).is_alias:
            resolved = self.kms.resolve_alias(key_arn)
            if resolved is None:
                return self._result(event, Verdict(Outcome.IGNORED, None, f"The alias {key_arn} points at no key."))
            event = event.model_copy(update={"key_arn": resolved})
            key_arn = resolved

        if (routine := self._routine_import(event)) is not None:
            return self._result(event, routine)

        located = self.locate(key_arn)
        key = self.describe_key(key_arn, with_aliases=bool(located.file_systems))
        affected, verdict = self.judge_change(event, key, located.file_systems)
        if verdict is not None and located.note:
            verdict = replace(verdict, reason=f"{verdict.reason} {located.note}")
        return self.respond(event, key, affected, verdict=verdict, note=located.note)

    # --- what a grant, key-policy or import event really changed (DESIGN.md §3) -----------------

    def judge_change(
        self, event: KeyEvent, key: KeyInfo, affected: list[FileSystem]
    ) -> tuple[list[FileSystem], Verdict | None]:
        """After RetireGrant/RevokeGrant or PutKeyPolicy on a usable key: the file systems the change hits,
        and the verdict (None: :func:`decide` judges the key's state as for any other event)."""
        if not affected or key.state in UNUSABLE_STATES:
            return affected, None
        if event.event_name in GRANT_EVENTS:
            try:
                grants: dict[str, str] | None = self.kms.efs_grants(key.arn)
                unreadable = ""
            except KmsError as exc:
                logger.warning("grants unreadable", key_arn=key.arn, error=str(exc))
                grants, unreadable = None, str(exc)
            return judge_grants(event, affected, grants, unreadable)
        if event.event_name == "PutKeyPolicy":
            return judge_key_policy(event, affected)
        return affected, None

    def _estate(self, event: KeyEvent) -> frozenset[str]:
        """The accounts keywatch watches (the key's, the configured ones, its own): only needed to tell a
        grant call from an AWS-owned account outside them, so the home account is looked up only then."""
        known = {*self.settings.accounts, *([event.account] if event.account else [])}
        caller = event.actor.account
        if event.event_name in GRANT_EVENTS and caller and caller not in known:
            try:
                known.add(self.clients.home_account)
            except AWS_ERRORS as exc:
                logger.warning("home account unknown", error=describe_error(exc))
        return frozenset(known)

    def _repeat(self, event: KeyEvent) -> EventResult | None:
        """A native deletion or expiration that KMS sent again under a new id: ``duplicate`` (DESIGN.md §3)."""
        rule = REPEATS.get(event.event_name)
        if rule is None or event.kind != "native" or not event.key_arn or self.occurrences is None:
            return None
        kind, window = rule
        at = event.event_time or datetime.now(UTC)
        try:
            claim = self.occurrences.claim(event.key_arn, kind, event.event_id, at, window)
        except STATE_ERRORS as exc:  # no state table stands between an event and its alert
            logger.warning("occurrence not recorded", key_arn=event.key_arn, error=describe_error(exc))
            return None
        if claim.granted:
            return None
        return repeat_of(event, claim.first_event_id, claim.first_at)

    def _routine_import(self, event: KeyEvent) -> Verdict | None:
        """A rotation of imported key material into a key with no open incident: routine (DESIGN.md §3)."""
        if event.event_name != "ImportKeyMaterial" or event.import_type != NEW_KEY_MATERIAL or not event.key_arn:
            return None
        if self.incidents is not None:
            try:
                current = self.incidents.current(event.key_arn)
            except STATE_ERRORS as exc:  # can't tell: handled as the recovery it may be
                logger.warning("incident unreadable", key_arn=event.key_arn, error=describe_error(exc))
                return None
            if current and current.get("status") == "open":
                return None
        return Verdict(
            Outcome.IGNORED,
            None,
            "ImportKeyMaterial brought new key material into the key (importType NEW_KEY_MATERIAL: an on-demand "
            "rotation of imported material), and keywatch holds no open incident for it: this is routine.",
        )

    def respond(
        self,
        event: KeyEvent,
        key: KeyInfo,
        affected: list[FileSystem],
        verdict: Verdict | None = None,
        mode: Mode | None = None,
        note: str = "",
    ) -> EventResult:
        """Decide, act on the owners' policies in the configured mode, notify, record. Shared with the sweep.

        A retry of an event finishes what the first attempt decided: its verdict and the actions it
        completed are taken from the journal, since the first attempt's own actions (``protect``) may
        have changed what a fresh assessment would say.

        ``note`` is added to a fresh verdict's reason: how complete the search for file systems was, when a
        person should know.
        """
        prior = self._recall(event.event_id) if verdict is None else None
        if prior is not None:
            severity = Severity(prior["severity"]) if prior.get("severity") else None
            verdict = Verdict(Outcome(prior["outcome"]), severity, str(prior["reason"]))
            key = key.model_copy(update={"state": KeyState.read(prior["key_state"])})
        if verdict is None:
            verdict = decide(event, key.state, affected)
            if note:
                verdict = replace(verdict, reason=f"{verdict.reason} {note}")
        logger.info(
            "assessed", key_arn=key.arn, key_state=key.state, outcome=verdict.outcome.value, affected=len(affected)
        )
        hit = affected if verdict.outcome in (Outcome.ALERT, Outcome.RESOLVED) else []
        if misspelt := [fs for fs in hit if fs.policy_tag_invalid is not None]:
            # An owner who asked for something keywatch can't read must hear it, not be silently notify-only.
            logger.warning("invalid policy tag", file_systems=[fs.file_system_id for fs in misspelt])
            verdict = Verdict(
                verdict.outcome,
                verdict.severity,
                verdict.reason
                + "".join(
                    f" {fs.name or fs.file_system_id} ({fs.file_system_id}) has "
                    f"{POLICY_TAG}={fs.policy_tag_invalid!r}, which is not notify, protect or unmount: "
                    "it is treated as notify."
                    for fs in misspelt
                ),
            )
        result = self._result(event, verdict, key=key, affected=hit)
        if verdict.outcome == Outcome.IGNORED:
            return result

        # 1. act: each action idempotent and guarded by a live re-check of the key
        unfinished: list[str] = []
        restorable: list[FileSystem] = []
        if verdict.outcome == Outcome.RESOLVED and self.incidents is not None:
            try:
                recorded = self.incidents.snapshots(key.arn)
            except STATE_ERRORS as exc:
                unfinished.append(f"reading the mount-target records ({describe_error(exc)})")
            else:
                restorable = [fs for fs in hit if fs.file_system_id in recorded]
        planned = plan(verdict.outcome, key.state, key.arn, hit, restorable)
        # A retry leaves to the remediation worker what an earlier attempt handed to it.
        queued = [
            ActionResult.model_validate(a) for a in (prior["actions"] if prior else []) if a.get("status") == "queued"
        ]
        handed = {(a.type, a.target) for a in queued}
        planned = [p for p in planned if (p.type, p.target) not in handed]
        result.actions = queued + merge_actions(
            prior["actions"] if prior else [], self._act(planned, mode or self.mode, event, key.arn)
        )
        unfinished += [f"{a.type} on {a.target}" for a in result.actions if a.status == "failed"]
        self._after_actions(result, hit)

        # 2. notify every channel (no state table stands in the way: see RecordedChannel)
        result.notifications = [channel.send(result) for channel in self.channels]
        if prior is not None and _statuses(prior["actions"]) != _statuses(result.actions):
            # This retry changed what the message already sent says: edit it where the channel can.
            for i, channel in enumerate(self.channels):
                revise = getattr(channel, "revise", None)
                if revise is not None and (revised := revise(result)) is not None:
                    result.notifications[i] = revised
        unfinished += [f"notification by {n.channel}" for n in result.notifications if n.status == "failed"]

        # 3. record the incident
        # (a retry appends only what changed since an attempt that recorded: one event on a thousand file
        # systems must not write its thousand actions into the incident's one item again on every retry)
        recorded_before = prior["actions"] if prior is not None and prior.get("recorded") else []
        not_recorded = self._record(verdict, key, result, recorded_before)
        unfinished += not_recorded

        # 4. anything left undone fails the handling, so that it is retried (and the steps done are not redone)
        if unfinished:
            self._remember(result, recorded=not not_recorded)  # for the retry: the verdict, the actions done
            metrics.add_metric(name="HandlingIncomplete", unit="Count", value=1)
            logger.error(
                "handling incomplete; it fails so that it is retried", event_id=event.event_id, steps=unfinished
            )
            raise HandlingIncomplete(result, unfinished)
        return result

    def _act(self, planned: list[Planned], mode: Mode, event: KeyEvent, key_arn: str) -> list[ActionResult]:
        """Run the plan; what won't fit in this invocation's remaining time goes to the remediation queue."""
        if not planned or mode == Mode.NOTIFY:
            return []
        from keywatch.handoff import Handoff, lambda_budget

        handoff = Handoff(self.handoff, event.event_id, key_arn) if self.handoff is not None else None
        return self.remediator.run(planned, mode, key_arn, budget=lambda_budget(self._context), handoff=handoff)

    def finish_handed_off(self, work: HandedOff) -> list[ActionResult]:
        """The remediation worker: run the file-system actions an invocation handed over, with the same re-checks,
        and append them to the key's incident. Raises (so that SQS delivers the message again) when the incident
        is not recorded yet, or when any action failed."""
        if self.incidents is None:
            raise HandedOffIncomplete(work.event_id, ["no incident store is configured to record the actions"])
        if self.incidents.current(work.key_arn) is None:  # the handing invocation records it after its actions
            raise HandedOffIncomplete(work.event_id, ["the key's incident is not recorded yet"])
        from keywatch.handoff import lambda_budget

        planned = [Planned(a.type, a.file_system.file_system_id, a.file_system) for a in work.actions]
        actions = self.remediator.run(planned, self.mode, work.key_arn, budget=lambda_budget(self._context))
        self.incidents.record_actions(work.key_arn, actions, self.actor)
        logger.info("handed-off actions run", event_id=work.event_id, key_arn=work.key_arn, actions=len(actions))
        if failed := [f"{a.type} on {a.target}" for a in actions if a.status == "failed"]:
            raise HandedOffIncomplete(work.event_id, failed)
        return actions

    def _recall(self, event_id: str) -> dict[str, Any] | None:
        if self.journal is None:
            return None
        note = self.journal.recall(event_id)
        if note is None or note.get("outcome") not in (Outcome.ALERT, Outcome.RESOLVED):
            return None
        return note

    def _remember(self, result: EventResult, recorded: bool = False) -> None:
        if self.journal is not None:
            self.journal.remember(
                result.event_id,
                {
                    "outcome": result.outcome.value,
                    "severity": result.severity.value if result.severity else None,
                    "reason": result.reason,
                    "key_state": result.key_state.value if result.key_state else None,
                    "actions": [a.model_dump(mode="json") for a in result.actions],
                    "recorded": recorded,  # these actions are in the incident already
                },
            )

    def _record(
        self, verdict: Verdict, key: KeyInfo, result: EventResult, recorded_before: Sequence[dict[str, Any]] = ()
    ) -> list[str]:
        """Open, update or resolve the key's incident; append the actions not in ``recorded_before`` (what an
        earlier attempt recorded, exactly). Returns what could not be recorded."""
        if self.incidents is None:
            return []
        try:
            if verdict.outcome == Outcome.ALERT:
                self.incidents.open(result, self.actor)
            recorded = {_facts(a, *RECORDED_AS) for a in recorded_before}
            fresh = [a for a in result.actions if _facts(a, *RECORDED_AS) not in recorded]
            self.incidents.record_actions(key.arn, fresh, self.actor)
            recovered = verdict.outcome == Outcome.RESOLVED or result.key_state_after == KeyState.ENABLED
            if recovered and not self.incidents.snapshots(key.arn):
                self.incidents.resolve(key.arn, result, self.actor)
        except STATE_ERRORS as exc:
            logger.warning("incident not recorded", key_arn=key.arn, error=describe_error(exc))
            metrics.add_metric(name="IncidentNotRecorded", unit="Count", value=1)
            return [f"recording the incident ({describe_error(exc)})"]
        return []

    def restore(
        self, file_system_id: str, accounts: Sequence[str], regions: Sequence[str], mode: Mode = Mode.ENFORCE
    ) -> EventResult:
        """``keywatch restore``: put back a file system's recorded mount targets, by hand."""
        fs = next(
            (
                found
                for account in accounts
                for region in regions
                if (found := self.efs.get(file_system_id, account, region)) is not None
            ),
            None,
        )
        if fs is None:
            raise LookupError(
                f"file system {file_system_id} was not found in {', '.join(accounts)} ({', '.join(regions)})"
            )
        key_arn = normalise_key_arn(fs, self.alias_target)
        if key_arn is None:
            raise LookupError(f"file system {file_system_id} is not encrypted with a customer managed key")
        key = self.describe_key(key_arn, with_aliases=True)
        event = KeyEvent(
            event_id=f"restore-{file_system_id}-{datetime.now(UTC):%Y%m%dT%H%M%S}",
            event_name="ManualRestore",
            kind="manual",
            key_arn=key_arn,
            account=fs.account,
            region=fs.region,
            event_time=datetime.now(UTC),
            actor=Actor(type="Operator"),
        )
        refusal = None
        if key.state != KeyState.ENABLED:
            refusal = (
                Verdict(
                    Outcome.ALERT,
                    Severity.HIGH if key.state in HIGH_STATES else Severity.CRITICAL,
                    f"The key is {key.state}; mount targets stay removed until it is Enabled.",
                ),
                f"the key is {key.state}",
            )
        elif self.incidents is None or self.incidents.snapshot(key_arn, file_system_id) is None:
            refusal = (
                Verdict(Outcome.IGNORED, None, f"No mount targets of {file_system_id} are waiting to be restored."),
                "no recorded mount targets to restore",
            )
        if refusal is not None:
            result = self._result(event, refusal[0], key=key, affected=[fs])
            result.actions = [
                ActionResult(type="restore_mount_targets", target=file_system_id, status="skipped", detail=refusal[1])
            ]
            return result
        verdict = Verdict(
            Outcome.RESOLVED,
            Severity.INFO,
            f"The key is Enabled; restoring the recorded mount targets of {file_system_id} by hand.",
        )
        return self.respond(event, key, [fs], verdict=verdict, mode=mode)

    def _after_actions(self, result: EventResult, affected: Sequence[FileSystem]) -> None:
        """Read back what the actions changed. Only for the report: a failed read is logged, never raised."""
        try:
            self._read_back(result, affected)
        except (*AWS_ERRORS, KmsError, AccountAccessError) as exc:
            logger.warning("state after the actions unreadable", key_arn=result.key_arn, error=describe_error(exc))

    def _read_back(self, result: EventResult, affected: Sequence[FileSystem]) -> None:
        """The key's state, and the touched file systems' mount targets, after the actions."""
        done = [a for a in result.actions if a.status == "done"]
        if not done or result.key_arn is None:
            return
        if any(a.type in ("cancel_key_deletion", "enable_key") for a in done):
            result.key_state_after = self.describe_key(result.key_arn).state
            if result.key_state_after == KeyState.ENABLED and not result.reason.startswith(FOUND):
                # the assessment spoke of the key as the event found it: say so, and what is true now
                result.reason = f"{FOUND}{result.reason} Then {fixed_by(result)}: it is Enabled now."
        touched = {a.target for a in done if a.type in ("delete_mount_targets", "restore_mount_targets")}
        by_id = {fs.file_system_id: fs for fs in affected}
        counted = {a.target: a._mount_targets_after for a in done if a._mount_targets_after is not None}
        for item in result.affected:
            if item.file_system_id in counted:  # the action counted them from what its calls answered
                item.mount_targets_after = counted[item.file_system_id]
            elif item.file_system_id in touched:
                item.mount_targets_after = len(self.mounts.subnets(by_id[item.file_system_id]))

    def _result(
        self, event: KeyEvent, verdict: Verdict, key: KeyInfo | None = None, affected: Sequence[FileSystem] = ()
    ) -> EventResult:
        return EventResult(
            event_id=event.event_id,
            event_name=event.event_name,
            key_arn=key.arn if key else event.key_arn,
            key_state=key.state if key else None,
            outcome=verdict.outcome,
            severity=verdict.severity,
            reason=verdict.reason,
            affected=[
                Affected(
                    file_system_id=fs.file_system_id,
                    name=fs.name,
                    account=fs.account,
                    region=fs.region,
                    mount_targets=fs.mount_targets,
                    mount_targets_after=fs.mount_targets,
                    policy=fs.policy,
                )
                for fs in affected
            ],
            key_state_after=key.state if key else None,
            event=event,
            key=key,
        )


def _facts(action: dict[str, Any] | ActionResult, *names: str) -> tuple[str, ...]:
    """An action, as this attempt reports it or as the journal kept it, reduced to the fields ``names``."""
    return tuple(str(action.get(n) if isinstance(action, dict) else getattr(action, n)) for n in names)


def _statuses(actions: Sequence[dict[str, Any] | ActionResult]) -> list[tuple[str, ...]]:
    return [_facts(a, "type", "target", "status") for a in actions]


def merge_actions(earlier: Sequence[dict[str, Any]], now: list[ActionResult]) -> list[ActionResult]:
    """This attempt's actions, where an action an earlier attempt completed keeps its ``done``
    (this attempt's re-check then finds nothing left to do, and says ``skipped``)."""
    done = {(a["type"], a["target"]): ActionResult.model_validate(a) for a in earlier if a.get("status") == "done"}
    return [done.get((a.type, a.target), a) if a.status == "skipped" else a for a in now]


class MemoryDeduplicator:
    """In-process duplicate detection by event ID, for a CLI run with no idempotency table."""

    def __init__(self) -> None:
        self._seen: dict[str, EventResult] = {}
        self._lock = threading.Lock()

    def __call__(self, event: KeyEvent, handle: Callable[[], EventResult]) -> EventResult:
        with self._lock:
            first = self._seen.get(event.event_id)
        if first is not None:
            return duplicate_of(first.report(), event)
        result = handle()
        with self._lock:
            self._seen[event.event_id] = result
        return result


def duplicate_of(first: dict[str, Any], event: KeyEvent) -> EventResult:
    return EventResult(
        event_id=event.event_id,
        event_name=event.event_name,
        key_arn=first.get("key_arn") or event.key_arn,
        key_state=first.get("key_state"),
        outcome=Outcome.DUPLICATE,
        severity=None,
        reason=f"Event {event.event_id} was already handled (outcome {first.get('outcome')}); nothing was done again.",
        key_state_after=first.get("key_state_after"),
        event=event,
    )


def repeat_of(event: KeyEvent, first_event_id: str | None, first_at: datetime | None) -> EventResult:
    """``duplicate`` for a native event KMS sent again under a new id: nothing is done or sent again."""
    first = f"event {first_event_id}" if first_event_id else "an earlier event"
    if event.event_name == NATIVE_DELETION:
        what = f"KMS already reported the deletion of this key ({first})"
    else:
        ago = ""
        if first_at is not None and event.event_time is not None:
            ago = f", {abs(event.event_time - first_at).total_seconds() / 60:.0f} minute(s) apart"
        what = f"KMS already reported the expiry of this key's imported material ({first}{ago})"
    return EventResult(
        event_id=event.event_id,
        event_name=event.event_name,
        key_arn=event.key_arn,
        key_state=event.reported_key_state,
        outcome=Outcome.DUPLICATE,
        severity=None,
        reason=f"{what}; it sends this event more than once, each time with a new id: nothing was done again.",
        event=event,
    )
