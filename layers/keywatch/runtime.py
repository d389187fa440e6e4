"""Wiring: settings + clients -> a ready :class:`Watchdog`. Built once per Lambda container."""

from __future__ import annotations

from keywatch.adapters.aws import AwsClients
from keywatch.adapters.incidents import DynamoIncidentStore, IncidentStore, MemoryIncidentStore
from keywatch.adapters.sns import SnsPublisher
from keywatch.config import Settings
from keywatch.engine import Deduplicate, MemoryDeduplicator, Watchdog
from keywatch.notify.channels import Channel, SnsChannel


def build_watchdog(settings: Settings, clients: AwsClients | None = None) -> Watchdog:
    clients = clients or AwsClients(read_role=settings.read_role, write_role=settings.write_role)
    channels: list[Channel] = [
        SnsChannel(SnsPublisher(clients, settings.topic_arn) if settings.topic_arn else None),
    ]
    return Watchdog(settings, clients, channels, incidents=build_incident_store(settings, clients),
                    deduplicate=build_deduplicator(settings, clients))


def build_incident_store(settings: Settings, clients: AwsClients) -> IncidentStore:
    if settings.incidents_table:
        return DynamoIncidentStore(clients, settings.incidents_table, clients.home_region)
    return MemoryIncidentStore()


def build_deduplicator(settings: Settings, clients: AwsClients) -> Deduplicate:
    if settings.idempotency_table:
        from keywatch.idempotency import IdempotentHandling

        return IdempotentHandling(clients, settings.idempotency_table, clients.home_region)
    return MemoryDeduplicator()
