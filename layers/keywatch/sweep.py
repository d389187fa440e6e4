"""The sweep: audit every encrypted EFS file system across accounts and Regions.

It catches what the event path missed (DESIGN.md §1), with the same engine: a key at risk becomes a
synthetic ``Sweep`` event handed to :meth:`Watchdog.respond`, so incidents, policies and modes are
exactly those of the event path.

- Pure functions (no boto3): :func:`classify`, :func:`assess`, :func:`assess_one`, :func:`countdown_due`,
  :func:`verdict_for`, :func:`needs_response`. They are tested without moto.
- :class:`Sweeper` does the work: list file systems (ceil(N/100) DescribeFileSystems per account and
  Region), look up each DISTINCT key once (DescribeKey, and ListGrants while the key is Enabled), assess,
  respond, and send countdown reminders before a scheduled deletion. One account that fails is
  reported and never stops the rest.
- :func:`fan_out` and :func:`sweep_target` are the distributed sweep: the scheduled Lambda sends one
  SQS message per account and Region; a worker sweeps each one.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from keywatch.adapters.aws import AccountAccessError, AwsClients
from keywatch.adapters.countdowns import CountdownLedger, DynamoCountdownLedger, MemoryCountdownLedger
from keywatch.adapters.kms import KmsError
from keywatch.assess import CRITICAL_STATES, HIGH_STATES, Verdict, decide, normalise_key_arn
from keywatch.config import Settings
from keywatch.engine import Watchdog
from keywatch.fanout import SweepTarget, sweep_id_for
from keywatch.keys import InvalidKeyIdentifier, KeyRef, split_key_arn
from keywatch.models import (
    DELETED,
    UNKNOWN,
    Actor,
    Affected,
    EventResult,
    FileSystem,
    KeyEvent,
    KeyInfo,
    NotificationResult,
    Outcome,
    Policy,
    Severity,
)
from keywatch.observability import logger, metrics
from pydantic import BaseModel, Field

EXPIRY_WARNING_DAYS = 30  # imported key material that expires within this many days is reported (low)
DEFAULT_WORKERS = 8
AWS_MANAGED_ALIAS = "alias/aws/elasticfilesystem"
PAGE_SIZE = 100  # DescribeFileSystems returns up to 100 per page
SWEEP_ERRORS = (AccountAccessError, ClientError, BotoCoreError, KmsError)
SEVERITY_ORDER = {Severity.CRITICAL: 4, Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1, Severity.INFO: 0}

Problem = Literal["key_state", "grant_missing", "import_expiry", "key_unreadable"]
KeyUse = Literal["unencrypted", "aws_managed", "alias", "key", "invalid"]
# Problems that open an incident and go through the engine; the others are reported only.
RESPONDED = frozenset({"key_state", "grant_missing"})


# --- models ---------------------------------------------------------------------------------------


class Finding(BaseModel):
    """A file system at risk, and why."""

    file_system_id: str
    name: str | None = None
    account: str
    region: str
    key_arn: str | None
    key_state: str
    severity: Severity
    reason: str
    problem: Problem
    policy: Policy = Policy.NOTIFY
    mount_targets: int = 0
    deletion_date: datetime | None = None
    valid_to: datetime | None = None
    days_left: int | None = None


class UnencryptedFileSystem(BaseModel):
    file_system_id: str
    name: str | None = None
    account: str
    region: str
    mount_targets: int = 0


class TargetError(BaseModel):
    account: str
    region: str
    error: str


class CountdownResult(BaseModel):
    key_arn: str
    threshold_days: int
    days_left: int
    deletion_date: datetime
    file_systems: list[str]
    notifications: list[NotificationResult] = Field(default_factory=list)


class SweepSummary(BaseModel):
    sweep_id: str
    started_at: datetime
    duration_seconds: float
    accounts: int
    regions: list[str]
    targets: int
    targets_failed: int
    file_systems: int
    encrypted: int
    customer_managed: int
    aws_managed: int
    unencrypted: int
    distinct_keys: int
    findings: int
    by_severity: dict[str, int]
    by_problem: dict[str, int]
    incidents_opened: int = 0
    incidents_updated: int = 0
    incidents_known: int = 0
    incidents_resolved: int = 0
    countdowns_sent: int = 0
    errors: list[TargetError] = Field(default_factory=list)
    api_calls: dict[str, int] = Field(default_factory=dict)
    api_call_floor: int = 0  # ceil(N/100) DescribeFileSystems per account-Region + 2 per distinct key


class SweepReport(BaseModel):
    findings: list[Finding] = Field(default_factory=list)
    unencrypted: list[UnencryptedFileSystem] = Field(default_factory=list)
    results: list[EventResult] = Field(default_factory=list)  # what respond() did, per key
    countdowns: list[CountdownResult] = Field(default_factory=list)
    summary: SweepSummary

    def report(self) -> dict:
        """The ``keywatch sweep --json`` document (DESIGN.md §2)."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class KeyLookup:
    """What the sweep learnt about one distinct key: DescribeKey, and the file systems holding an EFS grant."""

    key: KeyInfo
    grants: frozenset[str] | None = None  # None: not listed (key not Enabled, or ListGrants failed)


@dataclass
class Assessment:
    findings: list[Finding]
    unencrypted: list[UnencryptedFileSystem]
    key_of: dict[str, str | None]  # file system ID -> key ARN (lower case), for customer managed keys
    aws_managed: int
    customer_managed: int


# --- pure -----------------------------------------------------------------------------------------


def classify(fs: FileSystem) -> KeyUse:
    """How a file system is encrypted, before any key is looked up."""
    if not fs.encrypted:
        return "unencrypted"
    if not fs.kms_key_id:
        return "aws_managed"  # moto stores no key; AWS reports the aws/elasticfilesystem key's ARN
    try:
        ref = KeyRef.parse(fs.kms_key_id)
    except InvalidKeyIdentifier:
        return "invalid"
    if ref.is_alias:
        return "aws_managed" if ref.name == AWS_MANAGED_ALIAS else "alias"
    return "key"


def alias_locations(file_systems: Iterable[FileSystem]) -> set[tuple[str, str]]:
    """(account, Region) pairs whose aliases must be listed: only where a file system stores an alias."""
    found = set()
    for fs in file_systems:
        if classify(fs) == "alias":
            ref = KeyRef.parse(fs.kms_key_id or "").located(fs.account, fs.region)
            if ref.account and ref.region:
                found.add((ref.account, ref.region))
    return found


def key_arn_of(fs: FileSystem, alias_maps: Mapping[tuple[str, str], Mapping[str, str]]) -> str | None:
    """The key ARN (lower case) a customer-managed-key file system uses, or None if it can't be told."""
    if classify(fs) not in ("key", "alias"):
        return None
    return normalise_key_arn(fs, lambda account, region, alias: alias_maps.get((account, region), {}).get(alias))


def _days(delta: timedelta) -> int:
    """Whole days left, rounded up: 6 days and 23 hours is "7 days left", 2 hours is "1 day left"."""
    return max(0, math.ceil(delta.total_seconds() / 86400))


def assess_one(fs: FileSystem, key_arn: str | None, lookup: KeyLookup | None, now: datetime,
               expiry_days: int = EXPIRY_WARNING_DAYS) -> Finding | None:
    """The finding for one file system on a customer managed key, or None when it is not at risk."""

    def finding(state: str, severity: Severity, problem: Problem, reason: str, **extra: object) -> Finding:
        return Finding(file_system_id=fs.file_system_id, name=fs.name, account=fs.account, region=fs.region,
                       key_arn=lookup.key.arn if lookup else key_arn, key_state=state, severity=severity,
                       problem=problem, reason=reason, policy=fs.policy, mount_targets=fs.mount_targets,
                       **extra)  # type: ignore[arg-type]

    if lookup is None:
        why = f"its key {fs.kms_key_id!r} can't be resolved to a KMS key (the alias points at no key?)"
        return finding(UNKNOWN, Severity.MEDIUM, "key_unreadable",
                       f"keywatch cannot tell which key protects it: {why}.")
    key = lookup.key
    if key.key_manager == "AWS":
        return None  # the AWS managed aws/elasticfilesystem key can't be disabled or deleted by anyone
    state = key.state
    deletion = key.deletion_date
    days_left = _days(deletion - now) if deletion else None
    if state in CRITICAL_STATES:
        reason = {
            DELETED: "The key has been deleted; the data on this file system can no longer be read.",
            "PendingDeletion": (f"The key is scheduled for deletion on {deletion:%Y-%m-%d} ({days_left} days left); "
                                "the data becomes unreadable for good when it is deleted." if deletion else
                                "The key is scheduled for deletion; the data becomes unreadable for good then."),
            "PendingReplicaDeletion": "The key is a multi-Region primary pending deletion; the data will become "
                                      "unreadable.",
            "PendingImport": "The key has no key material (deleted or expired); the file system can't be read.",
        }[state]
        return finding(state, Severity.CRITICAL, "key_state", reason, deletion_date=deletion, days_left=days_left)
    if state in HIGH_STATES:
        return finding(state, Severity.HIGH, "key_state",
                       f"The key is {state}; the file system loses access after a period of time.")
    if state == UNKNOWN:
        detail = f" ({key.description})" if key.description else ""
        return finding(state, Severity.MEDIUM, "key_unreadable",
                       f"keywatch cannot read the key{detail}; its state is unknown.")
    if state != "Enabled":
        return None  # Creating, Updating: transient
    if lookup.grants is not None and fs.file_system_id.lower() not in lookup.grants:
        return finding(state, Severity.HIGH, "grant_missing",
                       "The key is Enabled but the EFS grant for this file system is gone; EFS will lose access "
                       "to the key.")
    if key.valid_to is not None and key.valid_to - now <= timedelta(days=expiry_days):
        left = _days(key.valid_to - now)
        return finding(state, Severity.LOW, "import_expiry",
                       f"The key's imported material expires on {key.valid_to:%Y-%m-%d} ({left} days left); "
                       "re-import it before then.", valid_to=key.valid_to, days_left=left)
    return None


def assess(file_systems: Iterable[FileSystem], lookups: Mapping[str, KeyLookup],
           alias_maps: Mapping[tuple[str, str], Mapping[str, str]] | None = None, now: datetime | None = None,
           expiry_days: int = EXPIRY_WARNING_DAYS) -> Assessment:
    """Findings for every file system, given the distinct keys looked up (keyed by lower-case key ARN)."""
    now = now or datetime.now(UTC)
    maps = alias_maps or {}
    result = Assessment([], [], {}, 0, 0)
    for fs in file_systems:
        use = classify(fs)
        if use == "unencrypted":
            result.unencrypted.append(UnencryptedFileSystem(file_system_id=fs.file_system_id, name=fs.name,
                                                            account=fs.account, region=fs.region,
                                                            mount_targets=fs.mount_targets))
            continue
        if use == "aws_managed":
            result.aws_managed += 1
            continue
        arn = key_arn_of(fs, maps)
        lookup = lookups.get(arn) if arn else None
        if lookup is not None and lookup.key.key_manager == "AWS":
            result.aws_managed += 1
            continue
        result.customer_managed += 1
        result.key_of[fs.file_system_id] = arn
        found = assess_one(fs, arn, lookup, now, expiry_days)
        if found is not None:
            result.findings.append(found)
    result.findings.sort(key=lambda f: (-SEVERITY_ORDER[f.severity], f.account, f.region, f.file_system_id))
    return result


def countdown_due(deletion_date: datetime | None, now: datetime, thresholds: Sequence[int]) -> int | None:
    """The most urgent threshold (days before deletion) already reached, or None.

    With thresholds [7, 1], a key deleted in 5 days is due its 7-day reminder; in 12 hours, its 1-day one.
    Only the most urgent threshold reached is returned, so a late first sweep never sends a stale one.
    """
    if deletion_date is None or not thresholds:
        return None
    remaining = (deletion_date - now).total_seconds() / 86400
    reached = [t for t in thresholds if remaining <= t]
    return min(reached) if reached else None


def verdict_for(event: KeyEvent, key: KeyInfo, findings: Sequence[Finding], affected: list[FileSystem]) -> Verdict:
    """The engine's verdict for a key the sweep found at risk: decide() for key states, else grant loss."""
    if any(f.problem == "key_state" for f in findings):
        return decide(event, key.state, affected)
    n = len(affected)
    return Verdict(Outcome.ALERT, Severity.HIGH,
                   f"The key is Enabled but the EFS grant is gone for {n} EFS file system{'s' if n != 1 else ''}; "
                   "they will lose access to the key.")


def needs_response(current: Mapping[str, Any] | None, severity: Severity | None, fs_ids: Iterable[str]) -> bool:
    """Respond unless an open incident already covers these file systems at this severity or worse.

    The event path normally opened the incident already; the sweep then only reports it. It responds when
    the event was missed (no open incident), when more file systems are hit, or when it got worse.
    """
    if not current or current.get("status") != "open":
        return True
    known = {str(fs.get("file_system_id")) for fs in current.get("affected") or [] if isinstance(fs, dict)}
    if set(fs_ids) - known:
        return True
    try:
        recorded = Severity(str(current.get("severity")))
    except ValueError:
        return True
    return severity is not None and SEVERITY_ORDER[severity] > SEVERITY_ORDER[recorded]


def call_floor(file_systems_per_target: Iterable[int], distinct_keys: int) -> int:
    """The fewest calls the question takes: ceil(N/100) pages per account-Region + 2 per distinct key."""
    return sum(max(1, math.ceil(n / PAGE_SIZE)) for n in file_systems_per_target) + 2 * distinct_keys


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

    def __init__(self, watchdog: Watchdog, ledger: CountdownLedger | None = None, *, workers: int = DEFAULT_WORKERS,
                 expiry_days: int = EXPIRY_WARNING_DAYS, clock: Callable[[], datetime] | None = None,
                 progress: ProgressCallback | None = None) -> None:
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
        found: list[FileSystem] = []
        try:
            for fs in self.watchdog.efs.file_systems(target.account, target.region):
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
        if key.state != "Enabled" or key.key_manager == "AWS":
            return KeyLookup(key)  # every file system on a broken key is a finding already; grants add nothing
        try:
            grants = self.watchdog.kms.efs_grants(key.arn)
        except SWEEP_ERRORS as exc:
            logger.warning("grants unreadable", key_arn=key_arn, error=str(exc))
            grants = None
        return KeyLookup(key, frozenset(g.lower() for g in grants) if grants is not None else None)

    def _event(self, key: KeyInfo, name: str, event_id: str, now: datetime) -> KeyEvent:
        account, region, _ = split_key_arn(key.arn)
        return KeyEvent(event_id=event_id, event_name=name, kind="sweep", event_time=now, key_arn=key.arn,
                        key_ref=key.arn, account=account, region=region, actor=Actor(type="keywatch sweep"),
                        deletion_date=key.deletion_date, reported_key_state=key.state)

    # --- the run -----------------------------------------------------------------------------------

    def run(self, targets: Sequence[SweepTarget], sweep_id: str | None = None) -> SweepReport:
        started = self._clock()
        calls_before = Counter(self.watchdog.clients.calls)
        sweep_id = sweep_id or sweep_id_for(started)
        targets = list(dict.fromkeys(targets))

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="sweep-keys") as pool:
            keys = _KeyLookups(pool, self._lookup, self._progress)
            # 1. every file system, per account and Region: ceil(N/100) calls each. Each distinct key is
            #    looked up as soon as a page names it, while the next pages are still being listed.
            listed = self._map("file systems", lambda target: self._list(target, keys.want), targets)
            errors = [r for _, r in listed if isinstance(r, TargetError)]
            per_target = [r for _, r in listed if not isinstance(r, TargetError)]
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
        report = SweepReport(findings=assessment.findings, unencrypted=assessment.unencrypted,
                             summary=SweepSummary(sweep_id=sweep_id, started_at=started, duration_seconds=0,
                                                  accounts=len({t.account for t in targets}),
                                                  regions=sorted({t.region for t in targets}), targets=len(targets),
                                                  targets_failed=len(errors), file_systems=len(file_systems),
                                                  encrypted=sum(1 for fs in file_systems if fs.encrypted),
                                                  customer_managed=assessment.customer_managed,
                                                  aws_managed=assessment.aws_managed,
                                                  unencrypted=len(assessment.unencrypted), distinct_keys=len(arns),
                                                  findings=len(assessment.findings), by_severity={}, by_problem={},
                                                  errors=errors))
        by_fs = {fs.file_system_id: fs for fs in file_systems}
        self._respond(report, assessment, lookups, by_fs, now)
        self._countdowns(report, assessment, lookups, by_fs, now)

        summary = report.summary
        summary.by_severity = dict(Counter(f.severity.value for f in report.findings))
        summary.by_problem = dict(Counter(f.problem for f in report.findings))
        summary.api_calls = dict(sorted((Counter(self.watchdog.clients.calls) - calls_before).items()))
        summary.api_call_floor = call_floor([len(found) for found in per_target], len(arns))
        summary.duration_seconds = round((self._clock() - started).total_seconds(), 3)
        logger.info("swept", sweep_id=sweep_id, targets=len(targets), failed=len(errors),
                    file_systems=len(file_systems), distinct_keys=len(arns), findings=len(report.findings))
        return report

    def _respond(self, report: SweepReport, assessment: Assessment, lookups: Mapping[str, KeyLookup],
                 by_fs: Mapping[str, FileSystem], now: datetime) -> None:
        day = f"{now:%Y-%m-%d}"
        at_risk: dict[str, list[Finding]] = defaultdict(list)
        for f in report.findings:
            arn = assessment.key_of.get(f.file_system_id)
            if f.problem in RESPONDED and arn in lookups:
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
                if not needs_response(current, verdict.severity, [fs.file_system_id for fs in affected]):
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
        using: dict[str, list[FileSystem]] = defaultdict(list)
        for fs_id, arn in assessment.key_of.items():
            if arn:
                using[arn].append(by_fs[fs_id])
        for arn, lookup in sorted(lookups.items()):
            key = lookup.key
            if key.state != "Enabled" or key.key_manager == "AWS" or arn in at_risk or not using.get(arn):
                continue
            try:
                current = incidents.current(key.arn)
                if not current or current.get("status") != "open":
                    continue
                n = len(using[arn])
                verdict = Verdict(Outcome.RESOLVED, Severity.INFO,
                                  f"The sweep found the key Enabled again, with its EFS grants; "
                                  f"{n} EFS file system{'s' if n != 1 else ''} can use it.")
                event = self._event(key, "Sweep", f"sweep-{day}-{key.key_id}", now)
                report.results.append(self.watchdog.respond(event, key, using[arn], verdict=verdict))
            except SWEEP_ERRORS as exc:
                self._respond_failed(report, key, exc)
                continue
            summary.incidents_resolved += 1

    @staticmethod
    def _respond_failed(report: SweepReport, key: KeyInfo, exc: Exception) -> None:
        account, region, _ = split_key_arn(key.arn)
        logger.warning("sweep respond failed", key_arn=key.arn, error=str(exc))
        report.summary.errors.append(TargetError(account=account, region=region,
                                                 error=f"responding for {key.arn}: {type(exc).__name__}: {exc}"))

    def _countdowns(self, report: SweepReport, assessment: Assessment, lookups: Mapping[str, KeyLookup],
                    by_fs: Mapping[str, FileSystem], now: datetime) -> None:
        """One reminder per threshold per key pending deletion that file systems use."""
        thresholds = self.watchdog.settings.countdown_days
        pending: dict[str, list[Finding]] = defaultdict(list)
        for f in report.findings:
            arn = assessment.key_of.get(f.file_system_id)
            if f.key_state == "PendingDeletion" and arn in lookups:
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
            result = countdown_result(self._event(key, "Countdown", f"countdown-{key.key_id}-{due}d-{date}", now),
                                      key, affected, left)
            result.notifications = [channel.send(result) for channel in self.watchdog.channels]
            report.countdowns.append(CountdownResult(key_arn=key.arn, threshold_days=due, days_left=left,
                                                     deletion_date=deletion,
                                                     file_systems=[fs.file_system_id for fs in affected],
                                                     notifications=result.notifications))
            report.summary.countdowns_sent += 1


class _KeyLookups:
    """Each distinct key looked up once, in the background, as soon as the sweep first sees it."""

    def __init__(self, pool: ThreadPoolExecutor, lookup: Callable[[str], KeyLookup],
                 progress: ProgressCallback | None) -> None:
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


def countdown_result(event: KeyEvent, key: KeyInfo, affected: Sequence[FileSystem], days_left: int) -> EventResult:
    """The reminder, as the result object every channel already knows how to send."""
    n = len(affected)
    when = f"{key.deletion_date:%Y-%m-%d %H:%M} UTC" if key.deletion_date else "soon"
    return EventResult(
        event_id=event.event_id, event_name="Countdown", key_arn=key.arn, key_state=key.state,
        outcome=Outcome.ALERT, severity=Severity.CRITICAL,
        reason=(f"The key will be deleted in {days_left} day{'s' if days_left != 1 else ''} ({when}); "
                f"{n} EFS file system{'s' if n != 1 else ''} will become unreadable for good unless the deletion "
                "is cancelled."),
        affected=[Affected(file_system_id=fs.file_system_id, name=fs.name, account=fs.account, region=fs.region,
                           mount_targets=fs.mount_targets, mount_targets_after=fs.mount_targets, policy=fs.policy)
                  for fs in affected],
        key_state_after=key.state, event=event, key=key,
    )


class TargetFailed(RuntimeError):
    """An account and Region could not be swept; its SQS message fails alone and is retried."""


def sweep_target(sweeper: Sweeper, target: SweepTarget) -> SweepReport:
    """A worker's job: sweep one account and Region. Raises :class:`TargetFailed` if it could not be read."""
    report = sweeper.run([target], sweep_id=target.sweep_id)
    if report.summary.errors:
        raise TargetFailed("; ".join(e.error for e in report.summary.errors))
    return report
