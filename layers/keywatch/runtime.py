"""Wiring: settings + clients -> a ready :class:`Watchdog`. Built once per Lambda container."""

from __future__ import annotations

from keywatch.adapters.aws import AwsClients
from keywatch.adapters.sns import SnsPublisher
from keywatch.config import Settings
from keywatch.engine import Watchdog
from keywatch.notify.channels import Channel, SnsChannel


def build_watchdog(settings: Settings, clients: AwsClients | None = None) -> Watchdog:
    clients = clients or AwsClients(read_role=settings.read_role, write_role=settings.write_role)
    channels: list[Channel] = [
        SnsChannel(SnsPublisher(clients, settings.topic_arn) if settings.topic_arn else None),
    ]
    return Watchdog(settings, clients, channels)
