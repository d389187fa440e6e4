"""Plan and act: mode + per-file-system policy -> actions, each safe to repeat and each recorded.

- ``plan`` is pure: it decides what should happen, from the outcome, the key's state and the tags.
- ``Remediator`` runs a plan. Before each action it reads the key's state again and skips the action
  if the key has already recovered. One action failing never stops the others.
- File-system actions run in a bounded pool, in batches: the key is read once before each batch, again
  before a destructive call when that read is older than :data:`RECHECK_SECONDS`, and once after the
  batch's deletes. When the invocation's time runs short, the file systems not yet started are handed to
  the remediation queue (:mod:`keywatch.handoff`).
- Each action class declares the IAM permissions it needs (from the adapter methods it calls).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from keywatch.adapters.aws import AccountAccessError, describe_error, error_code
from keywatch.adapters.efs import MountTargetGateway
from keywatch.adapters.incidents import IncidentStore
from keywatch.adapters.kms import KmsError, KmsGateway
from keywatch.assess import UNUSABLE_STATES
from keywatch.models import (
    AWAITING_APPROVAL,
    ActionResult,
    ActionStatus,
    ActionType,
    FileSystem,
    KeyState,
    Mode,
    MountTargetSpec,
    Outcome,
    Policy,
)
from keywatch.observability import logger, metrics

if TYPE_CHECKING:  # the hand-off is loaded when a plan is run, not with every alert
    from keywatch.handoff import Budget, HandedOffAction

WORKERS = 16  # file systems worked on at once
BATCH = 50  # file systems per batch: the key is read once before the batch and once after its deletes
RECHECK_SECONDS = 5.0  # a destructive call waits for a new read of the key when the last is older than this
T = TypeVar("T")
METRICS_LOCK = threading.Lock()  # metrics counted from the pool's threads: Powertools keeps them in a plain dict
PENDING_DELETION = frozenset({KeyState.PENDING_DELETION, KeyState.PENDING_REPLICA_DELETION})
REENABLEABLE = frozenset({KeyState.DISABLED}) | PENDING_DELETION
ACTION_ERRORS = (ClientError, BotoCoreError, AccountAccessError, KmsError)
DENIED = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
KEY_OPT_IN_TAG = "keywatch:protect"  # a key carrying keywatch:protect=true may be re-enabled and its deletion cancelled
TAG_IT = f"tag the key {KEY_OPT_IN_TAG}=true (docs/reliability.md)"
NOT_ALLOWED = {
    "cancel_key_deletion": f"not allowed to cancel the deletion: {TAG_IT}",
    "enable_key": f"not allowed to enable the key: {TAG_IT}",
    "": "not allowed: keywatch's remediation role may not change this resource",
}


def permissions_of(*methods: Callable[..., Any]) -> frozenset[str]:
    return frozenset(a for m in methods for a in getattr(m, "__keywatch_permissions__", ("", ()))[1])


@dataclass(frozen=True)
class Planned:
    type: ActionType
    target: str  # the key ARN, or the file system ID
    file_system: FileSystem | None = None


def plan(
    outcome: Outcome,
    key_state: KeyState,
    key_arn: str,
    affected: Sequence[FileSystem],
    restorable: Sequence[FileSystem] = (),
) -> list[Planned]:
    """What the owners asked for, given what happened. Pure.

    - ``protect`` on any file system: cancel a pending deletion, then re-enable the key;
    - ``unmount``: record and delete the mount targets while the key is unusable;
    - recovery: re-create the mount targets recorded for the key's file systems.
    """
    actions: list[Planned] = []
    if outcome == Outcome.ALERT:
        if any(fs.policy == Policy.PROTECT for fs in affected):
            if key_state in PENDING_DELETION:
                actions.append(Planned("cancel_key_deletion", key_arn))
            if key_state in REENABLEABLE:
                actions.append(Planned("enable_key", key_arn))
        if key_state in UNUSABLE_STATES:
            actions += [
                Planned("delete_mount_targets", fs.file_system_id, fs)
                for fs in affected
                if fs.policy == Policy.UNMOUNT and fs.mount_targets > 0
            ]
    elif outcome == Outcome.RESOLVED:
        actions += [Planned("restore_mount_targets", fs.file_system_id, fs) for fs in restorable]
    return actions


def rehearse(planned: Sequence[Planned], key_state: str | None, has_incidents: bool = True) -> list[ActionResult]:
    """Dry run: what ``enforce`` would do with this plan, in the same order and with the same skips. Pure.

    The key's state is carried through the plan as the actions would change it, so an unmount that
    enforce would skip, because ``protect`` re-enabled the key first, is reported as skipped here too.
    The rules are those of the action classes below (``tests/remediation`` holds the two side by side).
    With the key's state unknown (``None``), every action is simply planned.
    """
    results = []
    state = key_state
    for item in planned:
        status: ActionStatus = "planned"
        detail = f"would {ACTIONS[item.type].description}"
        why = None
        if state is None:
            pass
        elif item.type == "cancel_key_deletion":
            why = None if state in PENDING_DELETION else f"deletion is not pending (key is {state})"
            state = KeyState.DISABLED if why is None else state
        elif item.type == "enable_key":
            if state != KeyState.DISABLED:
                why = "the key is already Enabled" if state == KeyState.ENABLED else f"a {state} key can't be enabled"
            state = KeyState.ENABLED if why is None else state
        elif item.type == "delete_mount_targets":
            if state == KeyState.ENABLED:
                why = "the key would be Enabled again by then; mount targets kept"
            elif state not in UNUSABLE_STATES:
                why = f"the key's state can't be confirmed unusable (it reads {state}); mount targets kept"
            elif not has_incidents:
                status, detail = "failed", "would fail: no incident store to record the mount targets in"
        elif item.type == "restore_mount_targets" and state != KeyState.ENABLED:
            why = f"the key is {state}; mount targets stay removed until it is Enabled"
        if why is not None:
            status, detail = "skipped", f"would be skipped: {why}"
        results.append(ActionResult(type=item.type, target=item.target, status=status, detail=detail))
    return results


class Skip(Exception):
    """The action is not needed (or no longer safe); the message says why."""


class KeyCheck:
    """The key's state as last read, shared by the workers of one run.

    ``now()`` reads it (once per batch, and after a batch's deletes); ``recent()`` reads it again only when
    the last read is older than ``max_age`` seconds, so a destructive call never acts on an old answer.
    A read that fails is not remembered: the next caller reads again.
    """

    def __init__(
        self, read: Callable[[], str], max_age: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._read = read
        self._max_age = RECHECK_SECONDS if max_age is None else max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._state: str | None = None
        self._at = -math.inf

    def now(self) -> str:
        with self._lock:
            return self._fetch()

    def recent(self) -> str:
        with self._lock:
            if self._state is not None and self._clock() - self._at <= self._max_age:
                return self._state
            return self._fetch()

    def forget(self) -> None:
        """After a change to the key (EnableKey, CancelKeyDeletion): the next check reads it."""
        with self._lock:
            self._state = None

    def _fetch(self) -> str:
        self._state = None
        state = self._read()
        self._state, self._at = state, self._clock()
        return state


@dataclass
class Context:
    kms: KmsGateway
    mounts: MountTargetGateway
    incidents: IncidentStore | None
    key_arn: str
    key: KeyCheck = field(init=False)

    def __post_init__(self) -> None:
        self.key = KeyCheck(lambda: self.kms.describe_key(self.key_arn).state)


class Action:
    type: ClassVar[ActionType]
    permissions: ClassVar[frozenset[str]]
    description: ClassVar[str]

    def run(self, ctx: Context, planned: Planned) -> str:
        raise NotImplementedError

    @staticmethod
    def key_state(ctx: Context) -> str:
        return ctx.key.now()


class CancelKeyDeletion(Action):
    type = "cancel_key_deletion"
    permissions = permissions_of(KmsGateway.describe_key, KmsGateway.cancel_key_deletion)
    description = "cancel the key's scheduled deletion"

    def run(self, ctx: Context, planned: Planned) -> str:
        state = self.key_state(ctx)
        if state not in PENDING_DELETION:
            raise Skip(f"deletion is not pending (key is {state})")
        ctx.kms.cancel_key_deletion(ctx.key_arn)
        ctx.key.forget()
        return "deletion cancelled; the key is Disabled until re-enabled"


class EnableKey(Action):
    type = "enable_key"
    permissions = permissions_of(KmsGateway.describe_key, KmsGateway.enable_key)
    description = "re-enable the key"

    def run(self, ctx: Context, planned: Planned) -> str:
        state = self.key_state(ctx)
        if state == KeyState.ENABLED:
            raise Skip("the key is already Enabled")
        if state != KeyState.DISABLED:
            raise Skip(f"a {state} key can't be enabled")
        ctx.kms.enable_key(ctx.key_arn)
        ctx.key.forget()
        return "key enabled"


@dataclass
class Deleting:
    """A file system whose mount targets were recorded and deleted, waiting for the batch's look at the key."""

    file_system: FileSystem
    current: list[MountTargetSpec]
    record: list[MountTargetSpec]
    deleted: int = 0
    gone: list[MountTargetSpec] = field(default_factory=list)  # answered "not found" though listed a moment ago
    errors: list[str] = field(default_factory=list)


class DeleteMountTargets(Action):
    type = "delete_mount_targets"
    permissions = permissions_of(
        KmsGateway.describe_key,
        MountTargetGateway.describe,
        MountTargetGateway.delete,
        MountTargetGateway.subnets,
        MountTargetGateway.create,
    )
    description = "record, then delete, the file system's mount targets"

    def run(self, ctx: Context, planned: Planned) -> str:
        deleting = self.start(ctx, planned)
        return self.finish(ctx, deleting, recovered=ctx.key.now() == KeyState.ENABLED)[0]

    def start(self, ctx: Context, planned: Planned) -> Deleting:
        """Safe under races: act only on a key confirmed unusable; delete only what is recorded.

        1. The key must be confirmed unusable (read for the batch, or again if that read is older than
           :data:`RECHECK_SECONDS`). ``Unknown`` (e.g. AccessDenied on DescribeKey) is not confirmation: the
           mount targets are kept.
        2. Every live mount target is merged into the record (a waiting record is never written over),
           and only mount targets in the record are deleted.
        3. Right before the deletes, the key again if its last read is older than :data:`RECHECK_SECONDS`.
        4. Every mount target is tried; what each delete answered is kept for :meth:`finish`.
        """
        fs = _file_system(planned)
        confirm_unusable(ctx.key.recent(), "mount targets kept")
        if ctx.incidents is None:
            raise RuntimeError("no incident store is configured; refusing to delete mount targets without a record")
        current = ctx.mounts.describe(fs)
        if not current:
            raise Skip("no mount targets left")
        record = ctx.incidents.save_snapshot(ctx.key_arn, fs.file_system_id, current)
        recorded = {spec.mount_target_id for spec in record}
        unrecorded = [mt.mount_target_id for mt in current if mt.mount_target_id not in recorded]
        if unrecorded:
            raise RuntimeError(f"refusing to delete mount targets missing from the record: {', '.join(unrecorded)}")
        confirm_unusable(ctx.key.recent(), "mount targets recorded, none deleted")
        deleting = Deleting(fs, current, record)
        for mt in current:
            try:
                if ctx.mounts.delete(fs, mt.mount_target_id):
                    deleting.deleted += 1
                else:
                    deleting.gone.append(mt)
            except ACTION_ERRORS as exc:
                deleting.errors.append(f"{mt.mount_target_id}: {describe_error(exc)}")
        return deleting

    @staticmethod
    def finish(ctx: Context, deleting: Deleting, recovered: bool) -> tuple[str, int]:
        """After the batch's deletes the key was read once more (``recovered``: it is Enabled again, as when an
        EnableKey was handled in between and found no record yet): then the mount targets are put back at once.
        Otherwise the mount targets left are counted from what the deletes answered; only a "not found" for a
        mount target listed a moment ago is read back, since that answer alone does not prove it gone.
        Returns the detail and the mount targets left."""
        fs, current, deleted = deleting.file_system, deleting.current, deleting.deleted
        if recovered:
            made = _restore(ctx, fs, deleting.record)
            return (
                f"deleted {deleted} of {len(current)} mount targets, then the key was Enabled again: "
                f"re-created {made} from the record",
                len(newest_per_zone(deleting.record)),
            )
        if deleting.errors:
            raise MountTargetsLeft(
                f"deleted {deleted} of {len(current)} mount targets (all recorded); "
                f"not deleted: {'; '.join(deleting.errors)}"
            )
        if deleting.gone:
            left = {mt.subnet_id for mt in deleting.gone} & set(ctx.mounts.subnets(fs))
            if left:
                raise MountTargetsLeft(f"{len(left)} of {len(current)} mount targets are still there (all recorded)")
        return f"deleted {deleted} of {len(current)} mount targets (recorded for restore)", 0


def confirm_unusable(state: str, kept: str) -> None:
    if state == KeyState.ENABLED:
        raise Skip(f"the key has recovered; {kept}")
    if state not in UNUSABLE_STATES:
        raise Skip(f"the key's state can't be confirmed unusable (it reads {state}); {kept}")


class MountTargetsLeft(RuntimeError):
    """Some mount targets could not be deleted or re-created; the action is retried."""


def _file_system(planned: Planned) -> FileSystem:
    if planned.file_system is None:
        raise ValueError(f"{planned.type} needs a file system")
    return planned.file_system


def newest_per_zone(specs: Sequence[MountTargetSpec]) -> list[MountTargetSpec]:
    """One mount target per Availability Zone (EFS allows no more): the one recorded last."""
    chosen: dict[str, MountTargetSpec] = {}
    for spec in sorted(specs, key=lambda s: (s.recorded_at or "", s.mount_target_id)):
        chosen[spec.availability_zone or spec.subnet_id] = spec
    return sorted(chosen.values(), key=lambda s: s.subnet_id)


def _restore(ctx: Context, fs: FileSystem, specs: Sequence[MountTargetSpec]) -> int:
    """Re-create the recorded mount targets that are not there; mark the record restored when all are."""
    wanted = newest_per_zone(specs)
    present = set(ctx.mounts.subnets(fs))
    made, errors = 0, []
    for spec in wanted:
        if spec.subnet_id in present:
            continue
        try:
            made += ctx.mounts.create(fs, spec) is not None
        except ACTION_ERRORS as exc:
            errors.append(f"{spec.subnet_id}: {describe_error(exc)}")
    if errors:
        raise MountTargetsLeft(f"re-created {made} of {len(wanted)} mount targets; not yet: {'; '.join(errors)}")
    if ctx.incidents is not None:
        ctx.incidents.mark_restored(ctx.key_arn, fs.file_system_id)
    return made


class RestoreMountTargets(Action):
    type = "restore_mount_targets"
    permissions = permissions_of(KmsGateway.describe_key, MountTargetGateway.subnets, MountTargetGateway.create)
    description = "re-create the recorded mount targets"

    def run(self, ctx: Context, planned: Planned) -> str:
        fs = _file_system(planned)
        state = self.key_state(ctx)
        if state != KeyState.ENABLED:
            raise Skip(f"the key is {state}; mount targets stay removed until it is Enabled")
        if ctx.incidents is None:
            raise Skip("no incident store is configured")
        specs = ctx.incidents.snapshot(ctx.key_arn, fs.file_system_id)
        if not specs:
            raise Skip("no recorded mount targets to restore")
        wanted = len(newest_per_zone(specs))
        made = _restore(ctx, fs, specs)
        return f"re-created {made} of {wanted} mount targets" + (
            f" ({wanted - made} already present)" if made < wanted else ""
        )

    @staticmethod
    def key_state(ctx: Context) -> str:
        return ctx.key.recent()  # read for the batch


ACTIONS: dict[str, Action] = {
    a.type: a for a in (CancelKeyDeletion(), EnableKey(), DeleteMountTargets(), RestoreMountTargets())
}


class Remediator:
    def __init__(
        self, kms: KmsGateway, mounts: MountTargetGateway, incidents: IncidentStore | None, workers: int = WORKERS
    ) -> None:
        self.kms = kms
        self.mounts = mounts
        self.incidents = incidents
        self.workers = workers

    def run(
        self,
        planned: Sequence[Planned],
        mode: Mode,
        key_arn: str,
        budget: Budget | None = None,
        handoff: Callable[[Sequence[HandedOffAction]], int] | None = None,
    ) -> list[ActionResult]:
        """Run the plan in ``mode``. Key actions first, one after another; then the file systems in batches.

        ``budget``: the time left in this invocation (None: no limit). Before each batch, if it may not fit,
        the file systems not yet started are handed to ``handoff`` (reported ``queued``) or, with no queue,
        reported ``failed`` so that the handling is retried.
        """
        if mode == Mode.NOTIFY:
            return []
        if mode == Mode.APPROVE:  # each action is a button of its own, approved (or not) on its own: all are offered
            return [
                ActionResult(
                    type=item.type,
                    target=item.target,
                    status="planned",
                    detail=f"would {ACTIONS[item.type].description} {AWAITING_APPROVAL}",
                )
                for item in planned
            ]
        ctx = Context(self.kms, self.mounts, self.incidents, key_arn)
        if mode == Mode.DRY_RUN:
            if not planned:
                return []
            state: str | None
            try:  # as enforce would, read the key's state first
                state = Action.key_state(ctx)
            except ACTION_ERRORS as exc:
                logger.warning("key state unreadable for the dry run", key_arn=key_arn, error=describe_error(exc))
                state = None
            return rehearse(planned, state, self.incidents is not None)
        results: list[ActionResult] = [
            self._run_one(ACTIONS[item.type], ctx, item) for item in planned if item.file_system is None
        ]
        file_systems = [item for item in planned if item.file_system is not None]
        if file_systems:
            results += self._run_file_systems(ctx, file_systems, budget, handoff)
        return results

    def _run_file_systems(
        self,
        ctx: Context,
        items: list[Planned],
        budget: Budget | None,
        handoff: Callable[[Sequence[HandedOffAction]], int] | None,
    ) -> list[ActionResult]:
        results: list[ActionResult] = []
        with ThreadPoolExecutor(max_workers=min(self.workers, len(items)), thread_name_prefix="remediate") as pool:
            for start in range(0, len(items), BATCH):
                if budget is not None and not budget.allows_another():
                    results += self._hand_off(items[start:], budget, handoff)
                    break
                began = time.monotonic()
                results += self._batch(pool, ctx, items[start : start + BATCH])
                if budget is not None:
                    budget.took(time.monotonic() - began)
        return results

    def _batch(self, pool: ThreadPoolExecutor, ctx: Context, batch: list[Planned]) -> list[ActionResult]:
        """One look at the key for the batch, the file systems in the pool, then one more look after the deletes."""
        try:
            ctx.key.now()
        except ACTION_ERRORS as exc:  # each action reads the key itself then, and fails on its own
            logger.warning("key unreadable before a batch", key_arn=ctx.key_arn, error=describe_error(exc))
        started = list(pool.map(lambda item: self._start(ctx, item), batch))
        deleting = [(item, s) for item, s in zip(batch, started, strict=True) if isinstance(s, Deleting)]
        if not deleting:
            return [s for s in started if isinstance(s, ActionResult)]
        try:
            recovered: bool | Exception = ctx.key.now() == KeyState.ENABLED
        except ACTION_ERRORS as exc:
            recovered = exc
        finished = iter(pool.map(lambda d: self._finish(ctx, d[0], d[1], recovered), deleting))  # in the order started
        return [s if isinstance(s, ActionResult) else next(finished) for s in started]

    def _start(self, ctx: Context, item: Planned) -> ActionResult | Deleting:
        action = ACTIONS[item.type]
        if isinstance(action, DeleteMountTargets):
            return self._attempt(item, lambda: action.start(ctx, item))
        return self._run_one(action, ctx, item)

    def _finish(self, ctx: Context, item: Planned, deleting: Deleting, recovered: bool | Exception) -> ActionResult:
        def finish() -> tuple[str, int]:
            if isinstance(recovered, Exception):
                raise recovered
            return DeleteMountTargets.finish(ctx, deleting, recovered)

        outcome = self._attempt(item, finish)
        if isinstance(outcome, ActionResult):
            return outcome
        detail, left = outcome
        return self._done(item, detail, left)

    def _hand_off(
        self, items: list[Planned], budget: Budget, handoff: Callable[[Sequence[HandedOffAction]], int] | None
    ) -> list[ActionResult]:
        """The file systems not yet started, when the next batch may not fit in the invocation."""
        why = f"not started here: {budget.describe()}"
        if handoff is not None:
            from keywatch.handoff import HandedOffAction

            try:
                messages = handoff(
                    [HandedOffAction(type=item.type, file_system=_file_system(item)) for item in items]  # type: ignore[arg-type]
                )
            except ACTION_ERRORS as exc:
                logger.warning("hand-off failed", key_arn=items[0].target, error=describe_error(exc))
                return [
                    self._failed(item, RuntimeError(f"{why}; handing it over failed: {describe_error(exc)}"))
                    for item in items
                ]
            logger.info("handed off", file_systems=len(items), messages=messages)
            with METRICS_LOCK:
                metrics.add_metric(name="RemediationHandedOff", unit="Count", value=len(items))
            return [
                ActionResult(
                    type=item.type,
                    target=item.target,
                    status="queued",
                    detail=f"{why}; handed to the remediation queue, whose worker finishes it",
                )
                for item in items
            ]
        return [self._failed(item, RuntimeError(f"{why} and there is no remediation queue")) for item in items]

    def _run_one(self, action: Action, ctx: Context, item: Planned) -> ActionResult:
        outcome = self._attempt(item, lambda: action.run(ctx, item))
        return outcome if isinstance(outcome, ActionResult) else self._done(item, outcome)

    @staticmethod
    def _done(item: Planned, detail: str, left: int | None = None) -> ActionResult:
        logger.info("action done", action=item.type, target=item.target, detail=detail)
        result = ActionResult(type=item.type, target=item.target, status="done", detail=detail)
        result._mount_targets_after = left
        return result

    def _attempt(self, item: Planned, work: Callable[[], T]) -> T | ActionResult:
        """What ``work`` returns, or the action's result when it was skipped, not allowed or failed."""
        try:
            return work()
        except Skip as skip:
            return ActionResult(type=item.type, target=item.target, status="skipped", detail=str(skip))
        except ClientError as exc:
            if error_code(exc) in DENIED:
                # Not allowed (the key lacks the opt-in tag, or its key policy shuts keywatch out):
                # retrying can't help. Skipped, with the reason and a metric (alarmed), never silent.
                logger.warning("action not allowed", action=item.type, target=item.target, error=describe_error(exc))
                with METRICS_LOCK:
                    metrics.add_metric(name="RemediationNotAllowed", unit="Count", value=1)
                return ActionResult(
                    type=item.type,
                    target=item.target,
                    status="skipped",
                    detail=NOT_ALLOWED.get(item.type, NOT_ALLOWED[""]),
                )
            return self._failed(item, exc)
        except (*ACTION_ERRORS, RuntimeError) as exc:
            return self._failed(item, exc)

    @staticmethod
    def _failed(item: Planned, exc: Exception) -> ActionResult:
        """A failure to retry: the handling raises once every other step is done."""
        logger.warning("action failed", action=item.type, target=item.target, error=describe_error(exc))
        with METRICS_LOCK:
            metrics.add_metric(name="RemediationFailed", unit="Count", value=1)
        return ActionResult(type=item.type, target=item.target, status="failed", detail=f"{str(exc)[:280]} (retried)")
