"""Configuration is a model: environment variables are read and validated once, here."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, Field, ValidationError, field_validator

from keywatch.enums import Mode
from keywatch.keys import ACCOUNT, is_account
from keywatch.schedule import sweep_interval
from keywatch.validation import plain, where


class ConfigError(ValueError):
    """A setting is missing or malformed."""


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class Settings(BaseModel):
    mode: Mode = Mode.NOTIFY
    home_account: str | None = Field(
        default=None, pattern=ACCOUNT.pattern, description="saves an STS call per cold start"
    )
    topic_arn: str | None = None
    slack_secret: str | None = Field(default=None, description="Secrets Manager ARN or SSM parameter name")
    slack_channel: str | None = None
    incidents_table: str | None = None
    idempotency_table: str | None = None
    read_role: str | None = "keywatch-read"
    write_role: str | None = "keywatch-remediate"
    own_role_arns: list[str] = []
    accounts: list[str] = Field(default=[], description="other accounts whose EFS may use a key")
    regions: list[str] = []
    countdown_days: list[int] = [7, 1]
    sweep_queue_url: str | None = None
    remediation_queue_url: str | None = Field(
        default=None, description="enforce mode: where file systems an invocation can't finish in time are queued"
    )
    index_table: str | None = Field(default=None, description="the key-to-file-system index (DynamoDB)")
    sweep_schedule: str | None = Field(default=None, description="the sweep's schedule: the index's entries live two")
    # approve mode (Slack buttons): who may approve, where the signing secret is, where approved work queues
    slack_signing_secret: str | None = Field(default=None, description="Secrets Manager ARN or SSM parameter name")
    approvers: list[str] = Field(default=[], description="Slack user IDs allowed to approve")
    approver_group: str | None = Field(default=None, pattern=r"^S[A-Z0-9]{2,30}$", description="a Slack user group ID")
    approvals_queue_url: str | None = None
    approval_hours: int = Field(default=72, ge=1, le=720, description="how long a button stays usable")

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        for account in value:
            if not is_account(account):  # ASCII digits: str.isdigit() also takes superscripts
                raise ValueError(f"{account!r} is not a 12-digit AWS account ID")
        return value

    @field_validator("sweep_schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        sweep_interval(value)  # a schedule keywatch can't read is a configuration error, not a failed sweep
        return value

    @field_validator("approvers")
    @classmethod
    def _approvers(cls, value: list[str]) -> list[str]:
        for user in value:
            if not (user[:1] in ("U", "W") and user[1:].isalnum() and user.isupper() and 3 <= len(user) <= 32):
                raise ValueError(f"{user!r} is not a Slack user ID (U0123ABCD or W0123ABCD)")
        return value

    @field_validator("countdown_days")
    @classmethod
    def _countdown(cls, value: list[int]) -> list[int]:
        if any(d < 0 or d > 30 for d in value):
            raise ValueError("countdown thresholds are days before deletion, between 0 and 30")
        return sorted(set(value), reverse=True)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        raw: dict[str, object] = {
            "mode": env.get("KEYWATCH_MODE") or Mode.NOTIFY.value,
            "home_account": env.get("KEYWATCH_HOME_ACCOUNT") or None,
            "topic_arn": env.get("KEYWATCH_TOPIC_ARN") or None,
            "slack_secret": env.get("KEYWATCH_SLACK_SECRET") or None,
            "slack_channel": env.get("KEYWATCH_SLACK_CHANNEL") or None,
            "incidents_table": env.get("KEYWATCH_INCIDENTS_TABLE") or None,
            "idempotency_table": env.get("KEYWATCH_IDEMPOTENCY_TABLE") or None,
            "read_role": env.get("KEYWATCH_READ_ROLE", "keywatch-read") or None,
            "write_role": env.get("KEYWATCH_WRITE_ROLE", "keywatch-remediate") or None,
            "own_role_arns": _csv(env.get("KEYWATCH_OWN_ROLE_ARNS")),
            "accounts": _csv(env.get("KEYWATCH_ACCOUNTS")),
            "regions": _csv(env.get("KEYWATCH_REGIONS")),
            "countdown_days": _csv(env.get("KEYWATCH_COUNTDOWN_DAYS") or "7,1"),
            "sweep_queue_url": env.get("KEYWATCH_SWEEP_QUEUE_URL") or None,
            "remediation_queue_url": env.get("KEYWATCH_REMEDIATION_QUEUE_URL") or None,
            "index_table": env.get("KEYWATCH_INDEX_TABLE") or None,
            "sweep_schedule": env.get("KEYWATCH_SWEEP_SCHEDULE") or None,
            "slack_signing_secret": env.get("KEYWATCH_SLACK_SIGNING_SECRET") or None,
            "approvers": _csv(env.get("KEYWATCH_SLACK_APPROVERS")),
            "approver_group": env.get("KEYWATCH_SLACK_APPROVER_GROUP") or None,
            "approvals_queue_url": env.get("KEYWATCH_APPROVALS_QUEUE_URL") or None,
            "approval_hours": env.get("KEYWATCH_APPROVAL_HOURS") or 72,
        }
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            # Name the variable a person sets, not the field: "KEYWATCH_ACCOUNTS: '12' is not ..."
            first = exc.errors()[0]
            field = str(first["loc"][0])
            problem = plain(exc).removeprefix(where(first["loc"]))
            raise ConfigError(f"{ENV_NAMES.get(field, field)}{problem}") from exc


ENV_NAMES = {name: f"KEYWATCH_{name.upper()}" for name in Settings.model_fields}
