"""Wiring: settings + clients -> a ready :class:`Watchdog`. Built once per Lambda container."""

from __future__ import annotations

from keywatch.adapters.aws import AwsClients
from keywatch.adapters.deliveries import DynamoDeliveries, MemoryDeliveries
from keywatch.adapters.incidents import DynamoIncidentStore, IncidentStore, MemoryIncidentStore
from keywatch.adapters.slack import ParameterTarget, StaticTarget, webhook_target
from keywatch.adapters.sns import SnsPublisher
from keywatch.config import Settings
from keywatch.engine import Deduplicate, MemoryDeduplicator, Watchdog
from keywatch.notify.channels import Channel, SnsChannel, recorded
from keywatch.notify.slack import SlackChannel, TargetSource


def build_watchdog(settings: Settings, clients: AwsClients | None = None,
                   slack_webhook: str | None = None) -> Watchdog:
    """``slack_webhook`` (``keywatch replay --slack-webhook``) takes the place of the configured secret."""
    clients = clients or AwsClients(read_role=settings.read_role, write_role=settings.write_role)
    deliveries = build_deliveries(settings, clients)
    channels: list[Channel] = [
        SnsChannel(SnsPublisher(clients, settings.topic_arn) if settings.topic_arn else None),
        SlackChannel(build_slack_source(settings, clients, slack_webhook), threads=deliveries),
    ]
    return Watchdog(settings, clients, recorded(channels, deliveries),
                    incidents=build_incident_store(settings, clients),
                    deduplicate=build_deduplicator(settings, clients))


def build_slack_source(settings: Settings, clients: AwsClients,
                       slack_webhook: str | None = None) -> TargetSource | None:
    if slack_webhook:
        return StaticTarget(webhook_target(slack_webhook))
    if settings.slack_secret:
        return ParameterTarget(clients, settings.slack_secret, settings.slack_channel)
    return None


def build_deliveries(settings: Settings, clients: AwsClients) -> DynamoDeliveries | MemoryDeliveries:
    if settings.incidents_table:
        return DynamoDeliveries(clients, settings.incidents_table, clients.home_region)
    return MemoryDeliveries()


def build_incident_store(settings: Settings, clients: AwsClients) -> IncidentStore:
    if settings.incidents_table:
        return DynamoIncidentStore(clients, settings.incidents_table, clients.home_region)
    return MemoryIncidentStore()


def build_deduplicator(settings: Settings, clients: AwsClients) -> Deduplicate:
    if settings.idempotency_table:
        from keywatch.idempotency import IdempotentHandling

        return IdempotentHandling(clients, settings.idempotency_table, clients.home_region)
    return MemoryDeduplicator()
