"""Sweep benchmarks: how long a full audit takes, how many AWS calls it makes, and Cloud Custodian side by side.

Scenarios
- one account, 1,000 and 10,000 file systems (simulated estate, moto in-process), one key per 50 file systems,
  a tenth of the keys Disabled and a tenth PendingDeletion;
- 20 accounts x 2 Regions, entered through the assumed read role (simulated estate);
- keywatch vs Cloud Custodian asking the same question -- which EFS file systems sit on a KMS key that is not
  Enabled -- of the SAME simulated account, served by a local moto server (127.0.0.1, random free port):
  2,000 and 10,000 encrypted file systems (``--versus-sizes``) on one key per 33 file systems (a tenth Disabled,
  a tenth PendingDeletion) plus 40 unencrypted or on the AWS managed key, at 0 and 50 ms added to every call
  (``--latency-ms``). Both run as the command a person would type, in their own process:
      keywatch sweep --aws --regions us-east-1 --json
      custodian run -s OUT --region us-east-1 --cache-period 0 policy.yml   (resource: efs, filter kms-key
                                                                              KeyState ne Enabled)
  API calls are counted by the moto server itself (a WSGI middleware that reads X-Amz-Target, the query
  Action, or the REST route), so both tools are measured with the same yardstick. keywatch's own count
  (clients.calls, in its summary) is reported next to it as a cross-check.
  The floor is measured too: a Python process that imports boto3 and pages through DescribeFileSystems with
  AWS's page size, nothing else. No sweep of one account and Region can beat it.

Fairness: moto answers DescribeFileSystems with 10 items per page when the caller gives no MaxItems; AWS
answers 100. keywatch asks for 100, Custodian asks for nothing, so the server is patched to AWS's default
(100) -- otherwise Custodian would pay 10x the pages for a moto quirk. Custodian runs in its own venv (its
pins clash with ours): `make bench-sweep` installs it into .tools/c7n.

Goals (reported, never asserted): the same findings as Custodian, 0.3x its time or less at 50 ms per call, and no
more calls than the floor: ceil(N/100) DescribeFileSystems per account-Region + 3 per distinct key
(+ sts/organizations).

    python benchmarks/bench_sweep.py [--sizes 1000,10000] [--runs 3] [--custodian .tools/c7n/bin/custodian]
                                     [--versus-sizes 2000,10000] [--latency-ms 0,50]
                                     [--skip-custodian] [--skip-simulated] [--skip-as-shipped]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path
from typing import Any

from motoserver import moto_like_aws, moto_server

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sweep.json"
KEYWATCH = ROOT / ".venv" / "bin" / "keywatch"
DEFAULT_CUSTODIAN = ROOT / ".tools" / "c7n" / "bin" / "custodian"
ACCOUNT, REGION = "123456789012", "us-east-1"
EFS_PRINCIPAL = "elasticfilesystem.amazonaws.com"
GRANT_CONTEXT = "aws:elasticfilesystem:filesystem:id"

POLICY = """\
policies:
  - name: efs-key-not-enabled
    resource: efs
    filters:
      - type: kms-key
        key: KeyState
        op: ne
        value: Enabled
"""


def key_id(n: int) -> str:
    return str(uuid.UUID(int=0x5EED_0000_0000_4000_8000_0000_0000_0000 + n))


def keys_for(file_systems: int) -> int:
    """One key per 33 file systems: 60 keys for 2,000, 303 for 10,000."""
    return max(2, round(file_systems * 3 / 100))


def key_state(i: int) -> str:
    return {0: "Disabled", 1: "PendingDeletion"}.get(i % 10, "Enabled")


def floor(pages_per_target: list[int], keys: int) -> int:
    return sum(max(1, math.ceil(n / 100)) for n in pages_per_target) + 2 * keys


def estate_calls(calls: dict[str, int]) -> int:
    return sum(n for name, n in calls.items() if name.split(":")[0] in ("efs", "kms", "elasticfilesystem"))


# --- simulated estates (moto in-process) -----------------------------------------------------------------------


def one_account_fleet(n: int) -> dict[str, Any]:
    keys = [{"id": key_id(i), "state": key_state(i)} for i in range(max(2, n // 50))]
    systems: list[dict[str, Any]] = []
    for i in range(n):
        if i % 50 == 48:
            systems.append({"name": f"fs{i:05d}", "encrypted": False})
        elif i % 50 == 49:
            systems.append({"name": f"fs{i:05d}", "encrypted": True})  # AWS managed key
        else:
            systems.append({"name": f"fs{i:05d}", "key": keys[i % len(keys)]["id"]})
    return {"accounts": [{"id": "111122223333", "regions": {REGION: {"keys": keys, "file_systems": systems}}}]}


def multi_account_fleet(accounts: int, regions: list[str], per_target: int) -> dict[str, Any]:
    fleet: list[dict[str, Any]] = []
    for a in range(accounts):
        account = f"{210000000000 + a:012d}"
        spec: dict[str, Any] = {}
        for r, region in enumerate(regions):
            base = (a * len(regions) + r) * 2
            keys = [{"id": key_id(base)}, {"id": key_id(base + 1), "state": "Disabled" if a % 2 else "Enabled"}]
            spec[region] = {
                "keys": keys,
                "file_systems": [{"name": f"fs{i:03d}", "key": keys[i % 2]["id"]} for i in range(per_target)],
            }
        fleet.append({"id": account, "regions": spec})
    return {"accounts": fleet}


def simulated(label: str, fleet: dict[str, Any], runs: int) -> dict[str, Any]:
    from keywatch.cli.simulator import Estate, Fleet, simulated_aws
    from keywatch.config import Settings
    from keywatch.runtime import build_watchdog
    from keywatch.sweep import Sweeper, targets_for

    with simulated_aws(), moto_like_aws():
        t0 = time.perf_counter()
        estate = Estate.build(Fleet.model_validate(fleet))
        built = time.perf_counter() - t0
        watchdog = build_watchdog(estate.settings(Settings()), estate.clients)
        targets = targets_for(watchdog.settings.accounts, watchdog.settings.regions)
        walls, reports = [], []
        for _ in range(runs):
            sweeper = Sweeper(watchdog)
            t0 = time.perf_counter()
            reports.append(sweeper.run(targets))
            walls.append(time.perf_counter() - t0)
    first, last = reports[0].summary, reports[-1].summary
    row = {
        "scenario": label,
        "file_systems": first.file_systems,
        "distinct_keys": first.distinct_keys,
        "accounts": first.accounts,
        "regions": first.regions,
        "findings": first.findings,
        "build_seconds": round(built, 2),
        "first_sweep_seconds": round(walls[0], 3),
        "repeat_sweep_seconds_median": round(statistics.median(walls[1:]), 3) if runs > 1 else None,
        "estate_calls": estate_calls(last.api_calls),
        "floor": last.api_call_floor,
        "calls_first_sweep": first.api_calls,
        "calls_repeat_sweep": last.api_calls,
        "incidents_opened": first.incidents_opened,
        "countdowns_sent": first.countdowns_sent,
    }
    print(
        f"  {label}: {row['file_systems']} file systems, {row['distinct_keys']} keys, "
        f"first sweep {row['first_sweep_seconds']}s, estate calls {row['estate_calls']} (floor {row['floor']})",
        file=sys.stderr,
    )
    return row


def populate(endpoint: str, n: int, keys: int) -> dict[str, Any]:
    """Build the account through boto3 only; returns what a correct audit must find."""
    import boto3

    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    kms = session.client("kms", endpoint_url=endpoint)
    efs = session.client("efs", endpoint_url=endpoint)
    arns, bad = [], set()
    for i in range(keys):
        meta = kms.create_key(Description=f"bench key {i}")["KeyMetadata"]
        arns.append(meta["Arn"])
        if key_state(i) == "Disabled":
            kms.disable_key(KeyId=meta["KeyId"])
        elif key_state(i) == "PendingDeletion":
            kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=30)
        if key_state(i) != "Enabled":
            bad.add(meta["Arn"])

    def make(i: int) -> tuple[str, str | None]:
        args: dict[str, Any] = {"CreationToken": f"bench-{i}", "Tags": [{"Key": "Name", "Value": f"fs{i:05d}"}]}
        key = None
        if i < n:
            key = arns[i % keys]
            args.update(Encrypted=True, KmsKeyId=key)
        else:
            args["Encrypted"] = i % 2 == 0  # AWS managed key, or unencrypted
        fs_id = efs.create_file_system(**args)["FileSystemId"]
        if key:
            kms.create_grant(
                KeyId=key,
                GranteePrincipal=EFS_PRINCIPAL,
                Operations=["Decrypt", "Encrypt"],
                Constraints={"EncryptionContextSubset": {GRANT_CONTEXT: fs_id}},
            )
        return fs_id, key

    with ThreadPoolExecutor(max_workers=8) as pool:
        made = list(pool.map(make, range(n + 40)))
    return {"at_risk": sorted(fs for fs, key in made if key in bad), "file_systems": len(made), "keys": keys}


def tool_env(endpoint: str, home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYWATCH_", "AWS_"))}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        HOME=home,
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    return env


def run_keywatch(env: dict[str, str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    done = subprocess.run(
        [str(KEYWATCH), "sweep", "--aws", "--regions", REGION, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"keywatch failed ({done.returncode}): {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    return {
        "wall": wall,
        "own": report["summary"]["duration_seconds"],
        "found": sorted(f["file_system_id"] for f in report["findings"] if f["problem"] == "key_state"),
        "self_counted": report["summary"]["api_calls"],
        "floor": report["summary"]["api_call_floor"],
    }


FLOOR = """
import boto3
efs = boto3.client("efs")
n = 0
for page in efs.get_paginator("describe_file_systems").paginate(PaginationConfig={"PageSize": 100}):
    n += len(page["FileSystems"])
print(n)
"""


def run_floor(env: dict[str, str]) -> dict[str, Any]:
    """The floor: a Python process that imports boto3 and pages through DescribeFileSystems, nothing else."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", FLOOR], env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"the floor's paging failed: {done.stderr[-2000:]}")
    return {"wall": wall, "own": None, "found": [], "listed": int(done.stdout)}


def run_custodian(custodian: Path, env: dict[str, str], workdir: Path) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(dir=workdir))
    policy = workdir / "policy.yml"
    policy.write_text(POLICY)
    t0 = time.perf_counter()
    done = subprocess.run(
        [str(custodian), "run", "-s", str(out), "--region", REGION, "--cache-period", "0", str(policy)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"custodian failed ({done.returncode}): {done.stderr[-2000:]}")
    own = re.search(r"count:\d+ time:([\d.]+)", done.stderr)
    resources = json.loads((out / "efs-key-not-enabled" / "resources.json").read_text())
    return {
        "wall": wall,
        "own": float(own.group(1)) if own else None,
        "found": sorted(r["FileSystemId"] for r in resources),
    }


def versus_custodian(
    custodian: Path, n: int, keys: int, runs: int, latencies_ms: list[int], as_shipped: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {"by_latency": [], "server": "moto as shipped" if as_shipped else "moto, AWS page size"}
    with tempfile.TemporaryDirectory() as tmp, moto_server(as_shipped) as (endpoint, counting):
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        t0 = time.perf_counter()
        truth = populate(endpoint, n, keys)
        print(
            f"  moto server {endpoint}: {truth['file_systems']} file systems, {keys} keys "
            f"({time.perf_counter() - t0:.1f}s to build)",
            file=sys.stderr,
        )
        out.update(
            file_systems=truth["file_systems"],
            keys=keys,
            at_risk=len(truth["at_risk"]),
            floor=floor([truth["file_systems"]], keys),
        )
        env = tool_env(endpoint, tmp)
        for latency in latencies_ms:
            counting.latency = latency / 1000
            results: dict[str, list[dict[str, Any]]] = {"keywatch": [], "custodian": [], "floor": []}
            for i in range(runs):
                order = ("keywatch", "custodian", "floor") if i % 2 == 0 else ("custodian", "keywatch", "floor")
                for tool in order:
                    counting.take()
                    if tool == "keywatch":
                        run = run_keywatch(env)
                    elif tool == "custodian":
                        run = run_custodian(custodian, env, Path(tmp))
                    else:
                        run = run_floor(env)
                    run["calls"] = counting.take()
                    results[tool].append(run)
                    print(
                        f"  {latency} ms/call, run {i + 1} {tool}: {run['wall']:.2f}s, "
                        f"{sum(run['calls'].values())} calls, {len(run['found'])} found",
                        file=sys.stderr,
                    )
            out["by_latency"].append(compare(latency, truth, results))
    return out


def startup(runs: int, latencies_ms: list[int]) -> list[dict[str, Any]]:
    """The fixed cost: keywatch and the floor on an account with no file system (one empty page each)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp, moto_server() as (endpoint, counting):
        env = tool_env(endpoint, tmp)
        run_keywatch(env)  # the first run compiles bytecode; not counted
        for latency in latencies_ms:
            counting.latency = latency / 1000
            kw, fl = [], []
            for _ in range(runs):
                counting.take()
                kw.append(run_keywatch(env))
                calls = counting.take()
                fl.append(run_floor(env))
                counting.take()
            rows.append(
                {
                    "latency_ms": latency,
                    "keywatch_wall_seconds_median": round(statistics.median(r["wall"] for r in kw), 3),
                    "keywatch_own_seconds_median": round(statistics.median(r["own"] for r in kw), 3),
                    "keywatch_calls": calls,
                    "floor_wall_seconds_median": round(statistics.median(r["wall"] for r in fl), 3),
                }
            )
            print(f"  start-up, {latency} ms/call: {rows[-1]}", file=sys.stderr)
    return rows


def compare(latency: int, truth: dict[str, Any], results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    kw, c7n = results["keywatch"], results["custodian"]

    def side(runs_: list[dict[str, Any]]) -> dict[str, Any]:
        own = [r["own"] for r in runs_ if r["own"] is not None]
        return {
            "wall_seconds_median": round(statistics.median(r["wall"] for r in runs_), 3),
            "wall_seconds_all": [round(r["wall"], 3) for r in runs_],
            "own_seconds_median": round(statistics.median(own), 3) if own else None,
            "api_calls": sum(runs_[-1]["calls"].values()),
            "api_calls_by_action": runs_[-1]["calls"],
            "findings": len(runs_[-1]["found"]),
        }

    row = {
        "latency_ms": latency,
        "same_findings": all(r["found"] == truth["at_risk"] for r in kw + c7n),
        "keywatch": side(kw),
        "custodian": side(c7n),
        "floor": side(results["floor"]),
        "keywatch_self_counted_calls": sum(kw[-1]["self_counted"].values()),
    }
    custodian_wall = row["custodian"]["wall_seconds_median"]
    row["time_ratio"] = round(row["keywatch"]["wall_seconds_median"] / custodian_wall, 3)
    row["floor_ratio"] = round(row["floor"]["wall_seconds_median"] / custodian_wall, 3)
    row["calls_ratio"] = round(row["keywatch"]["api_calls"] / row["custodian"]["api_calls"], 3)
    return row


# --- report -------------------------------------------------------------------------------------------------------


def table(results: dict[str, Any]) -> str:
    lines = []
    if results.get("simulated"):
        lines.append(
            f"{'simulated estate':<30} {'file systems':>12} {'keys':>6} {'first sweep':>12} "
            f"{'repeat':>8} {'EFS+KMS calls':>14} {'floor':>6}"
        )
        for row in results["simulated"]:
            repeat = f"{row['repeat_sweep_seconds_median']:.2f}s" if row["repeat_sweep_seconds_median"] else "-"
            lines.append(
                f"{row['scenario']:<30} {row['file_systems']:>12,} {row['distinct_keys']:>6} "
                f"{row['first_sweep_seconds']:>11.2f}s {repeat:>8} {row['estate_calls']:>14} "
                f"{row['floor']:>6}"
            )
    for vs in [*results.get("versus_custodian", []), results.get("versus_custodian_moto_as_shipped")]:
        if not vs:
            continue
        lines.append("")
        lines.append(
            f"keywatch vs Cloud Custodian, same account on a {vs['server']} server: "
            f"{vs['file_systems']:,} file systems, {vs['keys']} keys, {vs['at_risk']} at risk; "
            f"floor {vs['floor']} calls + sts/organizations"
        )
        lines.append(
            f"{'latency/call':<13} {'tool':<10} {'wall (median)':>14} {'own time':>9} {'API calls':>10} {'findings':>9}"
        )
        for row in vs["by_latency"]:
            for tool in ("keywatch", "custodian", "floor"):
                if tool not in row:  # an earlier run's section, from before the floor was measured
                    continue
                side = row[tool]
                own = f"{side['own_seconds_median']:.2f}s" if side["own_seconds_median"] is not None else "-"
                lines.append(
                    f"{str(row['latency_ms']) + ' ms':<13} {tool:<10} {side['wall_seconds_median']:>13.2f}s "
                    f"{own:>9} {side['api_calls']:>10} {side['findings']:>9}"
                )
            lines.append(
                f"{'':<13} same findings: {row['same_findings']}; time keywatch/custodian "
                f"{row['time_ratio']:.2f}x (goal <= 0.30 at 50 ms, floor {row.get('floor_ratio', float('nan')):.2f}x); "
                f"calls {row['calls_ratio']:.2f}x"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="file systems in the one-account scenarios")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--custodian", type=Path, default=Path(os.environ.get("CUSTODIAN", DEFAULT_CUSTODIAN)))
    parser.add_argument("--versus-sizes", default="2000,10000", help="encrypted file systems in the comparisons")
    parser.add_argument(
        "--latency-ms",
        default="0,50",
        help="round trip added to every call on the moto server, one comparison each (default 0,50)",
    )
    parser.add_argument("--skip-custodian", action="store_true")
    parser.add_argument("--skip-simulated", action="store_true")
    parser.add_argument("--skip-startup", action="store_true", help="skip the fixed cost on an empty account")
    parser.add_argument(
        "--skip-as-shipped",
        action="store_true",
        help="skip the comparison on a moto server left as shipped (10 file systems a page)",
    )
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    results: dict[str, Any] = {
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "moto": version("moto"),
            "boto3": version("boto3"),
        },
        "simulated": [],
    }
    if not args.skip_simulated:
        for n in (int(s) for s in args.sizes.split(",") if s):
            results["simulated"].append(simulated(f"one account, {n:,} fs", one_account_fleet(n), args.runs))
        results["simulated"].append(
            simulated(
                f"{args.accounts} accounts x 2 Regions",
                multi_account_fleet(args.accounts, [REGION, "eu-west-1"], 25),
                args.runs,
            )
        )
    if not args.skip_startup:
        results["startup"] = startup(args.runs, [int(x) for x in args.latency_ms.split(",")])
    if not args.skip_custodian:
        if not args.custodian.exists():
            print(
                f"bench_sweep: {args.custodian} not found (make bench-sweep installs it); use --skip-custodian",
                file=sys.stderr,
            )
            return 2
        done = subprocess.run([str(args.custodian), "version"], capture_output=True, text=True, check=False)
        results["environment"]["c7n"] = done.stdout.strip()
        latencies = [int(x) for x in args.latency_ms.split(",")]
        sizes = [int(x) for x in args.versus_sizes.split(",") if x]
        results["versus_custodian"] = [
            versus_custodian(args.custodian, n, keys_for(n), args.runs, latencies) for n in sizes
        ]
        if not args.skip_as_shipped:
            results["versus_custodian_moto_as_shipped"] = versus_custodian(
                args.custodian, sizes[0], keys_for(sizes[0]), args.runs, [0], as_shipped=True
            )
    if RESULTS.exists():  # sections not measured this time keep their last figures (and say when they were taken)
        previous = json.loads(RESULTS.read_text())
        for section in ("simulated", "startup", "versus_custodian", "versus_custodian_moto_as_shipped"):
            if not results.get(section) and previous.get(section):
                results[section] = previous[section]
                results.setdefault("kept_from_an_earlier_run", []).append(section)
    results["generated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results["machine"] = "2 cores, shared with other engineers' builds and tests while measuring"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
