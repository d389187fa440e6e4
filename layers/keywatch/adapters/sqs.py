"""SQS adapter: the sweep's fan-out (one message per account and Region), and the remediation queue (file
systems an invocation handed over when it was running out of time)."""

from __future__ import annotations

from collections.abc import Sequence

from keywatch.adapters.aws import AwsClients
from keywatch.iam import needs

BATCH_SIZE = 10  # the most SendMessageBatch takes


class SendFailed(RuntimeError):
    """Some messages were not accepted by the queue."""


def _region_of(queue_url: str) -> str:
    """``https://sqs.<region>.amazonaws.com/<account>/<name>`` -> region, or "" for a local endpoint."""
    host = queue_url.split("://", 1)[-1].split("/", 1)[0]
    parts = host.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "sqs" else ""


class QueueSender:
    def __init__(self, clients: AwsClients, queue_url: str) -> None:
        self._clients = clients
        self.queue_url = queue_url
        self._region = _region_of(queue_url) or clients.home_region

    # SendMessageBatch is authorised by sqs:SendMessage; there is no separate IAM action for it.
    @needs("sqs:SendMessage", scope="sweep")
    def send_all(self, bodies: Sequence[str]) -> int:
        """Send every body, ten per SendMessageBatch call. Raises :class:`SendFailed` if any is refused."""
        return self._send(bodies)

    def _send(self, bodies: Sequence[str]) -> int:
        client = self._clients.home_client("sqs", self._region)
        failed: list[str] = []
        for start in range(0, len(bodies), BATCH_SIZE):
            chunk = bodies[start : start + BATCH_SIZE]
            response = client.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)],
            )
            failed += [f"{f.get('Code')}: {f.get('Message', '')}" for f in response.get("Failed", [])]
        if failed:
            raise SendFailed(f"{len(failed)} of {len(bodies)} messages were refused: {failed[0]}")
        return len(bodies)


class RemediationQueueSender(QueueSender):
    """The remediation queue: only the key-event function sends to it, only in enforce mode."""

    @needs("sqs:SendMessage", scope="handoff")
    def send_all(self, bodies: Sequence[str]) -> int:
        return self._send(bodies)
