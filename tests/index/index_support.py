"""Helpers for the index tests: a simulated organisation, a sweep that fills its index, and one event handled
by a new container (its own clients, so that entering accounts is counted)."""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from keywatch.adapters.aws import AwsClients
from keywatch.cli.simulator import HOME_ACCOUNT, SIM_ROLE
from keywatch.config import Settings
from keywatch.efs_events import parse_any
from keywatch.engine import Watchdog
from keywatch.fanout import targets_for
from keywatch.models import EventResult, Mode
from keywatch.runtime import build_watchdog
from keywatch.sweep import Sweeper
from support import load_event

KEY_ACCOUNT = "111122223333"
REGION = "us-east-1"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{KEY_ACCOUNT}:key/{KEY_ID}"
USERS = ("210000000001", "210000000002", "210000000003")  # accounts whose file systems use the central key


def member(n: int) -> str:
    """Accounts that hold file systems on keys of their own, none on the central key."""
    return f"{220000000000 + n:012d}"


def own_key(n: int) -> str:
    return str(uuid.UUID(int=0xABCD_0000_0000_4000_8000_0000_0000_0000 + n))


def organisation(bystanders: int, per_account: int = 2) -> dict[str, Any]:
    """The key in one account (with one file system of its own), two file systems on it in each of three
    other accounts, and ``bystanders`` accounts whose file systems use keys of their own or none."""
    accounts: list[dict[str, Any]] = [
        {
            "id": KEY_ACCOUNT,
            "regions": {
                REGION: {
                    "keys": [{"id": KEY_ID, "aliases": ["alias/central"]}],
                    "file_systems": [{"name": "central-home", "key": KEY_ID}],
                }
            },
        }
    ]
    for i, account in enumerate(USERS):
        accounts.append(
            {
                "id": account,
                "regions": {
                    REGION: {
                        "file_systems": [
                            {"name": f"user{i}-a", "key": KEY_ARN},
                            {"name": f"user{i}-b", "key": KEY_ARN, "tags": {"keywatch:on-key-loss": "unmount"}},
                        ]
                    }
                },
            }
        )
    for n in range(bystanders):
        systems: list[dict[str, Any]] = [{"name": f"own-{j}", "key": own_key(n)} for j in range(per_account)]
        systems.append({"name": "plain", "encrypted": False})
        accounts.append({"id": member(n), "regions": {REGION: {"keys": [{"id": own_key(n)}], "file_systems": systems}}})
    return {"accounts": accounts}


def disable_key(event_id: str | None = None) -> dict[str, Any]:
    raw = copy.deepcopy(load_event("disable_key"))
    raw["detail"]["eventID"] = event_id or f"index-test-{uuid.uuid4()}"
    return raw


def new_container(estate: Any, **settings: Any) -> Watchdog:
    """A watchdog with clients of its own, as a new Lambda container has (nothing entered yet)."""
    # The estate's boto3 session: its service models are loaded already (the tests need no cold start of their own).
    clients = AwsClients(estate.clients.session, read_role=SIM_ROLE, write_role=SIM_ROLE, home_account=HOME_ACCOUNT)
    base = estate.settings(Settings(mode=settings.pop("mode", Mode.NOTIFY)))
    return build_watchdog(base.model_copy(update=settings), clients)


def sweep(estate: Any, **settings: Any) -> Any:
    """A full sweep of every account of the estate, by a sweep worker's own container."""
    watchdog = new_container(estate, **settings)
    return Sweeper(watchdog).run(targets_for(estate.fleet.account_ids, estate.fleet.regions))


@dataclass
class Handled:
    result: EventResult
    calls: Counter[str]

    @property
    def names(self) -> list[str]:
        return sorted(fs.name or "" for fs in self.result.affected)


def handle(estate: Any, raw: dict[str, Any], **settings: Any) -> Handled:
    """Apply the event to the estate as AWS already has, then handle it in a new container."""
    event = parse_any(raw)
    estate.apply(event)
    watchdog = new_container(estate, **settings)
    result = watchdog.handle_event(event)
    return Handled(result, Counter(watchdog.clients.calls))
