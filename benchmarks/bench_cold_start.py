"""Cold start: what each handler costs to import and initialise, against the floor of boto3 itself.

Each measurement runs in a fresh Python process with the environment Lambda gives a function
(AWS_LAMBDA_FUNCTION_NAME, LAMBDA_TASK_ROOT, POWERTOOLS_*, the KEYWATCH_* variables template.yaml
sets) and throwaway credentials. moto is not involved, and the process refuses any network
connection: creating boto3 clients does not call AWS.

- floor:   ``import boto3`` and create the clients the handler needs;
- handler: import ``functions/<name>/app.py`` as Lambda does, run its one-time initialisation (the
           cached builder the handler calls on its first event), and create the same clients
           through the client factory that initialisation built.

The ratio is handler / floor in CPU time of the child (time.process_time), each the least of --runs
processes run alternately: other work on the machine only ever adds time, so the least is the
steadiest estimate (as timeit advises). The ratio of the medians (median_ratio) and of wall-clock
medians (wall_ratio) are reported too. Goal: <= 1.5x.
Figures are reported, never asserted. Results go to benchmarks/results/cold_start.json.

    python benchmarks/bench_cold_start.py [--runs 9] [--importtime key_events] [--stack] [--results FILE]

--stack also times benchmarks/stack_only/app.py, key_events' dependencies with no keywatch code (pydantic,
Powertools Logger/Metrics/Tracer/Idempotency, one envelope model, keywatch's client factory): what the stack
itself costs against the same floor, reported under "stack_only", apart from the handlers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "cold_start.json"
GOAL = 1.5
ACCOUNT = "123456789012"
REGION = "us-east-1"

# What each handler builds on its first event (a @functools.cache'd function), and the clients it needs.
HANDLERS = {
    "key_events": ("watchdog", ("kms", "efs", "sns", "dynamodb", "sts")),
    "sweep": ("settings_and_clients", ("organizations", "sqs", "sts")),
    "sweep_worker": ("sweeper", ("kms", "efs", "sns", "dynamodb", "sts")),
    # approve mode's endpoint: Slack wants its answer within 3 s, cold start included
    "slack_actions": ("handler", ("secretsmanager", "dynamodb", "kms", "sqs", "sts")),
}

# key_events' stack with none of keywatch's code (benchmarks/stack_only/app.py), timed with --stack
STACK = "stack_only"

# The child sees only what Lambda would: the standard library, the runtime's boto3 stack and the
# layer's packages (layers/requirements.txt). The dev venv also holds moto, requests, httpx, yaml...
# which the X-Ray patcher and others would otherwise find and import, inflating the figures.
LAYER_AND_RUNTIME = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "six",
    "urllib3",
    "aws_lambda_powertools",
    "aws_xray_sdk",
    "wrapt",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_extensions",
    "typing_inspection",
    "slack_sdk",
    "slack",
    "keywatch",
    "app",
)

GUARD = (
    """
import importlib.abc, sys
_ALLOWED = set(sys.stdlib_module_names) | set("""
    + repr(LAYER_AND_RUNTIME)
    + """)
class _LambdaOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in _ALLOWED or top.startswith("_"):
            return None
        raise ModuleNotFoundError("No module named %r (not in the Lambda runtime or layer)" % name, name=name)
sys.meta_path.insert(0, _LambdaOnly())
import socket
def _refuse(*args, **kwargs):
    raise RuntimeError("cold-start benchmark: no network calls allowed")
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
"""
)

FLOOR = (
    GUARD
    + """
import json, time
c0, t0 = time.process_time(), time.perf_counter()
import boto3
t1 = time.perf_counter()
session = boto3.Session()
clients = [session.client(name, region_name="{region}") for name in {services!r}]
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({{"import": t1 - t0, "init": 0.0, "clients": t2 - t1, "total": t2 - t0, "cpu": c2 - c0}}))
"""
)

HANDLER = (
    GUARD
    + """
import importlib, json, sys, time
sys.path.insert(0, {task_root!r})
c0, t0 = time.process_time(), time.perf_counter()
app = importlib.import_module("app")
t1 = time.perf_counter()
# The first event learns the home account with one STS GetCallerIdentity: a network round trip, not
# start-up work, and impossible offline. It is replaced by the account ID (after the timed import).
from keywatch.adapters.aws import AwsClients
AwsClients.home_account = property(lambda self: self._home_account or "{account}")
built = getattr(app, {init!r})()
# key_events registers the Lambda context on every event, which builds duplicate detection: count it.
getattr(built, "register_lambda_context", lambda context: None)(None)
t2 = time.perf_counter()
# the handler's own client factory: a Watchdog's, a Sweeper's watchdog's, or (settings, clients)
found = [built, getattr(built, "clients", None), getattr(getattr(built, "watchdog", None), "clients", None)]
found.append(getattr(getattr(getattr(built, "runner", None), "watchdog", None), "clients", None))  # ClickHandler
found += list(built) if isinstance(built, tuple) else []
factory = next(f for f in found if isinstance(f, AwsClients))
clients = [factory.client(name, "{account}", "{region}") for name in {services!r}]
t3, c3 = time.perf_counter(), time.process_time()
print(json.dumps({{"import": t1 - t0, "init": t2 - t1, "clients": t3 - t2, "total": t3 - t0, "cpu": c3 - c0}}))
"""
)


def lambda_env(name: str, task_root: Path) -> dict[str, str]:
    """The variables Lambda and template.yaml set, and nothing from the caller's AWS configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWATCH_", "POWERTOOLS_"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "AKIABENCHMARKONLY000",
            "AWS_SECRET_ACCESS_KEY": "benchmark-only",
            "AWS_SESSION_TOKEN": "benchmark-only",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_LAMBDA_FUNCTION_NAME": f"keywatch-{name}",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "LAMBDA_TASK_ROOT": str(task_root),
            "_HANDLER": "app.lambda_handler",
            "POWERTOOLS_SERVICE_NAME": "keywatch",
            "POWERTOOLS_METRICS_NAMESPACE": "keywatch",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "POWERTOOLS_LOGGER_LOG_EVENT": "false",
            "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
            "PYDANTIC_DISABLE_PLUGINS": "__all__",
            # template.yaml's Globals, as a default deployment sets them (notify mode, no Slack, one account;
            # tests/template/test_bench_environment.py keeps the two in step)
            "KEYWATCH_MODE": "notify",
            "KEYWATCH_HOME_ACCOUNT": ACCOUNT,
            "KEYWATCH_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:keywatch-AlertTopic",
            "KEYWATCH_SLACK_SECRET": "",
            "KEYWATCH_SLACK_CHANNEL": "",
            "KEYWATCH_INCIDENTS_TABLE": "keywatch-IncidentsTable",
            "KEYWATCH_IDEMPOTENCY_TABLE": "keywatch-IdempotencyTable",
            "KEYWATCH_READ_ROLE": "keywatch-read",
            "KEYWATCH_WRITE_ROLE": "keywatch-remediate",
            "KEYWATCH_OWN_ROLE_ARNS": f"arn:aws:iam::{ACCOUNT}:role/keywatch/keywatch-KeyEventsFunctionRole",
            "KEYWATCH_ACCOUNTS": "",
            "KEYWATCH_REGIONS": REGION,
            "KEYWATCH_COUNTDOWN_DAYS": "7,1",
            "KEYWATCH_SWEEP_QUEUE_URL": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/keywatch-SweepQueue",
            "KEYWATCH_REMEDIATION_QUEUE_URL": "",
            "KEYWATCH_INDEX_TABLE": "keywatch-KeyIndexTable",
            "KEYWATCH_SWEEP_SCHEDULE": "rate(6 hours)",
            "KEYWATCH_SLACK_SIGNING_SECRET": "",
            "KEYWATCH_SLACK_APPROVERS": "",
            "KEYWATCH_SLACK_APPROVER_GROUP": "",
            "KEYWATCH_APPROVAL_HOURS": "72",
            "KEYWATCH_APPROVALS_QUEUE_URL": "",
        }
    )
    if name == "slack_actions":
        env.update(
            {
                "KEYWATCH_MODE": "approve",
                "KEYWATCH_SLACK_SIGNING_SECRET": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:keywatch-signing",
                "KEYWATCH_SLACK_APPROVERS": "U0123ABCD",
                "KEYWATCH_APPROVALS_QUEUE_URL": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/keywatch-ApprovedActions",
            }
        )
    return env


def run_child(code: str, env: dict[str, str], extra: tuple[str, ...] = ()) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *extra, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tempfile.gettempdir(),
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{done.stderr[-4000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process"] = wall
    figures["stderr"] = done.stderr  # type: ignore[assignment]
    return figures


def compile_sources() -> None:
    """Bytecode for keywatch and the handlers, as site-packages already has for boto3 and the rest.

    PYTHONDONTWRITEBYTECODE (set on some machines) would otherwise make every child compile keywatch
    from source while boto3 loads from .pyc: the ratio would measure the compiler, not the imports.
    """
    import compileall

    for folder in (ROOT / "layers" / "keywatch", ROOT / "functions"):
        if not compileall.compile_dir(folder, quiet=1):
            raise SystemExit(f"cannot compile {folder}")


def measure(name: str, runs: int, scratch: Path) -> dict[str, object]:
    init, services = HANDLERS["key_events" if name == STACK else name]
    task_root = ROOT / "benchmarks" / name if name == STACK else ROOT / "functions" / name
    env = lambda_env(name, scratch)
    floor_code = FLOOR.format(region=REGION, services=services)
    handler_code = HANDLER.format(
        task_root=str(task_root), init=init, account=ACCOUNT, region=REGION, services=services
    )
    run_child(handler_code, env)  # warm the OS file cache and write bytecode, as a deployed layer has it
    run_child(floor_code, env)
    floors, handlers = [], []
    for _ in range(runs):
        floors.append(run_child(floor_code, env))
        handlers.append(run_child(handler_code, env))

    def median(rows: list[dict[str, float]], key: str) -> float:
        return round(statistics.median(r[key] for r in rows), 4)

    def least(rows: list[dict[str, float]], key: str) -> float:
        return round(min(r[key] for r in rows), 4)

    floor, handler = least(floors, "cpu"), least(handlers, "cpu")
    return {
        "clients": list(services),
        "floor_cpu_s": floor,
        "handler_cpu_s": handler,
        "ratio": round(handler / floor, 2),
        "median_ratio": round(median(handlers, "cpu") / median(floors, "cpu"), 2),
        "floor_wall_s": median(floors, "total"),
        "handler_wall_s": median(handlers, "total"),
        "wall_ratio": round(median(handlers, "total") / median(floors, "total"), 2),
        "handler_parts_s": {part: median(handlers, part) for part in ("import", "init", "clients")},
        "floor_process_s": median(floors, "process"),
        "handler_process_s": median(handlers, "process"),
        "process_ratio": round(median(handlers, "process") / median(floors, "process"), 2),
        "runs": runs,
        "meets_goal": handler / floor <= GOAL,
    }


def importtime(name: str, scratch: Path, top: int = 25) -> None:
    """Print the imports that cost the handler most (self time), from python -X importtime."""
    init, services = HANDLERS[name]
    code = HANDLER.format(
        task_root=str(ROOT / "functions" / name), init=init, account=ACCOUNT, region=REGION, services=services
    )
    rows = []
    for line in str(run_child(code, lambda_env(name, scratch), ("-X", "importtime"))["stderr"]).splitlines():
        if line.startswith("import time:") and "|" in line and "self" not in line:
            own, cumulative, module = (part.strip() for part in line.removeprefix("import time:").split("|"))
            rows.append((int(own), int(cumulative), module))
    print(f"{'self ms':>8} {'cumul ms':>9}  module ({name})")
    for own, cumulative, module in sorted(rows, reverse=True)[:top]:
        print(f"{own / 1000:8.1f} {cumulative / 1000:9.1f}  {module}")


def _previous_report(results: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(results.read_text()))
    except (OSError, ValueError):
        return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--handler", choices=sorted(HANDLERS), action="append")
    parser.add_argument("--importtime", choices=sorted(HANDLERS), help="show the costliest imports instead")
    parser.add_argument("--stack", action="store_true", help="also time key_events' stack alone (stack_only)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write (another Python: another file)")
    args = parser.parse_args()
    compile_sources()
    with tempfile.TemporaryDirectory(prefix="keywatch-bench-") as scratch:
        if args.importtime:
            importtime(args.importtime, Path(scratch))
            return
        names = args.handler or sorted(HANDLERS)
        results = {name: measure(name, args.runs, Path(scratch)) for name in names}
        stack = measure(STACK, args.runs, Path(scratch)) if args.stack else None
    previous = _previous_report(args.results)
    report = {
        "benchmark": "cold start: import + first-event initialisation + clients, vs import boto3 + the same clients",
        "ratio": "handler CPU time / floor CPU time, least of the runs (median_ratio: of the medians; "
        "wall_ratio: of the wall-clock medians)",
        "goal_ratio": GOAL,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        # a run of some handlers (--handler) keeps the others' last figures
        "handlers": dict(previous.get("handlers", {})) | results if args.handler else results,
    }
    if stack is not None or STACK in previous:  # a run without --stack keeps the last stack_only figures
        report[STACK] = stack if stack is not None else previous[STACK]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"{'handler':<14}{'floor ms':>10}{'handler ms':>12}{'ratio':>8}{'median':>8}{'wall':>7}"
        "  (wall ms: import / init / clients)"
    )
    for name, r in results.items():
        parts = r["handler_parts_s"]
        assert isinstance(parts, dict)
        print(
            f"{name:<14}{float(r['floor_cpu_s']) * 1000:>10.0f}{float(r['handler_cpu_s']) * 1000:>12.0f}"
            f"{r['ratio']:>7}x{r['median_ratio']:>7}x{r['wall_ratio']:>6}x"
            f"  ({' / '.join(f'{v * 1000:.0f}' for v in parts.values())})"
            f"{'' if r['meets_goal'] else '  above the goal of ' + str(GOAL) + 'x'}"
        )
    if stack is not None:
        print(
            f"{STACK + ' (ref)':<14}{float(stack['floor_cpu_s']) * 1000:>10.0f}"
            f"{float(stack['handler_cpu_s']) * 1000:>12.0f}{stack['ratio']:>7}x"
            "  key_events' dependencies alone: the rest of the budget is keywatch's"
        )
    print(f"written to {args.results}")


if __name__ == "__main__":
    main()
