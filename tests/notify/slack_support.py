"""Support for the notification tests: a fake Slack on 127.0.0.1 and deterministic results."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from keywatch.models import (
    ActionResult,
    Affected,
    EventResult,
    KeyInfo,
    Outcome,
    Policy,
    Severity,
)
from keywatch.parse import parse_event

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
NOW = datetime(2026, 11, 29, 5, 0, 0, tzinfo=UTC)  # the frozen clock of every message test
WEBHOOK_PATH = "/services/T0KEYWATCH/B0KEYWATCH/hunter2SecretWebhookPath"
TOKEN = "xoxb-1111-2222-keywatchTestToken"
MAX_REQUESTS = 200  # a runaway retry loop fails the test instead of hanging it


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


@dataclass
class Reply:
    status: int = 200
    body: str | dict[str, Any] = "ok"
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlack:
    """Incoming webhooks (any path under /services/) and the Web API's chat.postMessage (under /api/).

    Replies are scripted: ``then(...)`` queues replies, ``always(...)`` sets the one used when the
    queue is empty. chat.postMessage answers ``{"ok": true, "channel", "ts"}`` by default.
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.statuses: list[int] = []  # the status each request was answered with, in order
        self._queue: list[Reply] = []
        self._default: Reply | None = None
        self._lock = threading.Lock()
        self._ts = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = {"_raw": raw}
                reply = fake._record(Request(self.path, dict(self.headers.items()), body, time.monotonic()))
                payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                data = payload.encode("utf-8")
                self.send_response(reply.status)
                content_type = "application/json" if not isinstance(reply.body, str) else "text/plain"
                self.send_header("Content-Type", f"{content_type}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-slack", daemon=True)

    def _record(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            if len(self.requests) > MAX_REQUESTS:
                return Reply(400, "too_many_requests_in_test")
            if self._queue:
                reply = self._queue.pop(0)
            elif self._default is not None:
                reply = self._default
            else:
                reply = Reply()
            if (
                request.path.endswith(("/chat.postMessage", "/chat.update"))
                and reply.status == 200
                and reply.body == "ok"
            ):
                self._ts += 1
                reply = Reply(
                    200,
                    {
                        "ok": True,
                        "channel": request.body.get("channel", "C0ALERTS"),
                        "ts": request.body.get("ts") or f"1764392400.{self._ts:06d}",
                    },
                )
            self.statuses.append(reply.status)
            return reply

    def then(self, *replies: Reply) -> FakeSlack:
        with self._lock:
            self._queue.extend(replies)
        return self

    def always(self, reply: Reply) -> FakeSlack:
        self._default = reply
        return self

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def webhook_url(self) -> str:
        return self.base + WEBHOOK_PATH

    @property
    def api_url(self) -> str:
        return self.base + "/api/"

    def posts(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests]

    def delivered(self) -> list[dict[str, Any]]:
        """The messages Slack took: requests answered 200 (a webhook's "ok", or chat.postMessage's ok)."""
        return [r.body for r, status in zip(self.requests, self.statuses, strict=False) if status == 200]

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


# --- deterministic results --------------------------------------------------------------------------

KEY_ALIASES = {
    "1234abcd-12ab-34cd-56ef-1234567890ab": ["alias/app"],
    "0987dcba-09fe-87dc-65ba-ab0987654321": ["alias/billing"],
    "mrk-1234abcd12ab34cd56ef1234567890ab": ["alias/global"],
    "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d": ["alias/imported"],
}


def fs(
    fs_id: str,
    name: str | None,
    policy: Policy = Policy.NOTIFY,
    mounts: int = 2,
    after: int | None = None,
    account: str = "111122223333",
    region: str = "us-east-1",
) -> Affected:
    return Affected(
        file_system_id=fs_id,
        name=name,
        account=account,
        region=region,
        mount_targets=mounts,
        mount_targets_after=mounts if after is None else after,
        policy=policy,
    )


APP_FS = [
    fs("fs-0a1b2c3d4e5f60001", "app-shared", Policy.UNMOUNT),
    fs("fs-0a1b2c3d4e5f60002", "app-home", Policy.PROTECT, mounts=1),
    fs("fs-0a1b2c3d4e5f60003", "partner-share", mounts=1, account="444455556666"),
]

# event sample -> (outcome, severity, key state, reason, affected, actions, state after)
KINDS: dict[str, tuple[Any, ...]] = {
    "disable_key": (
        Outcome.ALERT,
        Severity.HIGH,
        "Disabled",
        "The key is Disabled; 3 EFS file systems will lose access after a period of time.",
        APP_FS,
        [],
        None,
    ),
    "enable_key": (
        Outcome.RESOLVED,
        Severity.INFO,
        "Enabled",
        "The key is Enabled again; 3 EFS file systems can use it.",
        APP_FS,
        [],
        None,
    ),
    "schedule_key_deletion": (
        Outcome.ALERT,
        Severity.CRITICAL,
        "PendingDeletion",
        "The key is scheduled for deletion, which is irreversible; 1 EFS file system will become unreadable.",
        [fs("fs-0a1b2c3d4e5f60004", "billing-reports", Policy.PROTECT)],
        [],
        None,
    ),
    "cancel_key_deletion": (
        Outcome.ALERT,
        Severity.HIGH,
        "Disabled",
        "The key is Disabled; 1 EFS file system will lose access after a "
        "period of time. Cancelling a deletion leaves the key Disabled.",
        [fs("fs-0a1b2c3d4e5f60004", "billing-reports", Policy.PROTECT)],
        [],
        None,
    ),
    "schedule_key_deletion_multi_region": (
        Outcome.ALERT,
        Severity.CRITICAL,
        "PendingReplicaDeletion",
        "The key is a multi-Region primary pending deletion; 1 EFS file system will become unreadable.",
        [fs("fs-0a1b2c3d4e5f60005", "media-assets", mounts=3)],
        [],
        None,
    ),
    "revoke_grant": (
        Outcome.ALERT,
        Severity.HIGH,
        "Enabled",
        "arn:aws:sts::111122223333:assumed-role/Admin/alice called RevokeGrant (grant "
        "2cd2ce2f2d222f22fc22ee2c2f22fe22def222e222f2222222e2de2c2222cccfSAMPLE): the EFS grant of 1 EFS file "
        "system is gone; it will lose access to the key.",
        [APP_FS[1]],
        [],
        None,
    ),
    "delete_imported_key_material": (
        Outcome.ALERT,
        Severity.CRITICAL,
        "PendingImport",
        "The key has no key material (deleted or expired); 1 EFS file system will become unreadable.",
        [fs("fs-0a1b2c3d4e5f60006", "secrets-vault", Policy.UNMOUNT, after=0)],
        [
            ActionResult(
                type="delete_mount_targets",
                target="fs-0a1b2c3d4e5f60006",
                status="done",
                detail="deleted 2 of 2 mount targets (recorded for restore)",
            )
        ],
        None,
    ),
    "import_key_material": (
        Outcome.RESOLVED,
        Severity.INFO,
        "Enabled",
        "The key is Enabled again; 1 EFS file system can use it.",
        [fs("fs-0a1b2c3d4e5f60006", "secrets-vault", Policy.UNMOUNT, mounts=0, after=2)],
        [
            ActionResult(
                type="restore_mount_targets",
                target="fs-0a1b2c3d4e5f60006",
                status="done",
                detail="re-created 2 of 2 mount targets",
            )
        ],
        None,
    ),
    "kms_cmk_deletion": (
        Outcome.ALERT,
        Severity.CRITICAL,
        "Deleted",
        "The key has been deleted; the data on 1 EFS file system will become unreadable.",
        [fs("fs-0a1b2c3d4e5f60007", "legacy-archive", mounts=1)],
        [],
        None,
    ),
    "kms_imported_key_material_expiration": (
        Outcome.ALERT,
        Severity.CRITICAL,
        "PendingImport",
        "The key has no key material (deleted or expired); 1 EFS file system will become unreadable.",
        [fs("fs-0a1b2c3d4e5f60006", "secrets-vault", Policy.UNMOUNT, after=0)],
        [
            ActionResult(
                type="delete_mount_targets",
                target="fs-0a1b2c3d4e5f60006",
                status="done",
                detail="deleted 2 of 2 mount targets (recorded for restore)",
            )
        ],
        None,
    ),
}


def load_sample(name: str) -> dict[str, Any]:
    matches = sorted(p for p in EVENTS.glob("*.json") if p.stem.split("_", 1)[-1] == name)
    return json.loads(matches[0].read_text())


def make_result(
    kind: str,
    *,
    affected: list[Affected] | None = None,
    actions: list[ActionResult] | None = None,
    state_after: str | None = None,
    event_id: str | None = None,
) -> EventResult:
    """A result as the engine would report it for the sample event ``kind``, built without AWS."""
    outcome, severity, state, reason, default_fs, default_actions, default_after = KINDS[kind]
    event = parse_event(load_sample(kind))
    if event_id:
        event = event.model_copy(update={"event_id": event_id})
    assert event.key_arn
    key_id = event.key_arn.rsplit("/", 1)[-1]
    deletion = event.deletion_date if state == "PendingDeletion" else None
    key = KeyInfo(
        arn=event.key_arn, key_id=key_id, state=state, aliases=KEY_ALIASES.get(key_id, []), deletion_date=deletion
    )
    return EventResult(
        event_id=event.event_id,
        event_name=event.event_name,
        key_arn=event.key_arn,
        key_state=state,
        outcome=outcome,
        severity=severity,
        reason=reason,
        affected=list(default_fs if affected is None else affected),
        actions=list(default_actions if actions is None else actions),
        key_state_after=state_after or default_after or state,
        event=event,
        key=key,
    )


def all_text(payload: Any) -> str:
    """Every string in a payload, joined: what a reader (or an attacker) could see."""
    if isinstance(payload, dict):
        return "\n".join(all_text(v) for v in payload.values())
    if isinstance(payload, list):
        return "\n".join(all_text(v) for v in payload)
    return payload if isinstance(payload, str) else ""
