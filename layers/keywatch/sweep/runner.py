"""The sweep's runner: list, look up each distinct key once, assess, respond, count down.

:class:`Sweeper` lists file systems (ceil(N/100) DescribeFileSystems per account and Region), looks
up each DISTINCT key once (DescribeKey, and ListGrants while the key is Enabled), assesses (pure,
:mod:`keywatch.sweep.assess`), responds through the engine and sends countdown reminders before a
scheduled deletion. One account that fails is reported and never stops the rest.
:func:`sweep_target` is a worker's job in the distributed sweep (one account and Region per message).
"""

from __future__ import annotations

import queue
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from keywatch.adapters.aws import AccountAccessError, AwsClients
from keywatch.adapters.countdowns import CountdownLedger, DynamoCountdownLedger, MemoryCountdownLedger
from keywatch.adapters.efs import to_file_system
from keywatch.adapters.index import IndexUnavailable
from keywatch.adapters.kms import KmsError
from keywatch.assess import Verdict, grant_holders
from keywatch.config import Settings
from keywatch.engine import Watchdog
from keywatch.errors import HandlingIncomplete
from keywatch.fanout import SweepTarget, sweep_id_for
from keywatch.keys import split_key_arn
from keywatch.models import COUNTDOWN_EVENT, UNKNOWN, Actor, FileSystem, KeyEvent, KeyInfo, KeyState, Outcome, Severity
from keywatch.observability import logger, metrics
from keywatch.policy import PolicyUnreadable, statements
from keywatch.sweep.assess import (
    EXPIRY_WARNING_DAYS,
    _days,
    alias_locations,
    assess,
    call_floor,
    classify,
    key_arn_of,
    needs_response,
    unfinished_actions,
    verdict_for,
)
from keywatch.sweep.countdowns import countdown_due, countdown_result
from keywatch.sweep.index import entries_for, index_ttl, marker_for
from keywatch.sweep.models import (
    RESPONDED,
    Assessment,
    CountdownResult,
    Finding,
    KeyLookup,
    SweepReport,
    SweepSummary,
    TargetError,
)

DEFAULT_WORKERS = 8
INDEX_CHUNK = 100  # index entries per write task: four BatchWriteItem calls
SWEEP_ERRORS = (AccountAccessError, ClientError, BotoCoreError, KmsError, HandlingIncomplete, IndexUnavailable)


# --- the sweep ------------------------------------------------------------------------------------

ProgressCallback = Callable[[str, int, int], None]  # (phase, done, total)
T = TypeVar("T")
R = TypeVar("R")


def build_ledger(settings: Settings, clients: AwsClients) -> CountdownLedger:
    if settings.incidents_table:
        return DynamoCountdownLedger(clients, settings.incidents_table, clients.home_region)
    return MemoryCountdownLedger()


class Sweeper:
    """Runs the sweep for a set of account-Region targets with one :class:`Watchdog`."""

    def __init__(
        self,
        watchdog: Watchdog,
        ledger: CountdownLedger | None = None,
        *,
        workers: int = DEFAULT_WORKERS,
        expiry_days: int = EXPIRY_WARNING_DAYS,
        clock: Callable[[], datetime] | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.watchdog = watchdog
        self.ledger = ledger if ledger is not None else build_ledger(watchdog.settings, watchdog.clients)
        self.workers = max(1, workers)
        self.expiry_days = expiry_days
        self._clock = clock or (lambda: datetime.now(UTC))
        self._progress = progress

    # --- helpers ---------------------------------------------------------------------------------

    def _map(self, phase: str, fn: Callable[[T], R], items: Sequence[T]) -> list[tuple[T, R]]:
        """Run ``fn`` over items with bounded concurrency, reporting progress. Results keep input order."""
        total = len(items)
        if self._progress:
            self._progress(phase, 0, total)
        if not items:
            return []
        done: dict[int, R] = {}
        with ThreadPoolExecutor(max_workers=min(self.workers, total), thread_name_prefix="sweep") as pool:
            futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
            for count, future in enumerate(as_completed(futures), start=1):
                done[futures[future]] = future.result()
                if self._progress:
                    self._progress(phase, count, total)
        return [(item, done[i]) for i, item in enumerate(items)]

    def _list(self, target: SweepTarget, want: Callable[[str], None] | None = None) -> list[FileSystem] | TargetError:
        """Every file system of one target. The pages are fetched one after another as fast as AWS answers (the
        floor, ceil(N/100) round trips), in a thread of their own: reading a page overlaps fetching the next."""
        found: list[FileSystem] = []
        try:
            for page in prefetched(self.watchdog.efs.pages(target.account, target.region)):
                for raw in page:
                    fs = to_file_system(raw, target.account, target.region)
                    found.append(fs)
                    if want is not None and classify(fs) == "key" and (arn := key_arn_of(fs, {})):
                        want(arn)
            return found
        except SWEEP_ERRORS as exc:
            logger.warning("sweep target failed", account=target.account, region=target.region, error=str(exc))
            metrics.add_metric(name="SweepAccountFailed", unit="Count", value=1)
            return TargetError(account=target.account, region=target.region, error=f"{type(exc).__name__}: {exc}")

    def _aliases(self, where: tuple[str, str]) -> dict[str, str]:
        try:
            return self.watchdog.kms.alias_map(*where)
        except SWEEP_ERRORS as exc:
            logger.warning("aliases unreadable", account=where[0], region=where[1], error=str(exc))
            return {}

    def _lookup(self, key_arn: str) -> KeyLookup:
        try:
            key = self.watchdog.describe_key(key_arn)
        except (KmsError, ClientError, BotoCoreError) as exc:
            _, _, key_id = split_key_arn(key_arn)
            key = KeyInfo(arn=key_arn, key_id=key_id, state=UNKNOWN, description=f"{type(exc).__name__}: {exc}")
        if key.state != KeyState.ENABLED or key.key_manager == "AWS":
            return KeyLookup(key)  # every file system on a broken key is a finding already; grants add nothing
        holders: frozenset[str] | None = None
        try:
            holders = grant_holders(self.watchdog.kms.efs_grants(key.arn))
        except SWEEP_ERRORS as exc:
            logger.warning("grants unreadable", key_arn=key_arn, error=str(exc))
        return KeyLookup(key, holders, self._policy(key.arn))

    def _policy(self, key_arn: str) -> tuple[dict[str, Any], ...] | None:
        """The key policy's statements: a policy that shuts EFS out is found even if its PutKeyPolicy event was
        missed. None (with a warning) when it can't be read: that is not evidence of a problem."""
        try:
            return tuple(statements(self.watchdog.kms.key_policy(key_arn)))
        except (*SWEEP_ERRORS, PolicyUnreadable) as exc:
            logger.warning("key policy unreadable", key_arn=key_arn, error=type(exc).__name__)
            return None

    def _event(self, key: KeyInfo, name: str, event_id: str, now: datetime) -> KeyEvent:
        account, region, _ = split_key_arn(key.arn)
        return KeyEvent(
            event_id=event_id,
            event_name=name,
            kind="sweep",
            event_time=now,
            key_arn=key.arn,
            key_ref=key.arn,
            account=account,
            region=region,
            actor=Actor(type="keywatch sweep"),
            deletion_date=key.deletion_date,
            reported_key_state=key.state,
        )

    # --- the run -----------------------------------------------------------------------------------

    def run(self, targets: Sequence[SweepTarget], sweep_id: str | None = None) -> SweepReport:
        started = self._clock()
        calls_before = Counter(self.watchdog.clients.calls)
        sweep_id = sweep_id or sweep_id_for(started)
        targets = list(dict.fromkeys(targets))
        self._targets = targets

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="sweep-keys") as pool:
            keys = _KeyLookups(pool, self._lookup, self._progress)
            # 1. every file system, per account and Region: ceil(N/100) calls each. Each distinct key is
            #    looked up as soon as a page names it, while the next pages are still being listed.
            listed = self._map("file systems", lambda target: self._list(target, keys.want), targets)
            errors = [r for _, r in listed if isinstance(r, TargetError)]
            swept = [(t, r) for t, r in listed if not isinstance(r, TargetError)]
            per_target = [r for _, r in swept]
            file_systems = [fs for found in per_target for fs in found]

            # 2. aliases, only where a file system stores one (EFS itself stores key ARNs)
            alias_maps = dict(self._map("aliases", self._aliases, sorted(alias_locations(file_systems))))

            # 3. each distinct key once
            arns = sorted({arn for fs in file_systems if (arn := key_arn_of(fs, alias_maps))})
            lookups = keys.results(arns)

        # 4. findings (pure)
        now = self._clock()
        assessment = assess(file_systems, lookups, alias_maps, now, self.expiry_days)

        # 5. incidents, policies and modes: the engine
        report = SweepReport(
            findings=assessment.findings,
            unencrypted=assessment.unencrypted,
            summary=SweepSummary(
                sweep_id=sweep_id,
                started_at=started,
                duration_seconds=0,
                accounts=len({t.account for t in targets}),
                regions=sorted({t.region for t in targets}),
                targets=len(targets),
                targets_failed=len(errors),
                file_systems=len(file_systems),
                encrypted=sum(1 for fs in file_systems if fs.encrypted),
                customer_managed=assessment.customer_managed,
                aws_managed=assessment.aws_managed,
                unencrypted=len(assessment.unencrypted),
                distinct_keys=len(arns),
                findings=len(assessment.findings),
                by_severity={},
                by_problem={},
                errors=errors,
            ),
        )
        by_fs = {fs.file_system_id: fs for fs in file_systems}
        report.summary.indexed, index_errors = self._index(swept, assessment.key_of, now, sweep_id)
        report.summary.errors += index_errors
        self._respond(report, assessment, lookups, by_fs, now)
        self._countdowns(report, assessment, lookups, by_fs, now)

        summary = report.summary
        summary.by_severity = dict(Counter(f.severity.value for f in report.findings))
        summary.by_problem = dict(Counter(f.problem for f in report.findings))
        summary.api_calls = dict(sorted((Counter(self.watchdog.clients.calls) - calls_before).items()))
        summary.api_call_floor = call_floor([len(found) for found in per_target], len(arns))
        summary.duration_seconds = round((self._clock() - started).total_seconds(), 3)
        logger.info(
            "swept",
            sweep_id=sweep_id,
            targets=len(targets),
            failed=len(errors),
            file_systems=len(file_systems),
            distinct_keys=len(arns),
            findings=len(report.findings),
        )
        return report

    def fill_index(self, targets: Sequence[SweepTarget], sweep_id: str | None = None) -> int:
        """Only the index part of a sweep: list each target and write its entries and marker, with no key
        lookups, incidents or notifications (the simulated estate's first sweep). Returns the entries written."""
        now = self._clock()
        sweep_id = sweep_id or sweep_id_for(now)
        targets = list(dict.fromkeys(targets))
        listed = self._map("file systems", self._list, targets)
        swept = [(t, r) for t, r in listed if not isinstance(r, TargetError)]
        file_systems = [fs for _, found in swept for fs in found]
        alias_maps = dict(self._map("aliases", self._aliases, sorted(alias_locations(file_systems))))
        key_of = {fs.file_system_id: key_arn_of(fs, alias_maps) for fs in file_systems}
        indexed, index_errors = self._index(swept, key_of, now, sweep_id)
        errors = [r for _, r in listed if isinstance(r, TargetError)] + index_errors
        if errors:
            raise TargetFailed("; ".join(e.error for e in errors))
        return indexed

    def _index(
        self,
        swept: Sequence[tuple[SweepTarget, list[FileSystem]]],
        key_of: Mapping[str, str | None],
        now: datetime,
        sweep_id: str,
    ) -> tuple[int, list[TargetError]]:
        """Write each account and Region listed in full to the key-to-file-system index, then its marker.

        A target whose listing failed writes nothing and no marker: the event path keeps listing it live.
        Returns the entries written and the targets whose writes failed.
        """
        index = self.watchdog.index
        if index is None:
            return 0, []
        ttl = index_ttl(self.watchdog.settings.sweep_schedule)
        written, errors = 0, []
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="sweep-index") as pool:
            # every target's entries at once, INDEX_CHUNK at a time (BatchWriteItem takes 25), then each marker
            writes = []
            for target, found in swept:
                entries = entries_for(found, key_of, now, ttl, seen_by=sweep_id)
                chunks = [entries[i : i + INDEX_CHUNK] for i in range(0, len(entries), INDEX_CHUNK)]
                writes.append((target, len(entries), [pool.submit(index.put, chunk) for chunk in chunks]))
            for target, count, futures in writes:
                try:
                    for future in futures:
                        future.result()
                    index.mark_swept(marker_for(target.account, target.region, now, ttl, sweep_id, count))
                except SWEEP_ERRORS as exc:
                    logger.warning("index write failed", account=target.account, region=target.region, error=str(exc))
                    errors.append(
                        TargetError(
                            account=target.account,
                            region=target.region,
                            error=f"writing the index: {type(exc).__name__}: {exc}",
                        )
                    )
                    continue
                written += count
        return written, errors

    def _respond(
        self,
        report: SweepReport,
        assessment: Assessment,
        lookups: Mapping[str, KeyLookup],
        by_fs: Mapping[str, FileSystem],
        now: datetime,
    ) -> None:
        day = f"{now:%Y-%m-%d}"
        at_risk: dict[str, list[Finding]] = defaultdict(list)
        for f in report.findings:
            arn = assessment.key_of.get(f.file_system_id)
            if f.problem in RESPONDED and arn is not None and arn in lookups:
                at_risk[arn].append(f)
        incidents = self.watchdog.incidents
        summary = report.summary
        for arn, findings in sorted(at_risk.items()):
            key = lookups[arn].key
            affected = [by_fs[f.file_system_id] for f in findings]
            event = self._event(key, "Sweep", f"sweep-{day}-{key.key_id}", now)
            verdict = verdict_for(event, key, findings, affected)
            try:
                current = incidents.current(key.arn) if incidents is not None else None
                fs_ids = [fs.file_system_id for fs in affected]
                if not needs_response(current, verdict.severity, fs_ids) and not unfinished_actions(current):
                    summary.incidents_known += 1
                    continue
                report.results.append(self.watchdog.respond(event, key, affected, verdict=verdict))
            except SWEEP_ERRORS as exc:
                self._respond_failed(report, key, exc)
                continue
            if current and current.get("status") == "open":
                summary.incidents_updated += 1
            else:
                summary.incidents_opened += 1
        if incidents is None:
            return
        # A key that is Enabled again, with an open incident: resolve it and restore what the policy removed.
        restored: set[str] = set()
        using: dict[str, list[FileSystem]] = defaultdict(list)
        for fs_id, arn in assessment.key_of.items():
            if arn:
                using[arn].append(by_fs[fs_id])
        for arn, lookup in sorted(lookups.items()):
            key = lookup.key
            if key.state != KeyState.ENABLED or key.key_manager == "AWS" or arn in at_risk or not using.get(arn):
                continue
            try:
                current = incidents.current(key.arn)
                if not current or current.get("status") != "open":
                    continue
                n = len(using[arn])
                verdict = Verdict(
                    Outcome.RESOLVED,
                    Severity.INFO,
                    f"The sweep found the key Enabled again, with its EFS grants; "
                    f"{n} EFS file system{'s' if n != 1 else ''} can use it.",
                )
                event = self._event(key, "Sweep", f"sweep-{day}-{key.key_id}", now)
                report.results.append(self.watchdog.respond(event, key, using[arn], verdict=verdict))
            except SWEEP_ERRORS as exc:
                self._respond_failed(report, key, exc)
                continue
            summary.incidents_resolved += 1
            restored.add(arn)
        self._restore_waiting(report, lookups, by_fs, now, at_risk.keys() | restored)

    def _restore_waiting(
        self,
        report: SweepReport,
        lookups: Mapping[str, KeyLookup],
        by_fs: Mapping[str, FileSystem],
        now: datetime,
        done: Collection[str],
    ) -> None:
        """Mount targets removed and never put back, on a key that is Enabled now, are restored: whether or
        not the key's incident is still open (an EnableKey handled during an unmount may have closed it)."""
        incidents = self.watchdog.incidents
        if incidents is None:
            return
        targets = {(t.account, t.region) for t in self._targets}
        try:
            waiting = incidents.waiting_snapshots()
        except SWEEP_ERRORS as exc:
            logger.warning("mount-target records unreadable", error=str(exc))
            report.summary.errors.append(TargetError(account="-", region="-", error=f"records: {type(exc).__name__}"))
            return
        for key_arn, fs_ids in waiting.items():
            account, region, _ = split_key_arn(key_arn)
            if (account, region) not in targets or key_arn.lower() in done:
                continue
            lookup = lookups.get(key_arn.lower())
            try:
                key = lookup.key if lookup is not None else self.watchdog.describe_key(key_arn)
                if key.state != KeyState.ENABLED:
                    continue
                found = [by_fs.get(fs_id) or self._find_file_system(fs_id, region) for fs_id in fs_ids]
                file_systems = [fs for fs in found if fs is not None]
                if not file_systems:
                    continue
                verdict = Verdict(
                    Outcome.RESOLVED,
                    Severity.INFO,
                    "The sweep found the key Enabled while mount targets keywatch removed were still missing; "
                    "restoring them from the record.",
                )
                event = self._event(key, "Sweep", f"sweep-{now:%Y-%m-%d}-{key.key_id}-restore", now)
                report.results.append(self.watchdog.respond(event, key, file_systems, verdict=verdict))
            except SWEEP_ERRORS as exc:
                self._respond_failed(
                    report, lookup.key if lookup else KeyInfo(arn=key_arn, key_id="", state=UNKNOWN), exc
                )

    def _find_file_system(self, fs_id: str, region: str) -> FileSystem | None:
        home = self.watchdog.clients.home_account
        for account in dict.fromkeys([home, *self.watchdog.settings.accounts]):
            found = self.watchdog.efs.get(fs_id, account, region)
            if found is not None:
                return found
        return None

    @staticmethod
    def _respond_failed(report: SweepReport, key: KeyInfo, exc: Exception) -> None:
        if isinstance(exc, HandlingIncomplete):
            report.results.append(exc.result)  # what was done; the rest fails the target, which is retried
        account, region, _ = split_key_arn(key.arn)
        logger.warning("sweep respond failed", key_arn=key.arn, error=str(exc))
        report.summary.errors.append(
            TargetError(account=account, region=region, error=f"responding for {key.arn}: {type(exc).__name__}: {exc}")
        )

    def _countdowns(
        self,
        report: SweepReport,
        assessment: Assessment,
        lookups: Mapping[str, KeyLookup],
        by_fs: Mapping[str, FileSystem],
        now: datetime,
    ) -> None:
        """One reminder per threshold per key pending deletion that file systems use."""
        thresholds = self.watchdog.settings.countdown_days
        pending: dict[str, list[Finding]] = defaultdict(list)
        for f in report.findings:
            arn = assessment.key_of.get(f.file_system_id)
            if f.key_state == KeyState.PENDING_DELETION and arn is not None and arn in lookups:
                pending[arn].append(f)
        for arn, findings in sorted(pending.items()):
            key = lookups[arn].key
            deletion = key.deletion_date
            due = countdown_due(deletion, now, thresholds)
            if due is None or deletion is None:
                continue
            date = f"{deletion:%Y-%m-%d}"
            try:
                if not self.ledger.claim(key.arn, due, date):
                    continue
            except SWEEP_ERRORS as exc:
                self._respond_failed(report, key, exc)
                continue
            left = _days(deletion - now)
            affected = [by_fs[f.file_system_id] for f in findings]
            result = countdown_result(
                self._event(key, COUNTDOWN_EVENT, f"countdown-{key.key_id}-{due}d-{date}", now), key, affected, left
            )
            result.notifications = [channel.send(result) for channel in self.watchdog.channels]
            if any(n.status == "failed" for n in result.notifications):
                # Not sent everywhere: un-claim it, so that the next sweep sends it (the delivery log keeps
                # the channels that did carry it from carrying it twice).
                try:
                    self.ledger.release(key.arn, due, date)
                except SWEEP_ERRORS as exc:
                    self._respond_failed(report, key, exc)
                else:
                    report.summary.errors.append(
                        TargetError(
                            account=key.arn.split(":")[4],
                            region=key.arn.split(":")[3],
                            error=f"countdown for {key.arn} not delivered everywhere; the next sweep sends it again",
                        )
                    )
            report.countdowns.append(
                CountdownResult(
                    key_arn=key.arn,
                    threshold_days=due,
                    days_left=left,
                    deletion_date=deletion,
                    file_systems=[fs.file_system_id for fs in affected],
                    notifications=result.notifications,
                )
            )
            report.summary.countdowns_sent += 1


class _KeyLookups:
    """Each distinct key looked up once, in the background, as soon as the sweep first sees it."""

    def __init__(
        self, pool: ThreadPoolExecutor, lookup: Callable[[str], KeyLookup], progress: ProgressCallback | None
    ) -> None:
        self._pool = pool
        self._lookup = lookup
        self._progress = progress
        self._futures: dict[str, Future[KeyLookup]] = {}
        self._done = 0
        self._lock = threading.Lock()

    def want(self, key_arn: str) -> None:
        with self._lock:
            if key_arn in self._futures:
                return
            future = self._pool.submit(self._lookup, key_arn)
            self._futures[key_arn] = future
        future.add_done_callback(self._tick)

    def _tick(self, _: Future[KeyLookup]) -> None:
        with self._lock:
            self._done += 1
            done, total = self._done, len(self._futures)
        if self._progress:
            self._progress("keys", done, total)

    def results(self, key_arns: Sequence[str]) -> dict[str, KeyLookup]:
        for arn in key_arns:
            self.want(arn)
        return {arn: self._futures[arn].result() for arn in key_arns}


def prefetched(items: Iterable[T], depth: int = 4) -> Iterator[T]:
    """``items``, produced by a thread of their own up to ``depth`` ahead of the consumer (exceptions included).

    A paginator asks for the next page only when the last one has been consumed; here the next request goes out
    as soon as the previous answer is in, so the time spent on each page hides behind the next round trip.
    """
    ahead: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(kind: str, value: Any) -> bool:
        """Put one item, unless the consumer has gone (then the producer ends quietly)."""
        while not stop.is_set():
            try:
                ahead.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer("item", item):
                    return
            offer("done", None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            offer("error", exc)

    threading.Thread(target=produce, name="sweep-pages", daemon=True).start()
    try:
        while True:
            kind, value = ahead.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()


class TargetFailed(RuntimeError):
    """An account and Region could not be swept; its SQS message fails alone and is retried."""


def sweep_target(sweeper: Sweeper, target: SweepTarget) -> SweepReport:
    """A worker's job: sweep one account and Region. Raises :class:`TargetFailed` if it could not be read."""
    report = sweeper.run([target], sweep_id=target.sweep_id)
    if report.summary.errors:
        raise TargetFailed("; ".join(e.error for e in report.summary.errors))
    return report
