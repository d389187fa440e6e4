"""Wiring for the interaction endpoint and the approved-action worker. Built once per Lambda container."""

from __future__ import annotations

from collections.abc import Callable

from botocore.config import Config

from keywatch.adapters.approvals import ApprovalStore
from keywatch.adapters.aws import RETRY_CONFIG, AwsClients
from keywatch.adapters.slack import ParameterTarget, SlackTarget
from keywatch.adapters.slack_interactions import ApprovalQueue, SigningSecret, SlackResponder
from keywatch.approvals.clicks import ENDPOINT_LEASE_SECONDS, ClickHandler
from keywatch.approvals.execute import ApprovedRunner, MessageUpdater
from keywatch.config import ConfigError, Settings
from keywatch.runtime import build_approval_store, build_watchdog

# The endpoint answers Slack within 3 seconds: one attempt per AWS call, short timeouts. Whatever does
# not finish in time is finished by the worker, with the usual retries.
INTERACTIVE_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=1,
    read_timeout=2,
    user_agent_extra="keywatch",
)


def _clients(settings: Settings, config: Config | None = None) -> AwsClients:
    return AwsClients(
        read_role=settings.read_role,
        write_role=settings.write_role,
        home_account=settings.home_account,
        config=config or RETRY_CONFIG,
    )


def slack_target(settings: Settings, clients: AwsClients) -> Callable[[], SlackTarget | None]:
    """The bot token's target (for chat.update and user groups), or None with a webhook or no secret."""
    if not settings.slack_secret:
        return lambda: None
    source = ParameterTarget(clients, settings.slack_secret, settings.slack_channel)

    def target() -> SlackTarget | None:
        return source.target()

    return target


def _durable_store(settings: Settings, clients: AwsClients) -> ApprovalStore:
    """The approval records live in the incidents table: a click is handled in another process (another
    Lambda container) than the alert that wrote them, so records kept in memory could never be found."""
    if not settings.incidents_table:
        raise ConfigError("incidents_table: set KEYWATCH_INCIDENTS_TABLE (approve mode keeps its approvals there)")
    return build_approval_store(settings, clients)


def build_click_handler(settings: Settings, clients: AwsClients | None = None) -> ClickHandler:
    clients = clients or _clients(settings, INTERACTIVE_CONFIG)
    secret_name = settings.slack_signing_secret or settings.slack_secret
    if not secret_name:
        raise ConfigError("slack_signing_secret: set KEYWATCH_SLACK_SIGNING_SECRET (the Slack app's signing secret)")
    signing = SigningSecret(clients, secret_name)
    store = _durable_store(settings, clients)
    watchdog = build_watchdog(settings, clients)
    queue = ApprovalQueue(clients, settings.approvals_queue_url) if settings.approvals_queue_url else None
    return ClickHandler(
        settings,
        store,
        signing.value,
        SlackResponder(),
        slack_target(settings, clients),
        ApprovedRunner(watchdog, store, lease_seconds=ENDPOINT_LEASE_SECONDS),
        queue,
    )


def build_worker(settings: Settings, clients: AwsClients | None = None) -> tuple[ApprovedRunner, MessageUpdater]:
    clients = clients or _clients(settings)
    store = _durable_store(settings, clients)
    runner = ApprovedRunner(build_watchdog(settings, clients), store)
    return runner, MessageUpdater(store, SlackResponder(), slack_target(settings, clients))
