"""Wiring: settings + clients -> a ready :class:`Watchdog`. Built once per Lambda container."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keywatch.adapters.aws import AwsClients
from keywatch.adapters.deliveries import (
    DynamoDeliveries,
    MemoryDeliveries,
    ReplicatedDeliveries,
    ThreadStore,
)
from keywatch.adapters.incidents import DynamoIncidentStore, IncidentStore, MemoryIncidentStore
from keywatch.adapters.index import DynamoKeyIndex
from keywatch.adapters.occurrences import DynamoOccurrences, MemoryOccurrences, OccurrenceLog
from keywatch.adapters.silences import DynamoSilences, MemorySilences, SilenceStore
from keywatch.adapters.sns import SnsPublisher
from keywatch.adapters.sqs import RemediationQueueSender
from keywatch.config import Settings
from keywatch.engine import Deduplicate, MemoryDeduplicator, Watchdog
from keywatch.models import Mode
from keywatch.notify.channels import Channel, SnsChannel, UnconfiguredSlack, recorded

if TYPE_CHECKING:
    from keywatch.adapters.approvals import ApprovalStore


def build_watchdog(settings: Settings, clients: AwsClients | None = None, slack_webhook: str | None = None) -> Watchdog:
    """``slack_webhook`` (``keywatch replay --slack-webhook``) takes the place of the configured secret."""
    clients = clients or AwsClients(
        read_role=settings.read_role, write_role=settings.write_role, home_account=settings.home_account
    )
    log, threads = build_deliveries(settings, clients)
    channels: list[Channel] = [
        SnsChannel(SnsPublisher(clients, settings.topic_arn) if settings.topic_arn else None),
        build_slack_channel(settings, clients, threads, slack_webhook),
    ]
    from keywatch.notify.silence import SilenceGate, silenced

    return Watchdog(
        settings,
        clients,
        silenced(recorded(channels, log), SilenceGate(build_silence_store(settings, clients))),
        incidents=build_incident_store(settings, clients),
        journal=log,
        deduplicate=build_deduplicator(settings, clients),
        index=build_index(settings, clients),
        occurrences=build_occurrences(settings, clients),
        handoff=build_handoff(settings, clients),
    )


def build_handoff(settings: Settings, clients: AwsClients) -> RemediationQueueSender | None:
    """The remediation queue, in enforce mode: file systems an invocation can't finish in time go there."""
    if settings.remediation_queue_url and settings.mode == Mode.ENFORCE:
        return RemediationQueueSender(clients, settings.remediation_queue_url)
    return None


def build_slack_channel(
    settings: Settings,
    clients: AwsClients,
    deliveries: ThreadStore,
    slack_webhook: str | None = None,
) -> Channel:
    """slack-sdk is imported only when Slack is configured: it is a third of a cold start otherwise."""
    if not (slack_webhook or settings.slack_secret):
        return UnconfiguredSlack()
    from keywatch.adapters.slack import ParameterTarget, StaticTarget, webhook_target
    from keywatch.notify.slack import SlackChannel, TargetSource

    source: TargetSource
    if slack_webhook:
        source = StaticTarget(webhook_target(slack_webhook))
    else:
        assert settings.slack_secret
        source = ParameterTarget(clients, settings.slack_secret, settings.slack_channel)
    buttons = None
    if settings.mode == Mode.APPROVE:  # the planned actions become buttons, each backed by a record
        from keywatch.approvals.issuer import ButtonIssuer

        buttons = ButtonIssuer(build_approval_store(settings, clients), settings.approval_hours)
    return SlackChannel(source, threads=deliveries, buttons=buttons)


def build_deliveries(
    settings: Settings, clients: AwsClients
) -> tuple[ReplicatedDeliveries | MemoryDeliveries, ThreadStore]:
    """The delivery log (in memory and in every table there is) and where Slack threads are kept."""
    memory = MemoryDeliveries()
    logs: list[MemoryDeliveries | DynamoDeliveries] = [memory]
    threads: ThreadStore = memory
    if settings.idempotency_table:
        logs.append(DynamoDeliveries(clients, settings.idempotency_table, clients.home_region, layout="idempotency"))
    if settings.incidents_table:
        threads = DynamoDeliveries(clients, settings.incidents_table, clients.home_region)
        logs.append(threads)
    return (ReplicatedDeliveries(*logs) if len(logs) > 1 else memory), threads


def build_approval_store(settings: Settings, clients: AwsClients) -> ApprovalStore:
    """Approve mode's records (and silences). Loaded only where approve mode runs: not on every alert."""
    from keywatch.adapters.approvals import DynamoApprovalStore, MemoryApprovalStore

    if settings.incidents_table:
        return DynamoApprovalStore(clients, settings.incidents_table, clients.home_region)
    return MemoryApprovalStore()


def build_silence_store(settings: Settings, clients: AwsClients) -> SilenceStore:
    """Where every alert looks for its key's silence (in the table approve mode writes it to)."""
    if settings.incidents_table:
        return DynamoSilences(clients, settings.incidents_table, clients.home_region)
    return MemorySilences()


def build_incident_store(settings: Settings, clients: AwsClients) -> IncidentStore:
    if settings.incidents_table:
        return DynamoIncidentStore(clients, settings.incidents_table, clients.home_region)
    return MemoryIncidentStore()


def build_index(settings: Settings, clients: AwsClients) -> DynamoKeyIndex | None:
    """The key-to-file-system index, when the deployment has one; without it, events list the configured accounts."""
    if settings.index_table:
        return DynamoKeyIndex(clients, settings.index_table, clients.home_region)
    return None


def build_occurrences(settings: Settings, clients: AwsClients) -> OccurrenceLog:
    """Where repeats of native KMS events under new ids are recognised: the incidents table, or memory."""
    if settings.incidents_table:
        return DynamoOccurrences(clients, settings.incidents_table, clients.home_region)
    return MemoryOccurrences()


def build_deduplicator(settings: Settings, clients: AwsClients) -> Deduplicate:
    if settings.idempotency_table:
        from keywatch.idempotency import LazyIdempotentHandling

        return LazyIdempotentHandling(clients, settings.idempotency_table, clients.home_region)
    return MemoryDeduplicator()
