"""Which buttons an alert offers. Pure: the planned actions and the file systems' policies decide.

- ``protect`` grants "Cancel deletion and re-enable" (a deletion is pending) or "Re-enable key";
- ``unmount`` grants "Cut access (remove mount targets)" and, once the key is back, "Restore mount targets";
- every alert offers "Acknowledge" and the silences (1 h, 1 day, 7 days); a ``notify`` file system
  offers only those.
"""

from __future__ import annotations

from dataclasses import dataclass

from keywatch.approvals.models import Choice, Target
from keywatch.models import EventResult, Outcome, Policy


@dataclass(frozen=True)
class Offer:
    choice: Choice
    targets: tuple[Target, ...] = ()


TRIAGE = (Choice.ACK, Choice.SILENCE_1H, Choice.SILENCE_1D, Choice.SILENCE_7D)


def offers(result: EventResult) -> list[Offer]:
    """The buttons for ``result``, in the order they are shown."""
    if result.outcome not in (Outcome.ALERT, Outcome.RESOLVED) or not result.key_arn:
        return []
    planned = [a for a in result.actions if a.status == "planned"]
    types = {a.type for a in planned}
    policies = {fs.file_system_id: fs for fs in result.affected}
    out: list[Offer] = []
    if any(fs.policy == Policy.PROTECT for fs in result.affected):
        if "cancel_key_deletion" in types:
            out.append(Offer(Choice.CANCEL_AND_ENABLE))
        elif "enable_key" in types:
            out.append(Offer(Choice.ENABLE))
    for action_type, choice in (("delete_mount_targets", Choice.CUT), ("restore_mount_targets", Choice.RESTORE)):
        targets = tuple(
            Target(file_system_id=fs.file_system_id, account=fs.account, region=fs.region)
            for a in planned
            if a.type == action_type and (fs := policies.get(a.target)) is not None and fs.policy == Policy.UNMOUNT
        )
        if targets:
            out.append(Offer(choice, targets))
    if result.outcome == Outcome.ALERT:
        out += [Offer(choice) for choice in TRIAGE]
    return out
