"""The sweep's fan-out: which accounts and Regions, one SQS message each.

Kept apart from :mod:`keywatch.sweep` so the scheduled fan-out function imports only this, not the
engine (cold start).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from keywatch.adapters.aws import AwsClients
from keywatch.adapters.organizations import OrganizationsGateway, OrganizationsUnavailable
from keywatch.adapters.sqs import QueueSender
from keywatch.config import ConfigError, Settings
from keywatch.keys import ACCOUNT
from keywatch.observability import logger


class SweepTarget(BaseModel):
    """One account and Region: the unit of work, and the body of a fan-out message."""

    model_config = ConfigDict(frozen=True)

    account: str = Field(pattern=ACCOUNT.pattern)  # ASCII: pydantic's \d takes any script's digits
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
    sweep_id: str | None = None


class ScheduledEvent(BaseModel):
    """The scheduled EventBridge event that starts a sweep. Only its time is used (it names the sweep)."""

    id: str
    source: str
    time: datetime


def sweep_id_for(now: datetime) -> str:
    return f"sweep-{now:%Y-%m-%d}"


def resolve_accounts(settings: Settings, clients: AwsClients, explicit: Sequence[str] = ()) -> tuple[list[str], str]:
    """The accounts to sweep, and where the list came from.

    An explicit list (``--accounts``) wins, then ``settings.accounts``, then AWS Organizations ListAccounts
    (ACTIVE accounts only). Outside an organization, the sweep covers the account it runs in.
    """
    if explicit:
        return list(dict.fromkeys(explicit)), "list"
    if settings.accounts:
        return list(dict.fromkeys(settings.accounts)), "settings"
    # Which account keywatch runs in is needed either way (it is entered without a role): asked while
    # Organizations answers, not after (one round trip less before the sweep's first page).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="home-account") as pool:
        home = pool.submit(lambda: clients.home_account)
        try:
            return OrganizationsGateway(clients).active_accounts(), "organizations"
        except OrganizationsUnavailable as exc:
            logger.info("no organization; sweeping this account only", reason=str(exc))
            return [home.result()], "home"


def targets_for(accounts: Sequence[str], regions: Sequence[str], sweep_id: str | None = None) -> list[SweepTarget]:
    return [SweepTarget(account=a, region=r, sweep_id=sweep_id) for a in accounts for r in regions]


class FanOut(BaseModel):
    sweep_id: str
    account_source: str
    accounts: list[str]
    regions: list[str]
    messages: int


def fan_out(settings: Settings, clients: AwsClients, sweep_id: str, sender: QueueSender | None = None) -> FanOut:
    """The scheduled sweep: one SQS message per account and Region, for the workers."""
    if sender is None:
        if not settings.sweep_queue_url:
            raise ConfigError("sweep_queue_url: KEYWATCH_SWEEP_QUEUE_URL is not set")
        sender = QueueSender(clients, settings.sweep_queue_url)
    accounts, source = resolve_accounts(settings, clients)
    regions = settings.regions or [clients.home_region]
    targets = targets_for(accounts, regions, sweep_id)
    sent = sender.send_all([t.model_dump_json() for t in targets])
    logger.info("sweep fanned out", sweep_id=sweep_id, accounts=len(accounts), regions=regions, messages=sent)
    return FanOut(sweep_id=sweep_id, account_source=source, accounts=accounts, regions=list(regions), messages=sent)
