"""The approved-action worker's job: finish what the endpoint handed over, once, then rewrite the message.

A message is a pointer to an approval. An approval already ``done`` or ``failed`` is left alone (the
endpoint finished it), so a message delivered twice, or after the endpoint did the work, changes
nothing. A failed step raises, so SQS delivers the message again; on the last delivery the approval is
marked ``failed`` (the message says so) and the message goes to the dead-letter queue, whose alarm
reaches a person.
"""

from __future__ import annotations

from typing import Any

from keywatch.approvals.execute import ApprovedRunner, MessageUpdater
from keywatch.approvals.models import ApprovedWork

MAX_RECEIVES = 3  # template.yaml: ApprovedActionsQueue's maxReceiveCount


class RetryLater(RuntimeError):
    """The action is not finished: let SQS deliver the message again."""


def run_approved(
    runner: ApprovedRunner, messages: MessageUpdater, work: ApprovedWork, receive_count: int
) -> dict[str, Any]:
    approval = runner.store.get(work.key_arn, work.token)
    if approval is None or approval.final or approval.status == "pending":
        status = approval.status if approval else "unknown"
        return {"token": work.token, "status": status, "ran": False}
    outcome = runner.run(approval, final_attempt=receive_count >= MAX_RECEIVES)
    if outcome.state == "busy":
        raise RetryLater(f"approval {work.token} is being run by another invocation")
    current = outcome.approval
    if outcome.state == "final":
        return {"token": work.token, "status": current.status if current else "unknown", "ran": False}
    if current is not None:
        messages.update(current)
    summary = current.summary if current else ""
    if outcome.state == "retry":
        raise RetryLater(f"approval {work.token}: {summary}")
    if outcome.state == "failed":
        raise RetryLater(f"approval {work.token} failed for good: {summary}")
    return {"token": work.token, "status": outcome.state, "ran": True}
