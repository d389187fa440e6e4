"""Enforce at scale: when an invocation runs short of time, the file systems it has not started go to the
remediation queue; the remediation worker finishes them, and nothing is done twice.

The real handlers (functions/key_events, functions/remediation_worker) with the template's environment (Mode
enforce: the queue exists), on a moto estate built with plain boto3. The time left is what the Lambda context
says; the batches are made small so that a small fleet spans several.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from fault_support import IDEMPOTENCY, Deployed, Estate, Faults
from keywatch.errors import HandlingIncomplete
from notify.slack_support import FakeSlack
from support import FakeLambdaContext, load_function, sqs_record
from test_faults import assert_alerted_once, disable

MORE = 7  # file systems on the unmount key besides the estate's own "cut" (two mount targets)


@dataclass
class RunningOut(FakeLambdaContext):
    """A context with plenty of time until the first mount targets are deleted, then less than the reserve."""

    deletes: Counter[str] = field(default_factory=Counter)

    def get_remaining_time_in_millis(self) -> int:
        return 15_000 if self.deletes else 100_000


@pytest.fixture
def many(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Eight file systems tagged unmount on the key, batches of three, two file systems per message."""
    from keywatch import handoff, remediate

    efs, ec2 = estate.client("efs"), estate.client("ec2")
    subnet = estate.mount_targets(estate.cut_fs)[0]["SubnetId"]
    group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["nfs"]}])["SecurityGroups"][0]
    made = [estate.cut_fs]
    for i in range(MORE):
        fs = efs.create_file_system(
            CreationToken=f"more-{i}",
            Encrypted=True,
            KmsKeyId=estate.unmount_key,
            Tags=[{"Key": "Name", "Value": f"more-{i}"}, {"Key": "keywatch:on-key-loss", "Value": "unmount"}],
        )["FileSystemId"]
        efs.create_mount_target(FileSystemId=fs, SubnetId=subnet, SecurityGroups=[group["GroupId"]])
        made.append(fs)
    monkeypatch.setattr(remediate, "BATCH", 3)
    monkeypatch.setattr(handoff, "PER_MESSAGE", 2)
    return made


@pytest.fixture
def deletes(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every DeleteMountTarget that reached EFS, by mount target ID."""
    from moto.efs.models import EFSBackend

    counted: Counter[str] = Counter()
    original = EFSBackend.delete_mount_target

    def counting(backend: Any, mount_target_id: str) -> Any:
        counted[mount_target_id] += 1
        return original(backend, mount_target_id)

    monkeypatch.setattr(EFSBackend, "delete_mount_target", counting)
    return counted


def handed_off(estate: Estate) -> list[dict[str, Any]]:
    """The remediation queue's messages, as SQS hands them to the worker (read, left on the queue)."""
    sqs = estate.client("sqs")
    records = []
    while batch := sqs.receive_message(
        QueueUrl=estate.remediation_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
    ).get("Messages", []):
        records += [sqs_record(m["Body"], m["MessageId"]) for m in batch]
        sqs.delete_message_batch(
            QueueUrl=estate.remediation_queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return records


def worker() -> Any:
    module = load_function("remediation_worker")
    module.watchdog.cache_clear()
    return module


def history(estate: Estate, key_arn: str) -> list[tuple[str, str]]:
    """(file system, status) of every delete_mount_targets in the incident's action history."""
    actions = estate.incident(key_arn).get("actions", {}).get("L", [])
    return [
        (a["M"]["target"]["S"], a["M"]["status"]["S"]) for a in actions if a["M"]["type"]["S"] == "delete_mount_targets"
    ]


def test_given_time_runs_short_when_unmounting_then_the_rest_is_queued_and_the_worker_finishes_it_once(
    deployed: Deployed, estate: Estate, slack: FakeSlack, many: list[str], deletes: Counter[str]
) -> None:
    mount_targets = {mt["MountTargetId"] for fs in many for mt in estate.mount_targets(fs)}

    report = deployed.invoke(disable(estate), RunningOut(deletes=deletes))

    statuses = Counter(a["status"] for a in report["actions"])
    assert statuses == {"done": 3, "queued": 5}, "one batch of three, then the rest handed over"
    queued = {a["target"] for a in report["actions"] if a["status"] == "queued"}
    assert all("remediation queue" in a["detail"] for a in report["actions"] if a["status"] == "queued")
    assert all(estate.mount_targets(fs) for fs in queued), "nothing handed over was started"
    assert_alerted_once(estate, slack)
    records = handed_off(estate)
    assert len(records) == 3  # five file systems, two per message
    assert sorted(a["file_system"]["file_system_id"] for r in records for a in json.loads(r["body"])["actions"]) == (
        sorted(queued)
    )

    answer = worker().lambda_handler({"Records": records}, FakeLambdaContext())

    assert answer == {"batchItemFailures": []}
    assert all(estate.mount_targets(fs) == [] for fs in many)
    assert all(estate.recorded_mount_targets(estate.unmount_key, fs) for fs in many)
    assert Counter(fs for fs, status in history(estate, estate.unmount_key) if status == "done") == dict.fromkeys(
        many, 1
    )
    assert set(deletes) == mount_targets and set(deletes.values()) == {1}

    again = worker().lambda_handler({"Records": records}, FakeLambdaContext())  # SQS delivers at least once

    assert again == {"batchItemFailures": []}
    assert set(deletes.values()) == {1}, "a redelivered message deletes nothing again"
    assert Counter(fs for fs, status in history(estate, estate.unmount_key) if status == "done") == dict.fromkeys(
        many, 1
    )
    assert_alerted_once(estate, slack)


def test_given_the_incident_is_not_recorded_yet_when_the_worker_runs_then_it_waits_and_deletes_nothing(
    deployed: Deployed, estate: Estate, many: list[str], deletes: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from keywatch.engine import Watchdog

    monkeypatch.setattr(Watchdog, "_record", lambda *args: ["recording the incident (down)"])
    with pytest.raises(HandlingIncomplete):  # the handing invocation could not record it
        deployed.invoke(disable(estate), RunningOut(deletes=deletes))
    sent = sum(deletes.values())
    records = handed_off(estate)
    assert records

    answer = worker().lambda_handler({"Records": records}, FakeLambdaContext())

    assert sorted(f["itemIdentifier"] for f in answer["batchItemFailures"]) == sorted(r["messageId"] for r in records)
    assert sum(deletes.values()) == sent, "nothing deleted before the incident can hold the record of it"


def test_given_no_remediation_queue_when_time_runs_short_then_the_rest_fails_and_the_retry_finishes_it(
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    estate: Estate,
    slack: FakeSlack,
    many: list[str],
    deletes: Counter[str],
) -> None:
    handler = Deployed(monkeypatch, {**environment, "KEYWATCH_REMEDIATION_QUEUE_URL": ""})
    try:
        with pytest.raises(HandlingIncomplete) as first:
            handler.invoke(disable(estate), RunningOut(deletes=deletes))
        actions = first.value.result.actions
        assert Counter(a.status for a in actions) == {"done": 3, "failed": 5}
        assert all("no remediation queue" in a.detail for a in actions if a.status == "failed")
        left = {a.target for a in actions if a.status == "failed"}

        report = handler.invoke(disable(estate), FakeLambdaContext())  # Lambda's retry, with time enough

        assert all(estate.mount_targets(fs) == [] for fs in many)
        assert {a["target"] for a in report["actions"] if a["status"] == "done"} >= left
        assert set(deletes.values()) == {1}
        assert_alerted_once(estate, slack)
    finally:
        handler.cold_start()


def test_given_a_retry_after_a_hand_off_when_redelivered_then_the_queued_file_systems_are_left_to_the_worker(
    deployed: Deployed,
    estate: Estate,
    slack: FakeSlack,
    many: list[str],
    deletes: Counter[str],
    faults: Faults,
    backends: dict[str, Any],
) -> None:
    from moto.sns.exceptions import SNSInvalidParameter

    faults.fail(backends["sns"], "publish", 1, lambda: SNSInvalidParameter("Invalid parameter: KMS key is disabled"))
    with pytest.raises(HandlingIncomplete):  # SNS failed: Lambda retries the event
        deployed.invoke(disable(estate), RunningOut(deletes=deletes))
    queued = {a["file_system"]["file_system_id"] for r in handed_off(estate) for a in json.loads(r["body"])["actions"]}
    assert len(queued) == 5

    retry = deployed.invoke(disable(estate), FakeLambdaContext())  # with time enough now

    assert {a["target"] for a in retry["actions"] if a["status"] == "queued"} == queued
    assert all(estate.mount_targets(fs) for fs in queued), "the retry started none of them: they are the worker's"
    assert handed_off(estate) == [], "and it queued none of them again"
    assert_alerted_once(estate, slack)
    # the retry appended only what changed: one entry per file system in the incident's one item
    assert Counter(fs for fs, _ in history(estate, estate.unmount_key)) == dict.fromkeys(many, 1)


def test_given_many_file_systems_when_handled_then_the_idempotency_record_keeps_only_what_a_duplicate_reports(
    deployed: Deployed, estate: Estate, many: list[str]
) -> None:
    first = deployed.invoke(disable(estate), FakeLambdaContext())
    again = deployed.invoke(disable(estate), FakeLambdaContext())  # a redelivery
    assert (first["outcome"], again["outcome"]) == ("alert", "duplicate")
    assert (again["key_arn"], again["key_state"]) == (first["key_arn"], first["key_state"])

    items = estate.client("dynamodb").scan(TableName=IDEMPOTENCY)["Items"]
    [record] = [i for i in items if "data" in i]
    kept = json.loads(record["data"]["S"])
    assert set(kept) == {"event_id", "key_arn", "key_state", "outcome", "key_state_after"}
    assert len(record["data"]["S"]) < 1_000, "not the whole result: with 1,000 file systems that passes 400 KB"
