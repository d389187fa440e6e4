"""Clients, created once per (service, account, Region), with adaptive retries and call counting.

Accounts other than the one keywatch runs in are entered by assuming a named role. The same
factory serves the Lambda, the CLI against real AWS, and the simulated estate (moto).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from keywatch.iam import needs

if TYPE_CHECKING:  # boto3-stubs, a dev dependency: clients are typed per service for mypy --strict
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_efs import EFSClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient

Purpose = Literal["read", "write"]
ROLE_SESSION_SECONDS = 3600
REENTER_AFTER_SECONDS = 50 * 60  # well before the role session expires, for long-lived Lambda containers

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
        self._clients: dict[tuple[str, str, str, Purpose], tuple[Any, float]] = {}
        self._entered: dict[tuple[str, Purpose], tuple[dict[str, str], float]] = {}
        self._entry_locks: dict[tuple[str, Purpose], threading.Lock] = {}
        self._sts: Any = None
        self._lock = threading.RLock()
        self.calls: Counter[str] = Counter()

    def _count(self, event_name: str, **_: Any) -> None:
        # event_name is "before-call.<service>.<Operation>"
        service, operation = event_name.split(".", 2)[1:]
        with self._lock:  # the sweep calls from many threads; Counter += is not atomic
            self.calls[f"{service}:{operation}"] += 1

    def _new_client(self, session: boto3.Session, service: str, region: str, credentials: dict[str, str]) -> Any:
        # One session for every account: its loaded service models are shared by all the clients.
        with self._lock:  # creating clients from one session is not thread-safe; using them is
            client = session.client(
                service,
                region_name=region,
                config=self._config,  # type: ignore[call-overload]
                **credentials,
            )
        client.meta.events.register("before-call.*.*", self._count)
        return client

    @property
    def session(self) -> boto3.Session:
        """The one boto3 session every client comes from (its loaded service models are shared)."""
        return self._session

    @property
    def home_account(self) -> str:
        with self._lock:
            if self._home_account is None:
                sts = self._new_client(self._session, "sts", self.home_region, {})
                self._home_account = str(sts.get_caller_identity()["Account"])
            return self._home_account

    @needs("sts:AssumeRole")
    def _credentials_for(self, account: str, purpose: Purpose) -> dict[str, str]:
        """Client arguments for an account: none for keywatch's own, a role's session otherwise."""
        if account == self.home_account:
            return {}
        role = self._write_role if purpose == "write" else self._read_role
        if not role:
            raise AccountAccessError(f"no role is configured to enter account {account}")
        role_arn = role if role.startswith("arn:") else f"arn:{self._partition}:iam::{account}:role/{role}"
        with self._lock:
            if self._sts is None:
                self._sts = self._new_client(self._session, "sts", self.home_region, {})
            sts = self._sts
        try:
            creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="keywatch", DurationSeconds=ROLE_SESSION_SECONDS)[
                "Credentials"
            ]
        except (ClientError, BotoCoreError) as exc:
            raise AccountAccessError(f"cannot assume {role_arn}: {exc}") from exc
        return {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }

    @overload
    def client(self, service: Literal["kms"], account: str, region: str, purpose: Purpose = ...) -> KMSClient: ...
    @overload
    def client(self, service: Literal["efs"], account: str, region: str, purpose: Purpose = ...) -> EFSClient: ...
    @overload
    def client(self, service: Literal["sns"], account: str, region: str, purpose: Purpose = ...) -> SNSClient: ...
    @overload
    def client(self, service: Literal["sqs"], account: str, region: str, purpose: Purpose = ...) -> SQSClient: ...
    @overload
    def client(
        self, service: Literal["dynamodb"], account: str, region: str, purpose: Purpose = ...
    ) -> DynamoDBClient: ...
    @overload
    def client(self, service: Literal["sts"], account: str, region: str, purpose: Purpose = ...) -> STSClient: ...
    @overload
    def client(self, service: Literal["ec2"], account: str, region: str, purpose: Purpose = ...) -> EC2Client: ...
    @overload
    def client(
        self, service: Literal["organizations"], account: str, region: str, purpose: Purpose = ...
    ) -> OrganizationsClient: ...
    @overload
    def client(
        self, service: Literal["secretsmanager"], account: str, region: str, purpose: Purpose = ...
    ) -> SecretsManagerClient: ...
    @overload
    def client(self, service: Literal["ssm"], account: str, region: str, purpose: Purpose = ...) -> SSMClient: ...
    @overload
    def client(self, service: str, account: str, region: str, purpose: Purpose = ...) -> Any: ...
    def client(self, service: str, account: str, region: str, purpose: Purpose = "read") -> Any:
        """A cached client. Other accounts are entered once per (account, purpose) and re-entered before
        the role session expires; one slow account never holds up the others."""
        key = (service, account, region, purpose)
        now = time.monotonic()
        cached = self._clients.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        with self._lock:
            entry_lock = self._entry_locks.setdefault((account, purpose), threading.Lock())
        with entry_lock:
            cached = self._clients.get(key)
            if cached is not None and cached[1] > now:
                return cached[0]
            entered = self._entered.get((account, purpose))
            if entered is None or entered[1] <= now:
                entered = (self._credentials_for(account, purpose), now + REENTER_AFTER_SECONDS)
                self._entered[(account, purpose)] = entered
            credentials, expires = entered
            client = self._new_client(self._session, service, region, credentials)
            self._clients[key] = (client, expires if credentials else float("inf"))
            return client

    @property
    def home_region(self) -> str:
        return self._session.region_name or "us-east-1"

    @overload
    def home_client(self, service: Literal["kms"], region: str) -> KMSClient: ...
    @overload
    def home_client(self, service: Literal["efs"], region: str) -> EFSClient: ...
    @overload
    def home_client(self, service: Literal["sns"], region: str) -> SNSClient: ...
    @overload
    def home_client(self, service: Literal["sqs"], region: str) -> SQSClient: ...
    @overload
    def home_client(self, service: Literal["dynamodb"], region: str) -> DynamoDBClient: ...
    @overload
    def home_client(self, service: Literal["sts"], region: str) -> STSClient: ...
    @overload
    def home_client(self, service: Literal["ec2"], region: str) -> EC2Client: ...
    @overload
    def home_client(self, service: Literal["organizations"], region: str) -> OrganizationsClient: ...
    @overload
    def home_client(self, service: Literal["secretsmanager"], region: str) -> SecretsManagerClient: ...
    @overload
    def home_client(self, service: Literal["ssm"], region: str) -> SSMClient: ...
    @overload
    def home_client(self, service: str, region: str) -> Any: ...
    def home_client(self, service: str, region: str) -> Any:
        return self.client(service, self.home_account, region)

    def total_calls(self, prefix: str = "") -> int:
        return sum(n for name, n in self.calls.items() if name.startswith(prefix))


AWS_ERRORS = (ClientError, BotoCoreError)  # what a call through these clients can raise


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def describe_error(exc: BaseException) -> str:
    """An error's type and AWS error code, never its message (which could quote a value)."""
    if isinstance(exc, ClientError):
        return f"{type(exc).__name__}({error_code(exc)})"
    return type(exc).__name__


def put_item_if(db: Any, **put_item_args: Any) -> bool:
    """DynamoDB PutItem with a ConditionExpression: False when the condition fails, errors raised."""
    try:
        db.put_item(**put_item_args)
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


class HomeTable:
    """A keywatch table in the home account (the incidents, idempotency or index table): its name, and the
    DynamoDB client of its Region. The stores built on it share this and nothing else."""

    def __init__(self, clients: AwsClients, table_name: str, region: str) -> None:
        self._clients = clients
        self.table_name = table_name
        self._region = region

    @property
    def _db(self) -> DynamoDBClient:
        return self._clients.home_client("dynamodb", self._region)

    @staticmethod
    def _key(pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    @needs("dynamodb:Query", scope="state")
    def _partition(self, pk: str, prefix: str) -> Iterator[dict[str, Any]]:
        """The items of one partition whose sort key starts with ``prefix``, as DynamoDB returns them, every page."""
        for page in self._db.get_paginator("query").paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": prefix}},
            ConsistentRead=True,
        ):
            yield from page.get("Items", [])
