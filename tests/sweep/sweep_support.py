"""Helpers for the sweep tests: a simulated estate with its watchdog, and clients that fail for chosen accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keywatch.adapters.aws import AccountAccessError, AwsClients, Purpose
from keywatch.cli.simulator import HOME_ACCOUNT, SIM_ROLE
from keywatch.engine import Watchdog
from keywatch.fanout import SweepTarget, targets_for
from keywatch.sweep import Sweeper
from support import load_function, populate_server  # noqa: F401 - the sweep tests import them from here


class FailingClients(AwsClients):
    """AwsClients for the simulated estate, where some accounts deny the role and some throttle EFS."""

    def __init__(self, deny: set[str] = frozenset(), throttle: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        super().__init__(read_role=SIM_ROLE, write_role=SIM_ROLE, home_account=HOME_ACCOUNT)
        self.deny = set(deny)
        self.throttle = set(throttle)

    def client(self, service: str, account: str, region: str, purpose: Purpose = "read") -> Any:
        if account in self.deny:
            raise AccountAccessError(f"cannot assume arn:aws:iam::{account}:role/{SIM_ROLE}: AccessDenied")
        client = super().client(service, account, region, purpose)
        if service == "efs" and account in self.throttle and not getattr(client, "_throttled", False):
            client.meta.events.register("before-call.efs.DescribeFileSystems", _throttled)
            client._throttled = True
        return client


class _Http:
    status_code = 400
    headers: dict[str, str] = {}  # noqa: RUF012


def _throttled(**_: Any) -> tuple[Any, dict[str, Any]]:
    """Short-circuit the call with what AWS answers once adaptive retries give up."""
    return _Http(), {
        "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }


@dataclass
class Sim:
    estate: Any
    watchdog: Watchdog

    def sweeper(self, clock: datetime | None = None, **kwargs: Any) -> Sweeper:
        return Sweeper(self.watchdog, clock=(lambda: clock) if clock else None, **kwargs)

    def targets(self, sweep_id: str | None = None) -> list[SweepTarget]:
        return targets_for(self.watchdog.settings.accounts, self.watchdog.settings.regions, sweep_id)

    def sweep(self, clock: datetime | None = None, **kwargs: Any) -> Any:
        return self.sweeper(clock, **kwargs).run(self.targets())

    def fs_id(self, account: str, region: str, name: str) -> str:
        return str(self.estate.file_system_ids[(account, region, name)])

    def mount_targets(self, account: str, region: str, name: str) -> int:
        efs = self.estate.clients.client("efs", account, region)
        return len(efs.describe_mount_targets(FileSystemId=self.fs_id(account, region, name))["MountTargets"])
