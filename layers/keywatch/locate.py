"""Which file systems use a key, at event time, across the organisation, for a cost that doesn't grow with it.

- One Query on the key in the index (:mod:`keywatch.sweep.index`) names the candidates in every account
  and Region; each one is confirmed live (DescribeFileSystems with its ID, through the account's read
  role) before anything is said or done about it. A file system deleted since the sweep is not listed.
- The key's own account and Region are still listed live (ceil(N/100) pages), so a file system created
  seconds ago is never missed.
- Configured accounts (``KEYWATCH_ACCOUNTS``) that no sweep has written to the index yet are listed live.
- If the index holds no completed sweep of the key's Region (a fresh deployment), or can't be read, the
  result says so and keywatch falls back to listing the configured accounts, as it did before the index.

Accounts are entered concurrently, with bounded workers; role sessions are cached by :class:`AwsClients`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from keywatch.adapters.aws import AccountAccessError
from keywatch.adapters.efs import EfsGateway
from keywatch.adapters.index import Candidate, IndexUnavailable, KeyIndex
from keywatch.adapters.kms import KmsGateway
from keywatch.assess import file_systems_using, normalise_key_arn
from keywatch.keys import split_key_arn
from keywatch.models import FileSystem
from keywatch.observability import logger

WORKERS = 16


@dataclass
class Located:
    """The file systems found, how, and what a person should know about how complete that is."""

    file_systems: list[FileSystem]
    via: Literal["index", "scan"]
    notes: list[str] = field(default_factory=list)

    @property
    def note(self) -> str:
        return " ".join(self.notes)


@dataclass
class _Unread:
    """An account (or one file system in it) keywatch could not enter."""

    account: str
    error: str


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class Locator:
    def __init__(
        self,
        efs: EfsGateway,
        kms: KmsGateway,
        index: KeyIndex | None,
        accounts: Sequence[str],
        workers: int = WORKERS,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.efs = efs
        self.kms = kms
        self.index = index
        self.accounts = list(dict.fromkeys(accounts))
        self.workers = max(1, workers)
        self._clock = clock or (lambda: datetime.now(UTC))

    def alias_target(self, account: str, region: str, alias: str) -> str | None:
        return self.kms.alias_map(account, region).get(alias)

    # --- one account, one file system ----------------------------------------------------------------

    def _listed(self, account: str, region: str, key_arn: str) -> list[FileSystem] | _Unread:
        """Every file system of one account and Region that uses the key: ceil(N/100) pages."""
        try:
            return file_systems_using(key_arn, self.efs.file_systems(account, region), self.alias_target)
        except AccountAccessError as exc:
            logger.warning("account skipped", account=account, region=region, error=str(exc))
            return _Unread(account, str(exc))

    def _confirmed(self, candidate: Candidate, key_arn: str) -> FileSystem | _Unread | None:
        """The candidate as it is now, if it still exists and still uses the key (one call)."""
        try:
            fs = self.efs.get(candidate.file_system_id, candidate.account, candidate.region)
        except AccountAccessError as exc:
            logger.warning("candidate unconfirmed", account=candidate.account, file_system=candidate.file_system_id)
            return _Unread(candidate.account, str(exc))
        if fs is None or normalise_key_arn(fs, self.alias_target) != key_arn.lower():
            logger.info("candidate gone", account=candidate.account, file_system=candidate.file_system_id)
            return None
        return fs

    # --- the event path ------------------------------------------------------------------------------

    def locate(self, key_arn: str) -> Located:
        account, region, _ = split_key_arn(key_arn)
        others = [a for a in self.accounts if a != account]
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="locate") as pool:
            own = pool.submit(self._listed, account, region, key_arn)
            if self.index is None:
                return self._collect(pool, key_arn, "scan", own, others, [])
            swept = pool.submit(self.index.swept, region)
            named = pool.submit(self.index.candidates, key_arn)
            now = self._clock()
            try:
                swept_accounts = {m.account for m in swept.result() if m.live(now)}
                candidates = [c for c in named.result() if c.live(now)]
            except IndexUnavailable as exc:
                logger.warning("index unreadable", key_arn=key_arn, error=str(exc))
                why = f"The key-to-file-system index could not be read ({exc}), so keywatch"
                return self._collect(pool, key_arn, "scan", own, others, [], self._fallback(why, others))
            candidates = [c for c in candidates if (c.account, c.region) != (account, region)]
            if not swept_accounts:
                why = f"The key-to-file-system index holds no completed sweep of {region} yet, so keywatch"
                elsewhere = [c for c in candidates if c.account not in others]  # the others are listed in full
                return self._collect(pool, key_arn, "scan", own, others, elsewhere, self._fallback(why, others))
            unswept = [a for a in others if a not in swept_accounts]
            if unswept:
                logger.info("accounts not in the index yet", region=region, accounts=unswept)
            elsewhere = [c for c in candidates if c.account not in unswept]  # unswept accounts are listed in full
            return self._collect(pool, key_arn, "index", own, unswept, elsewhere)

    @staticmethod
    def _fallback(why: str, others: Sequence[str]) -> str:
        if not others:
            return (
                f"{why} listed only the key's own account; file systems in other accounts are found once a sweep "
                "has filled the index."
            )
        return (
            f"{why} listed the key's own account and the {_plural(len(others), 'configured account')} instead; "
            "accounts not configured are covered once a sweep has filled the index."
        )

    def _collect(
        self,
        pool: ThreadPoolExecutor,
        key_arn: str,
        via: Literal["index", "scan"],
        own: Future[list[FileSystem] | _Unread],
        listed: Sequence[str],
        candidates: Sequence[Candidate],
        note: str | None = None,
    ) -> Located:
        _, region, _ = split_key_arn(key_arn)
        scans = [pool.submit(self._listed, a, region, key_arn) for a in listed]
        confirmations = [pool.submit(self._confirmed, c, key_arn) for c in dict.fromkeys(candidates)]
        found: list[FileSystem] = []
        unread: list[_Unread] = []
        unconfirmed: list[_Unread] = []
        for future in (own, *scans):
            result = future.result()
            if isinstance(result, _Unread):
                unread.append(result)
            else:
                found += result
        seen = {(fs.account, fs.region, fs.file_system_id) for fs in found}
        for confirmation in confirmations:
            outcome = confirmation.result()
            if isinstance(outcome, _Unread):
                unconfirmed.append(outcome)
            elif outcome is not None and (outcome.account, outcome.region, outcome.file_system_id) not in seen:
                seen.add((outcome.account, outcome.region, outcome.file_system_id))
                found.append(outcome)
        located = Located(found, via, [note] if note else [])
        for failed in unread:
            located.notes.append(f"Account {failed.account} ({region}) could not be read: {failed.error}.")
        if unconfirmed:
            where = ", ".join(sorted({u.account for u in unconfirmed}))
            located.notes.append(
                f"{_plural(len(unconfirmed), 'file system')} the index lists on this key in {where} could not be "
                f"confirmed ({unconfirmed[0].error}); they are left out until they can be read."
            )
        logger.info(
            "located",
            key_arn=key_arn,
            via=via,
            found=len(found),
            scanned=len(listed) + 1,
            candidates=len(candidates),
            unconfirmed=len(unconfirmed),
        )
        return located
