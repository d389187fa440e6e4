"""How long a click on an approve-mode button takes to be answered (Slack wants its answer within 3 s).

An alert is handled in approve mode on a small simulated estate (moto, in-process); then the real
endpoint (functions/slack_actions/app.py) is sent a signed ``block_actions`` function-URL request for
its "Re-enable key" button, as Slack sends it. The endpoint verifies the signature, checks the
approver, claims the approval, re-enables the key inline (DescribeKey, EnableKey, DescribeKey), records
the incident and rewrites the message through ``response_url`` (a local HTTP server on 127.0.0.1). The
first click of a container is reported apart (it builds clients and reads the signing secret), then the
median of the warm ones. Each click is on a fresh alert (the key disabled again), so each one really acts.

Figures are reported, never asserted. Results go to benchmarks/results/click.json.

    python benchmarks/bench_click.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
import warnings
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # support.load_function: functions/<name>/app.py as Lambda loads it
os.environ.update(POWERTOOLS_METRICS_DISABLED="true", POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_LOG_LEVEL="ERROR")
warnings.filterwarnings("ignore")
SECRET = "bench-signing-secret"
APP_KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
FLEET = {
    "accounts": [
        {
            "id": "111122223333",
            "regions": {
                "us-east-1": {
                    "keys": [{"id": APP_KEY, "aliases": ["alias/app"]}],
                    "file_systems": [
                        {"name": "app-home", "key": APP_KEY, "tags": {"keywatch:on-key-loss": "protect"}},
                    ],
                }
            },
        }
    ]
}


class Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()

    from keywatch.cli.simulator import INCIDENTS_TABLE, Estate, Fleet, simulated_aws, simulated_environment
    from keywatch.config import Settings
    from keywatch.models import Mode
    from keywatch.parse import parse_event
    from keywatch.runtime import build_watchdog
    from slack_sdk.signature import SignatureVerifier
    from support import FakeLambdaContext, load_event, load_function

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    timings: list[float] = []
    with simulated_aws():
        estate = Estate.build(Fleet.model_validate(FLEET))
        arn = estate.clients.home_client("secretsmanager", "us-east-1").create_secret(
            Name="keywatch/signing", SecretString=SECRET
        )["ARN"]
        os.environ.update(
            simulated_environment(estate.fleet)
            | {"KEYWATCH_MODE": "approve", "KEYWATCH_SLACK_SIGNING_SECRET": arn, "KEYWATCH_SLACK_APPROVERS": "U0BENCH"}
        )
        dog = build_watchdog(
            estate.settings(Settings(mode=Mode.APPROVE)), estate.clients, slack_webhook=f"{base}/services/T/B/x"
        )
        from keywatch.adapters.approvals import DynamoApprovalStore

        store = DynamoApprovalStore(estate.clients, INCIDENTS_TABLE, "us-east-1")
        app = load_function("slack_actions")
        kms = estate.clients.client("kms", "111122223333", "us-east-1")
        for i in range(args.repeat + 1):
            kms.disable_key(KeyId=APP_KEY)
            event = parse_event(load_event("disable_key")).model_copy(update={"event_id": f"bench-{i}"})
            result = dog.handle_event(event)
            token = next(
                a.token
                for a in store.of_set(result.key_arn or "", store_set(store, result.key_arn or "", event.event_id))
                if a.choice == "enable"
            )
            payload = {
                "type": "block_actions",
                "user": {"id": "U0BENCH", "username": "bench"},
                "response_url": f"{base}/actions/T/1/x",
                "actions": [{"type": "button", "action_id": "keywatch_enable", "value": f"{token}|{result.key_arn}"}],
            }
            body = urlencode({"payload": json.dumps(payload)})
            ts = str(int(time.time()))
            sig = SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)
            request = {
                "version": "2.0",
                "rawPath": "/",
                "headers": {"x-slack-request-timestamp": ts, "x-slack-signature": sig or ""},
                "requestContext": {"requestId": f"r{i}", "http": {"method": "POST"}},
                "body": body,
                "isBase64Encoded": False,
            }
            started = time.perf_counter()
            response = app.lambda_handler(request, FakeLambdaContext())
            timings.append(time.perf_counter() - started)
            state = kms.describe_key(KeyId=APP_KEY)["KeyMetadata"]["KeyState"]
            assert response["statusCode"] == 200 and state == "Enabled", (response, state)
    server.shutdown()
    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, moto in-process",
        "clicks": len(timings),
        "first_click_seconds": round(timings[0], 3),
        "warm_click_median_seconds": round(statistics.median(timings[1:]), 3),
        "warm_click_max_seconds": round(max(timings[1:]), 3),
        "slack_limit_seconds": 3,
    }
    out = ROOT / "benchmarks" / "results" / "click.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def store_set(store: Any, key_arn: str, event_id: str) -> str:
    """The set of buttons the alert for ``event_id`` carries."""
    items = store._query(key_arn, "approvalset#")
    return str(next(i["set_id"] for i in items if i["event_id"] == event_id))


if __name__ == "__main__":
    main()
