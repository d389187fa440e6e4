"""The watchdog: parse -> assess -> plan -> act -> report. The Lambda and the CLI both call this."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from keywatch.adapters.aws import AccountAccessError, AwsClients
from keywatch.adapters.efs import EfsGateway
from keywatch.adapters.kms import KmsGateway
from keywatch.assess import Verdict, decide, file_systems_using, prefilter
from keywatch.config import Settings
from keywatch.keys import KeyRef, split_key_arn
from keywatch.models import DELETED, UNKNOWN, Affected, EventResult, FileSystem, KeyEvent, KeyInfo, Outcome
from keywatch.notify.channels import Channel
from keywatch.observability import logger
from keywatch.parse import KmsEventBridgeEvent, to_key_event


class Watchdog:
    def __init__(self, settings: Settings, clients: AwsClients, channels: Sequence[Channel] = ()) -> None:
        self.settings = settings
        self.clients = clients
        self.kms = KmsGateway(clients)
        self.efs = EfsGateway(clients)
        self.channels = list(channels)

    # --- assess -----------------------------------------------------------------------------

    def scan_accounts(self, key_account: str) -> list[str]:
        """The key's own account first, then every other account whose file systems may use it."""
        return [key_account, *(a for a in self.settings.accounts if a != key_account)]

    def file_systems(self, accounts: Iterable[str], region: str) -> Iterable[FileSystem]:
        for account in accounts:
            try:
                yield from self.efs.file_systems(account, region)
            except AccountAccessError as exc:
                logger.warning("account skipped", account=account, region=region, error=str(exc))

    def _alias_target(self, account: str, region: str, alias: str) -> str | None:
        return self.kms.alias_map(account, region).get(alias)

    def find_affected(self, key_arn: str) -> list[FileSystem]:
        ref = KeyRef.parse(key_arn)
        assert ref.account and ref.region
        return file_systems_using(key_arn, self.file_systems(self.scan_accounts(ref.account), ref.region),
                                  self._alias_target)

    def describe_key(self, key_arn: str, with_aliases: bool = False) -> KeyInfo:
        try:
            key = self.kms.describe_key(key_arn)
        except AccountAccessError as exc:
            logger.warning("key unreadable", key_arn=key_arn, error=str(exc))
            _, _, key_id = split_key_arn(key_arn)
            return KeyInfo(arn=key_arn, key_id=key_id, state=UNKNOWN, description=str(exc))
        if with_aliases and key.state != DELETED:
            key = key.model_copy(update={"aliases": self.kms.aliases_of(key_arn)})
        return key

    # --- handle -----------------------------------------------------------------------------

    def handle(self, envelope: KmsEventBridgeEvent) -> EventResult:
        return self.handle_event(to_key_event(envelope))

    def handle_event(self, event: KeyEvent) -> EventResult:
        early = prefilter(event, self.settings.own_role_arns)
        if early is not None:
            return self._result(event, early)

        key_arn = event.key_arn
        assert key_arn is not None
        if KeyRef.parse(key_arn).is_alias:
            resolved = self.kms.resolve_alias(key_arn)
            if resolved is None:
                return self._result(event, Verdict(Outcome.IGNORED, None, f"The alias {key_arn} points at no key."))
            event = event.model_copy(update={"key_arn": resolved})
            key_arn = resolved

        affected = self.find_affected(key_arn)
        key = self.describe_key(key_arn, with_aliases=bool(affected))
        verdict = decide(event, key.state, affected)
        logger.info("assessed", key_arn=key_arn, key_state=key.state, outcome=verdict.outcome.value,
                    affected=len(affected))
        hit = affected if verdict.outcome in (Outcome.ALERT, Outcome.RESOLVED) else []
        result = self._result(event, verdict, key=key, affected=hit)
        if result.outcome in (Outcome.ALERT, Outcome.RESOLVED):
            result.notifications = [channel.send(result) for channel in self.channels]
        return result

    def _result(
        self, event: KeyEvent, verdict: Verdict, key: KeyInfo | None = None, affected: Sequence[FileSystem] = ()
    ) -> EventResult:
        return EventResult(
            event_id=event.event_id,
            event_name=event.event_name,
            key_arn=event.key_arn,
            key_state=key.state if key else None,
            outcome=verdict.outcome,
            severity=verdict.severity,
            reason=verdict.reason,
            affected=[
                Affected(file_system_id=fs.file_system_id, name=fs.name, account=fs.account, region=fs.region,
                         mount_targets=fs.mount_targets, mount_targets_after=fs.mount_targets, policy=fs.policy)
                for fs in affected
            ],
            key_state_after=key.state if key else None,
            event=event,
            key=key,
        )
