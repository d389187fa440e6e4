"""An approved action, run through the engine's own remediations, exactly once, and the message rewritten.

The same safety rules as ``enforce``: each remediation reads the key's state again right before it acts
(and skips, with the reason, a key that has recovered); each is idempotent; mount targets are recorded
before they are deleted and restored when the key is Enabled again. On top of them:

- a file system is acted on only while it is still tagged ``unmount`` (its tag could change after the alert);
- the approval's state machine makes the action run once whoever runs it, the endpoint or the worker:
  a runner takes a lease (``running``), keeps the steps that reached their end state, and resumes after
  the last of them; an approval already ``done`` or ``failed`` is left alone;
- once the key is Enabled again (a re-enable approved, or a key that recovered), the mount targets
  keywatch removed are restored at once ("restore after recovery").
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from botocore.exceptions import BotoCoreError, ClientError

from keywatch.adapters.approvals import ApprovalStore
from keywatch.adapters.slack import SlackConfigError, SlackDeliveryError, SlackTarget
from keywatch.adapters.slack_interactions import SlackResponder
from keywatch.approvals.models import Approval, Choice, Interaction
from keywatch.engine import Watchdog
from keywatch.models import ActionResult, ActionType, EventResult, KeyState, Mode, Outcome, Policy
from keywatch.notify import buttons
from keywatch.notify.blocks import ACTION_NAMES
from keywatch.observability import logger, metrics
from keywatch.remediate import Planned

KEY_STEPS: dict[Choice, tuple[ActionType, ...]] = {
    Choice.CANCEL_AND_ENABLE: ("cancel_key_deletion", "enable_key"),
    Choice.ENABLE: ("enable_key",),
}
FS_STEPS: dict[Choice, ActionType] = {Choice.CUT: "delete_mount_targets", Choice.RESTORE: "restore_mount_targets"}

RunState = Literal["done", "failed", "queued", "retry", "busy", "final"]


@dataclass
class RunOutcome:
    state: RunState
    approval: Approval | None
    results: list[ActionResult] = field(default_factory=list)


def summarise(results: list[ActionResult], key_state: KeyState | None) -> str:
    parts = [
        f"{ACTION_NAMES.get(r.type, r.type)} {r.target.rsplit('/', 1)[-1]}: {r.status}"
        + (f" ({r.detail})" if r.detail else "")
        for r in results
    ]
    if key_state is not None:
        parts.append(f"key {key_state}")
    return "; ".join(parts) or "nothing to do"


class ApprovedRunner:
    """Runs approved actions with a :class:`Watchdog` (its clients, remediator and incident store)."""

    def __init__(
        self,
        watchdog: Watchdog,
        store: ApprovalStore,
        clock: Callable[[], float] = time.time,
        lease_seconds: int = 360,
    ) -> None:
        self.watchdog = watchdog
        self.store = store
        self._clock = clock
        self.lease_seconds = lease_seconds

    def _steps(self, approval: Approval) -> list[Planned]:
        if approval.choice in KEY_STEPS:
            return [Planned(step, approval.key_arn) for step in KEY_STEPS[approval.choice]]
        step = FS_STEPS.get(approval.choice)
        if step is None:
            return []
        return [Planned(step, t.file_system_id) for t in approval.targets]

    def _run_step(self, approval: Approval, step: Planned) -> ActionResult:
        if step.type in ("delete_mount_targets", "restore_mount_targets"):
            target = next(t for t in approval.targets if t.file_system_id == step.target)
            fs = self.watchdog.efs.get(target.file_system_id, target.account, target.region)
            if fs is None:
                return ActionResult(
                    type=step.type, target=step.target, status="skipped", detail="file system not found"
                )
            if fs.policy != Policy.UNMOUNT:
                return ActionResult(
                    type=step.type,
                    target=step.target,
                    status="skipped",
                    detail=f"the file system is tagged {fs.policy.value} now, no longer unmount",
                )
            step = Planned(step.type, step.target, fs)
        return self.watchdog.remediator.run([step], Mode.ENFORCE, approval.key_arn)[0]

    def _restore_after_recovery(self, approval: Approval, done: set[str]) -> list[ActionResult]:
        """The key is Enabled: put back every mount target keywatch removed from its file systems."""
        incidents = self.watchdog.incidents
        if incidents is None:
            return []
        recorded = incidents.snapshots(approval.key_arn)
        if not recorded:
            return []
        where = {
            fs["file_system_id"]: (fs["account"], fs["region"])
            for fs in (incidents.current(approval.key_arn) or {}).get("affected", [])
        }
        where |= {t.file_system_id: (t.account, t.region) for t in approval.targets}
        results = []
        for fs_id in sorted(recorded):
            if fs_id in done or fs_id not in where:
                continue
            fs = self.watchdog.efs.get(fs_id, *where[fs_id])
            if fs is None:
                continue
            step = Planned("restore_mount_targets", fs_id, fs)
            results += self.watchdog.remediator.run([step], Mode.ENFORCE, approval.key_arn)
        return results

    def run(self, approval: Approval, deadline: float | None = None, final_attempt: bool = False) -> RunOutcome:
        """Run (or resume) an approved action. ``deadline`` (monotonic seconds): stop before a step
        that would start after it, and leave the rest ``queued`` for the worker."""
        started = self.store.start(approval.key_arn, approval.token, int(self._clock()), self.lease_seconds)
        if started is None:
            current = self.store.get(approval.key_arn, approval.token)
            return RunOutcome("final" if current is None or current.final else "busy", current)
        results = list(started.results)
        steps = self._steps(started)
        for step in steps[len(results) :]:
            if deadline is not None and time.monotonic() >= deadline:
                summary = f"in progress ({len(results)} of {len(steps)} steps done); the worker finishes it"
                self.store.progress(started.key_arn, started.token, "queued", results, summary)
                return RunOutcome("queued", self.store.get(started.key_arn, started.token), results)
            result = self._run_step(started, step)
            if result.status == "failed":
                if not final_attempt:
                    summary = f"{ACTION_NAMES.get(result.type, result.type)} failed ({result.detail}); retrying"
                    self.store.progress(started.key_arn, started.token, "queued", results, summary)
                    return RunOutcome("retry", self.store.get(started.key_arn, started.token), [*results, result])
                results.append(result)
                break
            results.append(result)
        return self._finish(started, results)

    def _finish(self, approval: Approval, results: list[ActionResult]) -> RunOutcome:
        key_state = None
        if approval.choice.changes_aws:
            key_state = self.watchdog.describe_key(approval.key_arn).state
            if key_state == KeyState.ENABLED and approval.choice != Choice.RESTORE:
                results = results + self._restore_after_recovery(
                    approval, {r.target for r in results if r.type == "restore_mount_targets"}
                )
        failed = any(r.status == "failed" for r in results)
        actor = f"slack:{approval.by_user} ({approval.by_name or '?'})"
        incidents = self.watchdog.incidents
        if incidents is not None and results:
            incidents.record_actions(approval.key_arn, results, actor)
            if key_state == KeyState.ENABLED and not incidents.snapshots(approval.key_arn):
                incidents.resolve(approval.key_arn, self._resolution(approval), actor)
        status: Literal["done", "failed"] = "failed" if failed else "done"
        summary = summarise(results, key_state)
        self.store.progress(approval.key_arn, approval.token, status, results, summary)
        self.store.log(
            Interaction(
                key_arn=approval.key_arn,
                at=int(self._clock()),
                kind=status,
                user=approval.by_user or "?",
                user_name=approval.by_name,
                choice=approval.choice,
                token=approval.token,
                detail=summary[:1000],
            )
        )
        if failed:
            metrics.add_metric(name="RemediationFailed", unit="Count", value=1)
        logger.info("approved action finished", choice=approval.choice.value, status=status, key_arn=approval.key_arn)
        return RunOutcome(status, self.store.get(approval.key_arn, approval.token), results)

    def _resolution(self, approval: Approval) -> EventResult:
        return EventResult(
            event_id=f"approval-{approval.token}",
            event_name="SlackApproval",
            key_arn=approval.key_arn,
            outcome=Outcome.RESOLVED,
            reason=f"{approval.choice.value} approved in Slack by {approval.by_user}; the key is Enabled.",
        )


class MessageUpdater:
    """Rewrites the alert with the decisions: ``chat.update`` with a bot token, else ``response_url``."""

    def __init__(
        self,
        store: ApprovalStore,
        responder: SlackResponder,
        target: Callable[[], SlackTarget | None],
    ) -> None:
        self.store = store
        self.responder = responder
        self._target = target

    def update(self, approval: Approval, response_url: str | None = None) -> str:
        """Rewrite the message; returns how (for the log). Failures are logged, never raised: the
        action is done and recorded whatever Slack answers."""
        found = self.store.get_set(approval.key_arn, approval.set_id)
        if found is None:
            return "no message recorded"
        payload = buttons.with_buttons(json.loads(found.payload), self.store.of_set(approval.key_arn, approval.set_id))
        try:
            target = self._target() if found.channel and found.ts else None
            if target is not None and target.threads and found.channel and found.ts:
                self.responder.update(target, found.channel, found.ts, payload)
                return "chat.update"
            url = response_url or approval.response_url
            if not url:
                return "no way to update the message (no bot token, no response_url)"
            self.responder.respond(url, {**payload, "replace_original": True})
            return "response_url"
        except (SlackDeliveryError, SlackConfigError, ClientError, BotoCoreError) as exc:
            logger.warning("slack message not updated", set_id=approval.set_id, error=str(exc))
            metrics.add_metric(name="NotificationFailed", unit="Count", value=1)
            return f"not updated: {exc}"
