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

from keywatch.adapters.aws import AccountAccessError
from keywatch.adapters.efs import MountTargetGateway
from keywatch.adapters.incidents import IncidentStore
from keywatch.adapters.kms import KmsError, KmsGateway
from keywatch.assess import UNUSABLE_STATES
from keywatch.models import ActionResult, ActionType, FileSystem, KeyState, Mode, Outcome, Policy
from keywatch.observability import logger, metrics

PENDING_DELETION = frozenset({KeyState.PENDING_DELETION, KeyState.PENDING_REPLICA_DELETION})
REENABLEABLE = frozenset({KeyState.DISABLED}) | PENDING_DELETION
ACTION_ERRORS = (ClientError, BotoCoreError, AccountAccessError, KmsError)


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
    permissions = permissions_of(KmsGateway.describe_key, MountTargetGateway.describe, MountTargetGateway.delete)
    description = "record, then delete, the file system's mount targets"

    def run(self, ctx: Context, planned: Planned) -> str:
        fs = planned.file_system
        assert fs is not None
        state = self.key_state(ctx)
        if state == KeyState.ENABLED:
            raise Skip("the key has recovered; mount targets kept")
        if ctx.incidents is None:
            raise RuntimeError("no incident store is configured; refusing to delete mount targets without a record")
        current = ctx.mounts.describe(fs)
        if not current:
            raise Skip("no mount targets left")
        saved = ctx.incidents.save_snapshot(ctx.key_arn, fs.file_system_id, current)
        deleted = sum(ctx.mounts.delete(fs, mt.mount_target_id) for mt in current)
        record = "recorded" if saved else "already recorded earlier"
        return f"deleted {deleted} of {len(current)} mount targets ({record} for restore)"


class RestoreMountTargets(Action):
    type = "restore_mount_targets"
    permissions = permissions_of(KmsGateway.describe_key, MountTargetGateway.subnets, MountTargetGateway.create)
    description = "re-create the recorded mount targets"

    def run(self, ctx: Context, planned: Planned) -> str:
        fs = planned.file_system
        assert fs is not None
        state = self.key_state(ctx)
        if state != KeyState.ENABLED:
            raise Skip(f"the key is {state}; mount targets stay removed until it is Enabled")
        if ctx.incidents is None:
            raise Skip("no incident store is configured")
        specs = ctx.incidents.snapshot(ctx.key_arn, fs.file_system_id)
        if not specs:
            raise Skip("no recorded mount targets to restore")
        present = set(ctx.mounts.subnets(fs))
        created = [ctx.mounts.create(fs, spec) for spec in specs if spec.subnet_id not in present]
        ctx.incidents.mark_restored(ctx.key_arn, fs.file_system_id)
        made = sum(1 for c in created if c)
        return f"re-created {made} of {len(specs)} mount targets" + (
            f" ({len(specs) - made} already present)" if made < len(specs) else ""
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
            if mode == Mode.DRY_RUN:
                results.append(
                    ActionResult(
                        type=item.type, target=item.target, status="planned", detail=f"would {action.description}"
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
        except (*ACTION_ERRORS, RuntimeError) as exc:
            logger.warning("action failed", action=item.type, target=item.target, error=str(exc))
            metrics.add_metric(name="RemediationFailed", unit="Count", value=1)
            return ActionResult(type=item.type, target=item.target, status="failed", detail=str(exc)[:300])
        logger.info("action done", action=item.type, target=item.target, detail=detail)
        return ActionResult(type=item.type, target=item.target, status="done", detail=detail)
