"""One DisableKey event on simulated estates of growing size: the AWS API calls it costs, and the time.

For each estate size N (default 100, 1,000 and 5,000 EFS file systems in one account and Region),
about 1% of the file systems use the disabled key (every 100th; the rest use another key or none).
The estate is built once per size (moto, in-process), then:

- notify  (the default mode): the same DisableKey is handled --repeat times by one watchdog (one
          container), each with a new event ID so that duplicate detection lets it through. Calls are
          reported for the first event (a new container: it also assumes the role into the key's
          account and creates its clients) and for the last (warm); wall time likewise, cold and the
          median of the warm runs.
- enforce: one more DisableKey, with every affected file system tagged ``keywatch:on-key-loss:
          unmount`` and holding one mount target, so each of them costs its own calls.

The watchdog is wired as the Lambda is in production (estate.settings(): SNS topic, incident store
and idempotency table in DynamoDB). The effect of the event (the key disabled) is applied before the
clock starts; building the estate is not measured. Calls come from ``clients.calls``, which counts
every API call made through the client factory. For scale, the time boto3 alone takes to page through
DescribeFileSystems on the same estate is reported too: at 5,000 file systems moto's paging is most
of the wall time.

Goal: ceil(N/100) DescribeFileSystems + a constant + calls for affected file systems only.
Figures are reported, never asserted. Results go to benchmarks/results/bench_event.json.

    python benchmarks/bench_event.py [--sizes 100,1000,5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections import Counter
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bench_event.json"

ACCOUNT = "111122223333"
REGION = "us-east-1"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"
OTHER_ID = "0987dcba-09fe-87dc-65ba-ab0987654321"
PAGE = 100  # DescribeFileSystems returns at most 100 file systems a page

warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")
for name, value in {
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "POWERTOOLS_METRICS_NAMESPACE": "keywatch",
}.items():
    os.environ.setdefault(name, value)


def fleet(size: int) -> dict[str, Any]:
    """``size`` file systems; every 100th on the key (1%), the others half on another key, half unencrypted."""
    systems: list[dict[str, Any]] = []
    for i in range(size):
        name = f"fs-{i:05d}"
        if i % 100 == 0:
            systems.append(
                {"name": name, "key": KEY_ID, "mount_targets": 1, "tags": {"keywatch:on-key-loss": "unmount"}}
            )
        elif i % 2:
            systems.append({"name": name, "key": OTHER_ID})
        else:
            systems.append({"name": name, "encrypted": False})
    return {
        "accounts": [
            {
                "id": ACCOUNT,
                "regions": {
                    REGION: {
                        "keys": [{"id": KEY_ID, "aliases": ["alias/app"]}, {"id": OTHER_ID}],
                        "file_systems": systems,
                    }
                },
            }
        ]
    }


def disable_key(event_id: str) -> dict[str, Any]:
    """A DisableKey as EventBridge delivers it: the caller passed the bare key ID, the ARN is in resources."""
    return {
        "version": "0",
        "id": f"envelope-{event_id}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.kms",
        "account": ACCOUNT,
        "time": "2026-11-28T09:15:42Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "eventTime": "2026-11-28T09:15:42Z",
            "eventSource": "kms.amazonaws.com",
            "eventName": "DisableKey",
            "awsRegion": REGION,
            "sourceIPAddress": "203.0.113.24",
            "userAgent": "aws-cli/2.17.5",
            "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/bench", "accountId": ACCOUNT},
            "requestParameters": {"keyId": KEY_ID},
            "responseElements": None,
            "eventID": event_id,
            "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY_ARN}],
            "recipientAccountId": ACCOUNT,
        },
    }


def paging_floor(estate: Any) -> float:
    """Wall time of paging through DescribeFileSystems with boto3 alone (warm client): moto's share of the time."""
    efs = estate.clients.client("efs", ACCOUNT, REGION)
    for _ in efs.get_paginator("describe_file_systems").paginate(PaginationConfig={"PageSize": PAGE}):
        pass  # warm up the client
    started = time.perf_counter()
    for _ in efs.get_paginator("describe_file_systems").paginate(PaginationConfig={"PageSize": PAGE}):
        pass
    return time.perf_counter() - started


def measure(size: int, repeat: int) -> list[dict[str, Any]]:
    from keywatch.adapters.aws import AwsClients
    from keywatch.cli.simulator import HOME_ACCOUNT, SIM_ROLE, Estate, Fleet, simulated_aws
    from keywatch.config import Settings
    from keywatch.models import Mode
    from keywatch.parse import parse_event
    from keywatch.runtime import build_watchdog

    rows: list[dict[str, Any]] = []
    with simulated_aws():
        started = time.perf_counter()
        estate = Estate.build(Fleet.model_validate(fleet(size)))
        build_seconds = time.perf_counter() - started
        estate.apply(parse_event(disable_key("bench-apply")))  # AWS has disabled the key before the event arrives
        floor = paging_floor(estate)

        for mode, runs in ((Mode.NOTIFY, repeat), (Mode.ENFORCE, 1)):
            # A new container: its own clients, so the first event pays for entering the key's account.
            clients = AwsClients(read_role=SIM_ROLE, write_role=SIM_ROLE, home_account=HOME_ACCOUNT)
            watchdog = build_watchdog(estate.settings(Settings(mode=mode)), clients)
            walls: list[float] = []
            counted: list[Counter[str]] = []
            affected, outcome = 0, ""
            for run in range(runs):
                event = parse_event(disable_key(f"bench-{size}-{mode.value}-{run}"))
                clients.calls.clear()
                started = time.perf_counter()
                result = watchdog.handle_event(event)
                walls.append(time.perf_counter() - started)
                counted.append(Counter(clients.calls))
                affected, outcome = len(result.affected), result.outcome.value
            cold, warm = counted[0], counted[-1] if runs > 1 else None
            rows.append(
                {
                    "file_systems": size,
                    "mode": mode.value,
                    "affected": affected,
                    "outcome": outcome,
                    "expected_describe_file_systems": math.ceil(size / PAGE),
                    "calls": dict(sorted(cold.items())),
                    "total_calls": sum(cold.values()),
                    "describe_file_systems": cold.get("efs:DescribeFileSystems", 0),
                    "calls_warm": dict(sorted(warm.items())) if warm is not None else None,
                    "total_calls_warm": sum(warm.values()) if warm is not None else None,
                    "wall_seconds": {
                        "runs": [round(w, 4) for w in walls],
                        "cold": round(walls[0], 4),
                        "warm_median": round(statistics.median(walls[1:]), 4) if runs > 1 else None,
                    },
                    "paging_floor_seconds": round(floor, 4),
                    "estate_build_seconds": round(build_seconds, 2),
                }
            )
    return rows


def scaling(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Split each operation's count (first event) into a constant and a part per affected file system.

    DescribeFileSystems is left out: it grows with pages of 100, which here (1% on the key) is also the
    number of affected file systems. Fitted on the smallest and largest estate, checked on every one.
    """
    rows = sorted(rows, key=lambda r: r["affected"])
    if len(rows) < 2 or rows[0]["affected"] == rows[-1]["affected"]:
        return {}
    small, large = rows[0], rows[-1]
    span = large["affected"] - small["affected"]
    per_fs: dict[str, float] = {}
    constant: dict[str, float] = {}
    for op in sorted((set(small["calls"]) | set(large["calls"])) - {"efs:DescribeFileSystems"}):
        slope = (large["calls"].get(op, 0) - small["calls"].get(op, 0)) / span
        if slope:
            per_fs[op] = round(slope, 2)
        base = round(small["calls"].get(op, 0) - slope * small["affected"], 2)
        if base:
            constant[op] = base
    fits = all(
        r["total_calls"] == r["describe_file_systems"] + sum(constant.values()) + sum(per_fs.values()) * r["affected"]
        for r in rows
    )
    return {
        "constant": sum(constant.values()),
        "constant_calls": constant,
        "per_affected_file_system": sum(per_fs.values()),
        "per_affected_file_system_calls": per_fs,
        "fits_every_size": fits,
    }


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "file systems",
        "mode",
        "affected",
        "DescribeFileSystems (goal)",
        "other calls",
        "total cold/warm",
        "wall ms cold/warm",
        "paging alone ms",
    )
    lines = [" | ".join(head), " | ".join("-" * len(h) for h in head)]
    for r in rows:
        warm = r["total_calls_warm"] if r["total_calls_warm"] is not None else "-"
        lines.append(
            " | ".join(
                [
                    f"{r['file_systems']:,}",
                    r["mode"],
                    str(r["affected"]),
                    f"{r['describe_file_systems']} ({r['expected_describe_file_systems']})",
                    str(r["total_calls"] - r["describe_file_systems"]),
                    f"{r['total_calls']}/{warm}",
                    f"{r['wall_seconds']['cold'] * 1000:.0f}/{ms(r['wall_seconds']['warm_median'])}",
                    ms(r["paging_floor_seconds"]),
                ]
            )
        )
    lines.append("")
    for r in rows:
        lines.append(f"{r['file_systems']:>5} {r['mode']:<7} " + ", ".join(f"{op} {n}" for op, n in r["calls"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="estate sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="notify-mode runs per size (wall time)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    rows: list[dict[str, Any]] = []
    for size in sizes:
        print(f"building and measuring {size:,} file systems...", file=sys.stderr)
        rows.extend(measure(size, max(1, args.repeat)))

    summary: dict[str, Any] = {
        "describe_file_systems_is_ceil_n_over_100": all(
            r["describe_file_systems"] == r["expected_describe_file_systems"] for r in rows
        ),
    }
    for mode in ("notify", "enforce"):
        summary[mode] = scaling([r for r in rows if r["mode"] == mode])
    document = {
        "benchmark": "one DisableKey event, estate of N EFS file systems, ~1% on the key",
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "moto": version("moto"),
        "boto3": version("boto3"),
        "note": (
            "AWS is simulated by moto in-process: call counts carry over to AWS, wall times do not. "
            "paging_floor_seconds is boto3 paging DescribeFileSystems alone on the same estate: moto's "
            "share of the wall time (its paging is superlinear in N)."
        ),
        "summary": summary,
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(table(rows))
    print()
    print(json.dumps(summary, indent=1))
    print(f"written to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
