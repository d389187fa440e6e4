"""Clients, created once per (service, account, Region), with adaptive retries and call counting.

Accounts other than the one keywatch runs in are entered by assuming a named role. The same
factory serves the Lambda, the CLI against real AWS, and the simulated estate (moto).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from keywatch.iam import needs

Purpose = Literal["read", "write"]

RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=20,
    user_agent_extra="keywatch",
)


class AccountAccessError(RuntimeError):
    """keywatch could not enter an account (role missing, access denied, throttled)."""


class AwsClients:
    """Cache of boto3 clients. ``calls`` counts every API call made through them."""

    def __init__(
        self,
        session: boto3.Session | None = None,
        *,
        read_role: str | None = None,
        write_role: str | None = None,
        home_account: str | None = None,
        partition: str = "aws",
        config: Config = RETRY_CONFIG,
    ) -> None:
        self._session = session or boto3.Session()
        self._read_role = read_role
        self._write_role = write_role
        self._home_account = home_account
        self._partition = partition
        self._config = config
        self._clients: dict[tuple[str, str, str, Purpose], Any] = {}
        self._sessions: dict[tuple[str, Purpose], boto3.Session] = {}
        self._lock = threading.RLock()
        self.calls: Counter[str] = Counter()

    def _count(self, event_name: str, **_: Any) -> None:
        # event_name is "before-call.<service>.<Operation>"
        _, service, operation = event_name.split(".", 2)
        with self._lock:  # the sweep calls from many threads; Counter += is not atomic
            self.calls[f"{service}:{operation}"] += 1

    def _new_client(self, session: boto3.Session, service: str, region: str) -> Any:
        client = session.client(service, region_name=region, config=self._config)  # type: ignore[call-overload]
        client.meta.events.register("before-call.*.*", self._count)
        return client

    @property
    def home_account(self) -> str:
        with self._lock:
            if self._home_account is None:
                sts = self._new_client(self._session, "sts", self._session.region_name or "us-east-1")
                self._home_account = str(sts.get_caller_identity()["Account"])
            return self._home_account

    @needs("sts:AssumeRole")
    def _session_for(self, account: str, purpose: Purpose) -> boto3.Session:
        if account == self.home_account:
            return self._session
        role = self._write_role if purpose == "write" else self._read_role
        if not role:
            raise AccountAccessError(f"no role is configured to enter account {account}")
        with self._lock:
            cached = self._sessions.get((account, purpose))
            if cached is not None:
                return cached
            role_arn = role if role.startswith("arn:") else f"arn:{self._partition}:iam::{account}:role/{role}"
            region = self._session.region_name or "us-east-1"
            sts = self._new_client(self._session, "sts", region)
            try:
                creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="keywatch")["Credentials"]
            except (ClientError, BotoCoreError) as exc:
                raise AccountAccessError(f"cannot assume {role_arn}: {exc}") from exc
            session = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=region,
            )
            self._sessions[(account, purpose)] = session
            return session

    def client(self, service: str, account: str, region: str, purpose: Purpose = "read") -> Any:
        key = (service, account, region, purpose)
        with self._lock:
            cached = self._clients.get(key)
            if cached is None:
                cached = self._new_client(self._session_for(account, purpose), service, region)
                self._clients[key] = cached
            return cached

    @property
    def home_region(self) -> str:
        return self._session.region_name or "us-east-1"

    def home_client(self, service: str, region: str) -> Any:
        return self.client(service, self.home_account, region)

    def total_calls(self, prefix: str = "") -> int:
        return sum(n for name, n in self.calls.items() if name.startswith(prefix))


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
