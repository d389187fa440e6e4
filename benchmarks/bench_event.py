"""One key event on simulated organisations of growing size: the AWS calls it costs, and the time.

Organisations (``--accounts``, default 5, 50 and 200 accounts; ``--per-account`` file systems each, default 200):
- the central account 111122223333 holds the key, and ``--per-account`` file systems of its own on another key;
- three other accounts each hold 5 file systems on the central key (15 affected in all) and the rest on a key
  of their own;
- every other account holds ``--per-account`` file systems on a key of its own.

The key-to-file-system index is filled by the sweep's own code (``Sweeper.fill_index``: the listing and the
writes of a sweep). One ``DisableKey`` is then handled in notify mode, three ways:

- ``index``: the deployment as shipped (``KEYWATCH_INDEX_TABLE`` set);
- ``scan``: no index: the key's account and every configured account listed, 16 accounts at a time (what
  keywatch falls back to when the index was never filled);
- ``scan-sequential``: the same, one account after another: what keywatch did before the index.

Each is handled by a new container (its own clients: ``cold`` counts entering accounts, AssumeRole) and then
once more by the same container (``warm``, a new event ID). Enforce mode is measured too: one ``DisableKey``
on a key whose 10, 100 or 1,000 file systems (``--enforce``) are tagged ``unmount`` with one mount target each,
spread over the key's account and three others, with the time of a Lambda invocation (the template's 120 s
timeout, as ``get_remaining_time_in_millis`` counts it down); afterwards every one must be unmounted and
recorded. ``--accounts ''`` measures enforce only and keeps the organisation figures already in the results file.

AWS is a moto server on 127.0.0.1 (benchmarks/motoserver.py) that counts every call and adds ``--latency-ms``
(default 0 and 20) to each. Large estates are built straight into moto's backends (not measured). Call counts
carry over to AWS; wall times at 20 ms per call approach what a Lambda sees, at 0 ms they are moto's own cost.
Figures are reported, never asserted: benchmarks/results/bench_event.json.

    python benchmarks/bench_event.py [--accounts 5,50,200] [--per-account 200] [--enforce 10,100,1000]
                                     [--latency-ms 0,20]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
import urllib.request
import uuid
import warnings
from collections import Counter
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from keywatch.parse import parse_event
from motoserver import Counting, moto_server

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bench_event.json"

CENTRAL = "111122223333"
REGION = "us-east-1"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{CENTRAL}:key/{KEY_ID}"
USERS = ("210000000001", "210000000002", "210000000003")
PER_USER = 5  # file systems on the central key in each of the three user accounts
PATHS = ("index", "scan", "scan-sequential")

warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")
for name, value in {
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "POWERTOOLS_METRICS_NAMESPACE": "keywatch",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}.items():
    os.environ[name] = value
os.environ.pop("AWS_PROFILE", None)


def bystander(n: int) -> str:
    return f"{220000000000 + n:012d}"


def disable_key() -> dict[str, Any]:
    """A DisableKey as EventBridge delivers it (events/01_disable_key.json), with a new event ID."""
    raw = copy.deepcopy(json.loads((ROOT / "events" / "01_disable_key.json").read_text()))
    raw["detail"]["eventID"] = f"bench-{uuid.uuid4()}"
    return raw


# --- the estate --------------------------------------------------------------------------------------------------


class Org:
    """A simulated organisation on the moto server: built mostly straight into moto's backends."""

    def __init__(self, accounts: list[str]) -> None:
        from keywatch.cli.simulator import Estate, Fleet

        fleet = {"accounts": [{"id": CENTRAL, "regions": {REGION: {"keys": [{"id": KEY_ID}]}}}]}
        self.estate = Estate.build(Fleet.model_validate(fleet), index=False)
        self.accounts = accounts
        self.on_key: set[str] = set()

    @staticmethod
    def _backends(account: str) -> tuple[Any, Any]:
        from moto.efs.models import efs_backends
        from moto.kms.models import kms_backends

        return kms_backends[account][REGION], efs_backends[account][REGION]

    def file_systems(
        self, account: str, n: int, key_arn: str | None = None, tags: dict[str, str] | None = None
    ) -> list[str]:
        kms, efs = self._backends(account)
        if key_arn is None:
            key_arn = kms.create_key(None, "ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT", f"own key of {account}", None).arn
        made = []
        for i in range(n):
            tag_list = [{"Key": "Name", "Value": f"{account[-4:]}-{len(efs.file_systems_by_id):05d}"}]
            tag_list += [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
            fs = efs.create_file_system(
                f"bench-{i}-{uuid.uuid4()}", "generalPurpose", True, key_arn, "bursting", 0, None, False, tag_list
            )
            made.append(fs.file_system_id)
        if key_arn == KEY_ARN:
            self.on_key.update(made)
        return made

    def mount(self, account: str, file_systems: list[str]) -> None:
        """One mount target each, in one subnet of the account."""
        _, efs = self._backends(account)
        [subnet], group = self.estate._network(account, REGION, 1)
        for fs_id in file_systems:
            efs.create_mount_target(fs_id, subnet, None, [group])

    def fill_index(self) -> int:
        from keywatch.fanout import targets_for
        from keywatch.sweep.runner import Sweeper

        return Sweeper(self.watchdog("index", sequential=False)).fill_index(targets_for(self.accounts, [REGION]))

    def clients(self) -> Any:
        """A new container's clients (the estate's boto3 session: service models are loaded once per process)."""
        from keywatch.adapters.aws import AwsClients
        from keywatch.cli.simulator import HOME_ACCOUNT, SIM_ROLE

        return AwsClients(
            self.estate.clients.session, read_role=SIM_ROLE, write_role=SIM_ROLE, home_account=HOME_ACCOUNT
        )

    def watchdog(self, path: str, sequential: bool, mode: str = "notify") -> Any:
        from keywatch.config import Settings
        from keywatch.models import Mode
        from keywatch.runtime import build_watchdog

        settings = self.estate.settings(Settings(mode=Mode(mode))).model_copy(
            update={"accounts": self.accounts, **({} if path == "index" else {"index_table": None})}
        )
        watchdog = build_watchdog(settings, self.clients())
        if sequential:
            watchdog.locator.workers = 1
        return watchdog


def organisation(size: int, per_account: int) -> Org:
    accounts = [CENTRAL, *USERS, *(bystander(n) for n in range(max(0, size - 1 - len(USERS))))][:size]
    org = Org(accounts)
    org.file_systems(CENTRAL, per_account)
    for user in USERS[: max(0, size - 1)]:
        org.file_systems(user, PER_USER, KEY_ARN)
        org.file_systems(user, per_account - PER_USER)
    for account in accounts[1 + len(USERS) :]:
        org.file_systems(account, per_account)
    return org


# --- measuring -----------------------------------------------------------------------------------------------------


def handle(org: Org, watchdog: Any, counting: Counting) -> dict[str, Any]:
    event = parse_event(disable_key())
    counting.take()
    watchdog.clients.calls.clear()
    started = time.perf_counter()
    result = watchdog.handle_event(event)
    wall = time.perf_counter() - started
    calls = counting.take()
    return {
        "wall_seconds": round(wall, 4),
        "calls": calls,
        "total_calls": sum(calls.values()),
        "self_counted": sum(watchdog.clients.calls.values()),
        "outcome": result.outcome.value,
        "affected": sorted(fs.file_system_id for fs in result.affected),
        "reason": result.reason,
        "result": result,
    }


def measure_paths(org: Org, counting: Counting, latencies: list[int]) -> list[dict[str, Any]]:
    rows = []
    for latency in latencies:
        counting.latency = latency / 1000
        for path in PATHS:
            watchdog = org.watchdog(path.split("-")[0], sequential=path.endswith("sequential"))
            cold, warm = handle(org, watchdog, counting), handle(org, watchdog, counting)
            rows.append(
                {
                    "accounts": len(org.accounts),
                    "latency_ms": latency,
                    "path": path,
                    "affected": len(cold["affected"]),
                    "found_every_file_system_on_the_key": set(cold["affected"]) == org.on_key,
                    "outcome": cold["outcome"],
                    "reason": cold["reason"],
                    "cold": {k: v for k, v in cold.items() if k not in ("affected", "reason", "result", "outcome")},
                    "warm": {k: v for k, v in warm.items() if k not in ("affected", "reason", "result", "outcome")},
                }
            )
            print(
                f"  {len(org.accounts):>3} accounts, {latency:>2} ms, {path:<15} cold {cold['total_calls']:>4} calls "
                f"{cold['wall_seconds']:.2f}s, warm {warm['total_calls']:>4} calls {warm['wall_seconds']:.2f}s, "
                f"{len(cold['affected'])} affected",
                file=sys.stderr,
            )
    counting.latency = 0
    return rows


LAMBDA_TIMEOUT_SECONDS = 120  # template.yaml: Globals.Function.Timeout


class LambdaTime:
    """The part of a Lambda context the actions read: the time left, counting down from now."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def measure_enforce(affected: int, counting: Counting, latencies: list[int]) -> list[dict[str, Any]]:
    """``affected`` file systems tagged unmount with one mount target each, over the key's account and three others."""
    from moto.efs.models import efs_backends

    rows = []
    for latency in latencies:
        org = Org([CENTRAL, *USERS])
        spread = [CENTRAL, *USERS]
        for i, account in enumerate(spread):
            n = affected // len(spread) + (1 if i < affected % len(spread) else 0)
            made = org.file_systems(account, n, KEY_ARN, {"keywatch:on-key-loss": "unmount"})
            org.mount(account, made)
        org.fill_index()
        org.estate.apply(parse_event(disable_key()))  # AWS has disabled the key when the event arrives
        counting.latency = latency / 1000
        watchdog = org.watchdog("index", sequential=False, mode="enforce")
        watchdog.keep_time_of(LambdaTime(LAMBDA_TIMEOUT_SECONDS))
        run = handle(org, watchdog, counting)
        counting.latency = 0
        result = run["result"]
        left = sum(
            efs_backends[fs.account][REGION].file_systems_by_id[fs.file_system_id].number_of_mount_targets
            for fs in result.affected
        )
        recorded = watchdog.incidents.snapshots(KEY_ARN) if watchdog.incidents is not None else {}
        done = Counter(a.status for a in result.actions)
        rows.append(
            {
                "affected": len(run["affected"]),
                "latency_ms": latency,
                "wall_seconds": run["wall_seconds"],
                "calls": run["calls"],
                "total_calls": run["total_calls"],
                "within_lambda_timeout": run["wall_seconds"] < LAMBDA_TIMEOUT_SECONDS,
                "actions": dict(done),
                "mount_targets_left": left,
                "recorded": len(recorded),
                "all_unmounted_and_recorded": left == 0 and len(recorded) == affected,
                "outcome": run["outcome"],
            }
        )
        print(
            f"  enforce {affected:>5} affected, {latency:>2} ms: {run['wall_seconds']:.2f}s, "
            f"{run['total_calls']} calls, "
            f"actions {dict(done)}, mount targets left {left}, recorded {len(recorded)}",
            file=sys.stderr,
        )
        reset(counting)
    return rows


def reset(counting: Counting) -> None:
    """A fresh moto for the next organisation."""
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    counting.take()


# --- report ----------------------------------------------------------------------------------------------------------


def per_operation(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """For each path: the cold calls by operation at each size, and whether they stay the same as accounts grow."""
    out: dict[str, Any] = {}
    for path in PATHS:
        mine = [r for r in rows if r["path"] == path and r["latency_ms"] == 0]
        by_size = {r["accounts"]: r["cold"]["calls"] for r in mine}
        out[path] = {
            "calls_by_accounts": by_size,
            "same_at_every_size": len({json.dumps(c, sort_keys=True) for c in by_size.values()}) == 1,
        }
    return out


def table(rows: list[dict[str, Any]], enforce: list[dict[str, Any]]) -> str:
    lines = ["accounts | latency | path            | calls cold/warm | wall cold/warm (s) | affected | all found"]
    for r in rows:
        lines.append(
            f"{r['accounts']:>8} | {r['latency_ms']:>4} ms | {r['path']:<15} | "
            f"{r['cold']['total_calls']:>5}/{r['warm']['total_calls']:<5}   | "
            f"{r['cold']['wall_seconds']:>7.2f}/{r['warm']['wall_seconds']:<7.2f}    | {r['affected']:>8} | "
            f"{r['found_every_file_system_on_the_key']}"
        )
    if enforce:
        lines += ["", "enforce: affected | latency | wall (s) | calls | actions | left | recorded"]
        for r in enforce:
            lines.append(
                f"         {r['affected']:>8} | {r['latency_ms']:>4} ms | {r['wall_seconds']:>8.2f} | "
                f"{r['total_calls']:>5} | "
                f"{r['actions']} | {r['mount_targets_left']} | {r['recorded']}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", default="5,50,200", help="organisation sizes, comma-separated")
    parser.add_argument("--per-account", type=int, default=200, help="file systems in each account")
    parser.add_argument("--enforce", default="10,100,1000", help="affected file systems in the enforce runs ('' skips)")
    parser.add_argument("--latency-ms", default="0,20", help="round trip added to every call, one run each")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.accounts.split(",") if s.strip()]
    latencies = [int(s) for s in args.latency_ms.split(",") if s.strip()]
    enforce_sizes = [int(s) for s in args.enforce.split(",") if s.strip()]

    rows: list[dict[str, Any]] = []
    enforce: list[dict[str, Any]] = []
    built: dict[int, float] = {}
    with moto_server() as (_endpoint, counting):
        os.environ["AWS_ENDPOINT_URL"] = _endpoint
        for size in sizes:
            print(f"building an organisation of {size} accounts x {args.per_account} file systems...", file=sys.stderr)
            started = time.perf_counter()
            org = organisation(size, args.per_account)
            indexed = org.fill_index()
            built[size] = round(time.perf_counter() - started, 1)
            print(f"  built and indexed ({indexed} entries) in {built[size]}s", file=sys.stderr)
            org.estate.apply(parse_event(disable_key()))  # AWS has disabled the key when the event arrives
            rows += measure_paths(org, counting, latencies)
            reset(counting)
        for affected in enforce_sizes:
            print(f"enforce, {affected} affected file systems...", file=sys.stderr)
            enforce += measure_enforce(affected, counting, latencies)

    for r in rows:
        del r["reason"]
    kept: dict[str, Any] = {}
    if not sizes and args.out.exists():  # enforce only: the organisation figures already measured stay
        previous = json.loads(args.out.read_text())
        kept = {k: previous[k] for k in ("generated", "build_seconds", "per_operation", "results") if k in previous}
        rows = kept.get("results", [])
    document = {
        "benchmark": "one DisableKey on simulated organisations, through the index and through a scan of every account",
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "moto": version("moto"),
        "boto3": version("boto3"),
        "per_account": args.per_account,
        "affected_on_the_key": PER_USER * len(USERS),
        "note": (
            "AWS is a moto server on 127.0.0.1 that counts every call and adds latency_ms to each. 'cold' is a new "
            "container (it assumes a role into each account it enters), 'warm' the same container's next event. "
            "Call counts carry over to AWS; wall times at 0 ms are moto's own cost."
        ),
        "build_seconds": built,
        "per_operation": per_operation(rows),
        "results": rows,
        **kept,
        "enforce": enforce,
        "enforce_generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": "2 cores shared with other engineers' work while measuring: wall times are upper bounds",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(table(rows, enforce))
    print(json.dumps(document["per_operation"], indent=1))
    print(f"written to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
