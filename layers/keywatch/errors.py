"""Errors that cross layers: raised by the engine, understood by the handlers, the sweep and the CLI."""

from __future__ import annotations

from collections.abc import Sequence

from keywatch.models import EventResult


class HandlingIncomplete(RuntimeError):
    """Some step of handling an event did not finish; raised so that the event is handled again.

    Raised inside the idempotent handling, so that Powertools releases the event's record and the
    invocation fails: Lambda retries it, and after its last retry sends it to the OnFailure
    destination (FailedInvocationsQueue), whose alarm reaches a person.
    A retry resumes: actions already at their end state are skipped by their re-checks, deliveries
    already ``sent`` by the delivery log. ``steps`` name what is left (error types and codes only,
    never a message that could quote a secret); ``result`` is what this attempt did.
    """

    def __init__(self, result: EventResult, steps: Sequence[str]) -> None:
        self.result = result
        self.steps = list(steps)
        super().__init__(f"event {result.event_id}: not finished, retried: {'; '.join(self.steps)}")


class HandedOffIncomplete(RuntimeError):
    """The remediation worker could not finish a message's file systems; SQS delivers the message again (then
    dead-letters it into RemediationDeadLetterQueue, alarmed). ``steps`` name what is left."""

    def __init__(self, event_id: str, steps: Sequence[str]) -> None:
        self.steps = list(steps)
        super().__init__(f"handed-off work of event {event_id}: not finished, retried: {'; '.join(self.steps)}")


__all__ = ["HandedOffIncomplete", "HandlingIncomplete"]
