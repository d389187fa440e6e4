"""The words every part of keywatch shares: outcomes, severities, modes, policies and key states.

Apart from :mod:`keywatch.models` so that what needs only these (the settings, the sweep's fan-out) doesn't
build the event and result models.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    ALERT = "alert"
    RESOLVED = "resolved"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class Mode(StrEnum):
    NOTIFY = "notify"
    APPROVE = "approve"  # planned as in dry-run, offered as Slack buttons, run when an allowed person approves
    DRY_RUN = "dry-run"
    ENFORCE = "enforce"


class Policy(StrEnum):
    NOTIFY = "notify"
    PROTECT = "protect"
    UNMOUNT = "unmount"


POLICY_TAG = "keywatch:on-key-loss"


class KeyState(StrEnum):
    """The states KMS reports, plus ``Deleted`` (DescribeKey no longer finds the key) and ``Unknown``
    (keywatch could not read it). A state KMS adds later reads as ``Unknown``, never as a crash."""

    CREATING = "Creating"
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PENDING_DELETION = "PendingDeletion"
    PENDING_REPLICA_DELETION = "PendingReplicaDeletion"
    PENDING_IMPORT = "PendingImport"
    UNAVAILABLE = "Unavailable"
    UPDATING = "Updating"
    DELETED = "Deleted"
    UNKNOWN = "Unknown"

    @classmethod
    def read(cls, value: object) -> KeyState:
        """The state named by ``value``, or ``Unknown`` for anything else."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.UNKNOWN


# Kept as names: "Deleted" for a key DescribeKey no longer finds, "Unknown" for one keywatch can't read.
DELETED = KeyState.DELETED
UNKNOWN = KeyState.UNKNOWN

# The event name of the sweep's reminder before a deletion date: a silence never holds it back.
COUNTDOWN_EVENT = "Countdown"
