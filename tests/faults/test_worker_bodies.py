"""The queue workers read each SQS body with keywatch's own model: a body that isn't one fails its message
alone (ReportBatchItemFailures), the good ones are done, and nothing is reported done that wasn't."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import FakeLambdaContext, load_function, sqs_record

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
FS = {"file_system_id": "fs-0123456789abcdef0", "account": "111122223333", "region": "us-east-1"}
WRONG_SHAPE = json.dumps({"key_arn": KEY})


def test_given_approved_work_and_two_bad_bodies_when_the_worker_runs_then_only_the_bad_ones_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = load_function("approved_actions")
    ran: list[tuple[str, int]] = []
    monkeypatch.setattr(app, "worker", lambda: (object(), object()))
    monkeypatch.setattr(
        app, "run_approved", lambda runner, messages, work, count: ran.append((work.token, count)) or {"status": "done"}
    )
    good = json.dumps({"key_arn": KEY, "token": "t" * 24})
    records = [
        sqs_record(good, "good", receive_count=3),
        sqs_record("not json", "not-json"),
        sqs_record(WRONG_SHAPE, "shape"),
    ]

    response = app.lambda_handler({"Records": records}, FakeLambdaContext())

    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == {"not-json", "shape"}
    assert ran == [("t" * 24, 3)]  # the good one, with SQS's receive count as a number


def test_given_handed_off_work_and_two_bad_bodies_when_the_worker_runs_then_only_the_bad_ones_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = load_function("remediation_worker")
    finished: list[str] = []

    class Watchdog:
        def keep_time_of(self, context: Any) -> None: ...

        def finish_handed_off(self, work: Any) -> list[Any]:
            finished.append(work.event_id)
            return []

    monkeypatch.setattr(app, "watchdog", Watchdog)
    good = json.dumps(
        {"event_id": "e-1", "key_arn": KEY, "actions": [{"type": "delete_mount_targets", "file_system": FS}]}
    )
    records = [sqs_record(good, "good"), sqs_record("[", "not-json"), sqs_record(WRONG_SHAPE, "shape")]

    response = app.lambda_handler({"Records": records}, FakeLambdaContext())

    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == {"not-json", "shape"}
    assert finished == ["e-1"]
