"""Countdowns before a scheduled key deletion: when one is due, and the reminder itself. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from keywatch.models import (
    COUNTDOWN_EVENT,
    Affected,
    EventResult,
    FileSystem,
    KeyEvent,
    KeyInfo,
    Outcome,
    Severity,
)


def countdown_due(deletion_date: datetime | None, now: datetime, thresholds: Sequence[int]) -> int | None:
    """The most urgent threshold (days before deletion) already reached, or None.

    With thresholds [7, 1], a key deleted in 5 days is due its 7-day reminder; in 12 hours, its 1-day one.
    Only the most urgent threshold reached is returned, so a late first sweep never sends a stale one.
    """
    if deletion_date is None or not thresholds:
        return None
    remaining = (deletion_date - now).total_seconds() / 86400
    reached = [t for t in thresholds if remaining <= t]
    return min(reached) if reached else None


def countdown_result(event: KeyEvent, key: KeyInfo, affected: Sequence[FileSystem], days_left: int) -> EventResult:
    """The reminder, as the result object every channel already knows how to send."""
    n = len(affected)
    when = f"{key.deletion_date:%Y-%m-%d %H:%M} UTC" if key.deletion_date else "soon"
    return EventResult(
        event_id=event.event_id,
        event_name=COUNTDOWN_EVENT,
        key_arn=key.arn,
        key_state=key.state,
        outcome=Outcome.ALERT,
        severity=Severity.CRITICAL,
        reason=(
            f"The key will be deleted in {days_left} day{'s' if days_left != 1 else ''} ({when}); "
            f"{n} EFS file system{'s' if n != 1 else ''} will become unreadable for good unless the deletion "
            "is cancelled."
        ),
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
        key_state_after=key.state,
        event=event,
        key=key,
    )
