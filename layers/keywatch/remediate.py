"""Plan and act: mode + per-file-system policy -> actions, each safe to repeat and each recorded.

- ``plan`` is pure: it decides what should happen, from the outcome, the key's state and the tags.
- ``Remediator`` runs a plan. Before each action it reads the key's state again and skips the action
  if the key has already recovered. One action failing never stops the others.
- Each action class declares the IAM permissions it needs (from the adapter methods it calls).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError

from keywatch.adapters.aws import AccountAccessError, describe_error, error_code
from keywatch.adapters.efs import MountTargetGateway
from keywatch.adapters.incidents import IncidentStore
from keywatch.adapters.kms import KmsError, KmsGateway
from keywatch.assess import UNUSABLE_STATES
from keywatch.models import ActionResult, ActionType, FileSystem, KeyState, Mode, MountTargetSpec, Outcome, Policy
from keywatch.observability import logger, metrics

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


class Skip(Exception):
    """The action is not needed (or no longer safe); the message says why."""


@dataclass
class Context:
    kms: KmsGateway
    mounts: MountTargetGateway
    incidents: IncidentStore | None
    key_arn: str


class Action:
    type: ClassVar[ActionType]
    permissions: ClassVar[frozenset[str]]
    description: ClassVar[str]

    def run(self, ctx: Context, planned: Planned) -> str:
        raise NotImplementedError

    @staticmethod
    def key_state(ctx: Context) -> str:
        return ctx.kms.describe_key(ctx.key_arn).state


class CancelKeyDeletion(Action):
    type = "cancel_key_deletion"
    permissions = permissions_of(KmsGateway.describe_key, KmsGateway.cancel_key_deletion)
    description = "cancel the key's scheduled deletion"

    def run(self, ctx: Context, planned: Planned) -> str:
        state = self.key_state(ctx)
        if state not in PENDING_DELETION:
            raise Skip(f"deletion is not pending (key is {state})")
        ctx.kms.cancel_key_deletion(ctx.key_arn)
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
        return "key enabled"


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
        """Safe under races: act only on a key confirmed unusable; delete only what is recorded; look again after.

        1. The key must be confirmed unusable now. ``Unknown`` (e.g. AccessDenied on DescribeKey) is not
           confirmation: the mount targets are kept.
        2. Every live mount target is merged into the record (a waiting record is never written over),
           and only mount targets in the record are deleted.
        3. Every mount target is tried; if any could not be deleted, the action fails (and is retried).
        4. The key is read again: if it recovered meanwhile (an EnableKey handled in between found no
           record yet), the mount targets are put back at once.
        """
        fs = _file_system(planned)
        state = self.key_state(ctx)
        if state == KeyState.ENABLED:
            raise Skip("the key has recovered; mount targets kept")
        if state not in UNUSABLE_STATES:
            raise Skip(f"the key's state can't be confirmed unusable (it reads {state}); mount targets kept")
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
        deleted, errors = 0, []
        for mt in current:
            try:
                deleted += ctx.mounts.delete(fs, mt.mount_target_id)
            except ACTION_ERRORS as exc:
                errors.append(f"{mt.mount_target_id}: {describe_error(exc)}")
        if self.key_state(ctx) == KeyState.ENABLED:
            made = _restore(ctx, fs, record)
            return (
                f"deleted {deleted} of {len(current)} mount targets, then the key was Enabled again: "
                f"re-created {made} from the record"
            )
        if errors:
            raise MountTargetsLeft(
                f"deleted {deleted} of {len(current)} mount targets (all recorded); not deleted: {'; '.join(errors)}"
            )
        # The end state, read back: a call that answered without deleting must not pass for done.
        left = {mt.subnet_id for mt in current} & set(ctx.mounts.subnets(fs))
        if left:
            raise MountTargetsLeft(f"{len(left)} of {len(current)} mount targets are still there (all recorded)")
        return f"deleted {deleted} of {len(current)} mount targets (recorded for restore)"


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


ACTIONS: dict[str, Action] = {
    a.type: a for a in (CancelKeyDeletion(), EnableKey(), DeleteMountTargets(), RestoreMountTargets())
}


class Remediator:
    def __init__(self, kms: KmsGateway, mounts: MountTargetGateway, incidents: IncidentStore | None) -> None:
        self.kms = kms
        self.mounts = mounts
        self.incidents = incidents

    def run(self, planned: Sequence[Planned], mode: Mode, key_arn: str) -> list[ActionResult]:
        if mode == Mode.NOTIFY:
            return []
        ctx = Context(self.kms, self.mounts, self.incidents, key_arn)
        results = []
        for item in planned:
            action = ACTIONS[item.type]
            if mode in (Mode.DRY_RUN, Mode.APPROVE):
                waiting = " once approved in Slack" if mode == Mode.APPROVE else ""
                results.append(
                    ActionResult(
                        type=item.type,
                        target=item.target,
                        status="planned",
                        detail=f"would {action.description}{waiting}",
                    )
                )
                continue
            results.append(self._run_one(action, ctx, item))
        return results

    def _run_one(self, action: Action, ctx: Context, item: Planned) -> ActionResult:
        try:
            detail = action.run(ctx, item)
        except Skip as skip:
            return ActionResult(type=item.type, target=item.target, status="skipped", detail=str(skip))
        except ClientError as exc:
            if error_code(exc) in DENIED:
                # Not allowed (the key lacks the opt-in tag, or its key policy shuts keywatch out):
                # retrying can't help. Skipped, with the reason and a metric (alarmed), never silent.
                logger.warning("action not allowed", action=item.type, target=item.target, error=describe_error(exc))
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
        logger.info("action done", action=item.type, target=item.target, detail=detail)
        return ActionResult(type=item.type, target=item.target, status="done", detail=detail)

    @staticmethod
    def _failed(item: Planned, exc: Exception) -> ActionResult:
        """A failure to retry: the handling raises once every other step is done."""
        logger.warning("action failed", action=item.type, target=item.target, error=describe_error(exc))
        metrics.add_metric(name="RemediationFailed", unit="Count", value=1)
        return ActionResult(type=item.type, target=item.target, status="failed", detail=f"{str(exc)[:280]} (retried)")
