"""Work on file systems that one invocation can't finish in time goes to the remediation queue.

An event can hit a thousand file systems tagged ``unmount``. The key-event function works on them in
batches (:class:`keywatch.remediate.Remediator`); before each batch it asks whether the batch still fits in
the invocation's remaining time, keeping :data:`RESERVE_SECONDS` for what follows the actions (notify every
channel, record the incident). When it does not, the file systems not yet started go to the remediation
queue, :data:`PER_MESSAGE` to a message, and their actions are reported ``queued``. The remediation worker
(functions/remediation_worker) runs them through the same actions, with the same re-checks of the key, and
appends what it did to the key's incident.

Nothing is done twice: an invocation hands over only file systems it has not started, and every action
re-reads the key and the live mount targets before it acts, so a redelivered message finds nothing left to
do. Nothing is lost: a message that could not be sent is a ``failed`` action (the handling is retried), and a
message the worker could not finish is retried by SQS, then dead-lettered and alarmed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from keywatch.models import FileSystem

RESERVE_SECONDS = 20.0  # kept for what follows the actions: notify every channel, record the incident
FIRST_BATCH_SECONDS = 5.0  # what a batch may take, until one has been timed
MARGIN = 1.5  # a batch may take this much longer than the slowest one so far
PER_MESSAGE = 50  # file systems per message (about 20 KB: far below SQS's 256 KB)


class HandedOffAction(BaseModel):
    type: Literal["delete_mount_targets", "restore_mount_targets"]
    file_system: FileSystem


class HandedOff(BaseModel):
    """One message on the remediation queue: file-system actions on one key, for one event."""

    event_id: str = Field(min_length=1, max_length=512)
    key_arn: str = Field(pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$")
    actions: list[HandedOffAction] = Field(min_length=1, max_length=PER_MESSAGE)


class Sender(Protocol):
    def send_all(self, bodies: Sequence[str]) -> int: ...


def messages(event_id: str, key_arn: str, actions: Sequence[HandedOffAction]) -> list[HandedOff]:
    return [
        HandedOff(event_id=event_id, key_arn=key_arn, actions=list(actions[i : i + PER_MESSAGE]))
        for i in range(0, len(actions), PER_MESSAGE)
    ]


@dataclass
class Handoff:
    """Hands file-system actions of one event to the remediation queue."""

    sender: Sender
    event_id: str
    key_arn: str

    def __call__(self, actions: Sequence[HandedOffAction]) -> int:
        """Sends every action (raises if any message is refused); returns how many messages it took."""
        return self.sender.send_all([m.model_dump_json() for m in messages(self.event_id, self.key_arn, actions)])


@dataclass
class Budget:
    """How much of the invocation is left for another batch of file systems.

    ``remaining`` gives the seconds left (Lambda's ``get_remaining_time_in_millis`` / 1000). Another batch
    is started only if the slowest batch so far (times :data:`MARGIN`) fits before the reserve.
    """

    remaining: Callable[[], float]
    reserve: float = RESERVE_SECONDS
    slowest: float | None = None
    clock: Callable[[], float] = field(default=time.monotonic)

    def allows_another(self) -> bool:
        needed = FIRST_BATCH_SECONDS if self.slowest is None else self.slowest * MARGIN
        return self.remaining() - self.reserve >= needed

    def took(self, seconds: float) -> None:
        self.slowest = seconds if self.slowest is None else max(self.slowest, seconds)

    def describe(self) -> str:
        return f"{max(0, math.floor(self.remaining()))} s of the invocation were left"


def lambda_budget(context: object) -> Budget | None:
    """A budget from a Lambda context; None without one (the CLI has all the time it needs)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return Budget(lambda: float(remaining()) / 1000)
