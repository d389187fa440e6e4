"""The sweep on a simulated estate (moto): findings, distinct keys once, accounts, incidents, countdowns."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from keywatch.cli.simulator import SIM_ROLE
from keywatch.models import KeyEvent, Mode
from sweep_support import FailingClients, Sim

A, B, C, D = "111122223333", "444455556666", "777788889999", "210987654321"
R1, R2 = "us-east-1", "eu-west-1"


def key_id(n: int) -> str:
    return str(uuid.UUID(int=0x1234_0000_0000_4000_8000_0000_0000_0000 + n))


def arn(account: str, region: str, kid: str) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{kid}"


def event(name: str, key_arn: str, **extra: Any) -> KeyEvent:
    account, region = key_arn.split(":")[4], key_arn.split(":")[3]
    return KeyEvent(
        event_id=f"test-{name}-{uuid.uuid4()}",
        event_name=name,
        kind="manual",
        key_arn=key_arn,
        account=account,
        region=region,
        **extra,
    )


def by_name(report: Any) -> dict[str, Any]:
    return {f.name: f for f in report.findings}


# --- findings on the demo estate and on every state ----------------------------------------------------


def test_given_the_demo_estate_when_swept_then_only_the_key_pending_deletion_is_a_finding(
    sim: Callable[..., Sim],
) -> None:
    s = sim()
    report = s.sweep()
    assert [(f.name, f.key_state, f.severity.value) for f in report.findings] == [
        ("legacy-archive", "PendingDeletion", "critical")
    ]
    assert [u.name for u in report.unencrypted] == ["scratch"]
    summary = report.summary
    assert (summary.file_systems, summary.customer_managed, summary.aws_managed, summary.unencrypted) == (11, 9, 1, 1)
    assert summary.errors == [] and summary.targets == 2
    calls = s.watchdog.clients.calls
    assert calls["kms:DescribeKey"] == summary.distinct_keys == 7
    assert calls["efs:DescribeFileSystems"] == 2


def test_given_a_key_in_every_unusable_state_when_swept_then_each_file_system_has_its_finding(
    sim: Callable[..., Sim],
) -> None:
    states = [
        "Enabled",
        "Disabled",
        "PendingDeletion",
        "PendingReplicaDeletion",
        "PendingImport",
        "Unavailable",
        "Enabled",
        "Enabled",
    ]
    keys = [{"id": key_id(i), "state": state} for i, state in enumerate(states)]
    names = [
        "ok",
        "disabled",
        "pending-deletion",
        "replica-deletion",
        "pending-import",
        "unavailable",
        "deleted",
        "grant-gone",
    ]
    systems = [{"name": name, "key": key_id(i)} for i, name in enumerate(names)]
    systems[-1]["grant_id"] = "grant-of-grant-gone"
    s = sim({"accounts": [{"id": A, "regions": {R1: {"keys": keys, "file_systems": systems}}}]})
    s.estate.apply(event("KMS CMK Deletion", arn(A, R1, key_id(6))))
    s.estate.apply(event("RevokeGrant", arn(A, R1, key_id(7)), grant_id="grant-of-grant-gone"))

    found = by_name(s.sweep())

    assert {n: (f.key_state, f.severity.value, f.problem) for n, f in found.items()} == {
        "disabled": ("Disabled", "high", "key_state"),
        "pending-deletion": ("PendingDeletion", "critical", "key_state"),
        "replica-deletion": ("PendingReplicaDeletion", "critical", "key_state"),
        "pending-import": ("PendingImport", "critical", "key_state"),
        "unavailable": ("Unavailable", "high", "key_state"),
        "deleted": ("Deleted", "critical", "key_state"),
        "grant-gone": ("Enabled", "high", "grant_missing"),
    }
    assert found["disabled"].file_system_id == s.fs_id(A, R1, "disabled")
    assert found["disabled"].key_arn == arn(A, R1, key_id(1))


def test_given_imported_material_that_expires_soon_when_swept_then_a_low_finding(
    sim: Callable[..., Sim], valid_to: dict[str, datetime]
) -> None:
    keys = [{"id": key_id(1), "origin": "EXTERNAL"}, {"id": key_id(2), "origin": "EXTERNAL"}]
    systems = [{"name": "soon", "key": key_id(1)}, {"name": "later", "key": key_id(2)}]
    s = sim({"accounts": [{"id": A, "regions": {R1: {"keys": keys, "file_systems": systems}}}]})
    valid_to[key_id(1)] = datetime.now(UTC) + timedelta(days=12)
    valid_to[key_id(2)] = datetime.now(UTC) + timedelta(days=200)

    report = s.sweep()

    assert [(f.name, f.severity.value, f.problem, f.days_left) for f in report.findings] == [
        ("soon", "low", "import_expiry", 12)
    ]
    assert report.results == []  # reported, not an incident: nothing is broken yet


def test_given_file_systems_stored_with_aliases_when_swept_then_aliases_are_listed_once_per_place(
    sim: Callable[..., Sim],
) -> None:
    keys = [{"id": key_id(1), "aliases": ["alias/app"], "state": "Disabled"}]
    s = sim(
        {
            "accounts": [
                {"id": A, "regions": {R1: {"keys": keys, "file_systems": [{"name": "by-arn", "key": key_id(1)}]}}}
            ]
        }
    )
    # EFS itself stores the key ARN; an alias only shows up when something else created the file system.
    efs = s.estate.clients.client("efs", A, R1, "write")
    efs.create_file_system(CreationToken="by-alias", Encrypted=True, KmsKeyId="alias/app")
    efs.create_file_system(CreationToken="by-dead-alias", Encrypted=True, KmsKeyId="alias/gone")
    s.estate.clients.calls.clear()

    report = s.sweep()

    assert sorted((f.key_state, f.problem) for f in report.findings) == [
        ("Disabled", "key_state"),
        ("Disabled", "key_state"),
        ("Unknown", "key_unreadable"),
    ]
    assert s.watchdog.clients.calls["kms:ListAliases"] == 1
    assert s.watchdog.clients.calls["kms:DescribeKey"] == 1


# --- the call budget --------------------------------------------------------------------------------------


def test_given_hundreds_of_file_systems_on_few_keys_when_swept_then_each_distinct_key_is_looked_up_once(
    sim: Callable[..., Sim],
) -> None:
    keys = [{"id": key_id(i), "state": "Disabled" if i == 0 else "Enabled"} for i in range(4)]
    systems = [{"name": f"fs{n:03d}", "key": key_id(n % 4)} for n in range(230)]
    systems += [{"name": "plain", "encrypted": False}, {"name": "default", "encrypted": True}]
    s = sim({"accounts": [{"id": A, "regions": {R1: {"keys": keys, "file_systems": systems}}}]})

    report = s.sweep()

    calls = s.watchdog.clients.calls
    assert calls["kms:DescribeKey"] == 4  # never once per file system
    assert calls["efs:DescribeFileSystems"] == math.ceil(232 / 100)
    assert calls["kms:ListGrants"] == 3  # the Disabled key's file systems are findings already
    assert calls["kms:GetKeyPolicy"] == 3  # likewise
    assert calls["kms:ListAliases"] == 0
    estate_calls = sum(n for name, n in calls.items() if name.split(":")[0] in ("efs", "kms"))
    assert estate_calls <= report.summary.api_call_floor == 3 + 3 * 4
    assert len(report.findings) == 58 and {f.key_state for f in report.findings} == {"Disabled"}


# --- accounts and Regions ----------------------------------------------------------------------------------


def multi_account_fleet() -> dict[str, Any]:
    accounts = []
    for a, account in enumerate((A, B, C, D)):
        regions = {}
        for r, region in enumerate((R1, R2)):
            n = a * 10 + r * 5
            keys = [{"id": key_id(n), "state": "Enabled"}, {"id": key_id(n + 1), "state": "Disabled"}]
            systems = [
                {"name": f"ok-{account}-{region}", "key": key_id(n)},
                {"name": f"bad-{account}-{region}", "key": key_id(n + 1)},
            ]
            regions[region] = {"keys": keys, "file_systems": systems}
        accounts.append({"id": account, "regions": regions})
    # a partner's file system in B on a key that lives in A
    accounts[1]["regions"][R1]["file_systems"].append({"name": "partner", "key": arn(A, R1, key_id(1))})
    return {"accounts": accounts}


def test_given_four_accounts_in_two_regions_when_swept_then_every_account_is_entered_through_its_role(
    sim: Callable[..., Sim],
) -> None:
    s = sim(multi_account_fleet())

    report = s.sweep()

    calls = s.watchdog.clients.calls
    assert calls["sts:AssumeRole"] == 4  # one read session per account, reused for every Region
    assert calls["efs:DescribeFileSystems"] == 8
    assert calls["kms:DescribeKey"] == 16  # the shared key in A is looked up once, not per account
    assert sorted(f.name for f in report.findings) == sorted(
        [f"bad-{a}-{r}" for a in (A, B, C, D) for r in (R1, R2)] + ["partner"]
    )
    partner = by_name(report)["partner"]
    assert (partner.account, partner.key_arn) == (B, arn(A, R1, key_id(1)))
    assert report.summary.accounts == 4 and report.summary.targets == 8


def test_given_one_account_denies_and_one_throttles_when_swept_then_the_others_are_reported_with_errors(
    sim: Callable[..., Sim],
) -> None:
    s = sim(multi_account_fleet(), clients=FailingClients(deny={C}, throttle={D}))

    report = s.sweep()

    errors = {(e.account, e.region): e.error for e in report.summary.errors}
    assert set(errors) == {(C, R1), (C, R2), (D, R1), (D, R2)}
    assert "AccessDenied" in errors[(C, R1)] and "ThrottlingException" in errors[(D, R2)]
    assert sorted(f.name for f in report.findings) == sorted(
        [f"bad-{a}-{r}" for a in (A, B) for r in (R1, R2)] + ["partner"]
    )
    assert report.summary.targets_failed == 4


def test_given_a_key_in_an_account_that_denies_when_swept_then_its_file_systems_are_unreadable_findings(
    sim: Callable[..., Sim],
) -> None:
    s = sim(multi_account_fleet(), clients=FailingClients(deny={A}))
    report = s.sweeper().run([t for t in s.targets() if t.account == B])
    partner = by_name(report)["partner"]
    assert (partner.key_state, partner.problem, partner.severity.value) == ("Unknown", "key_unreadable", "medium")
    assert report.summary.errors == []


# --- the engine: incidents, policies, modes ----------------------------------------------------------------

UNMOUNT_FLEET = {
    "accounts": [
        {
            "id": A,
            "regions": {
                R1: {
                    "keys": [{"id": key_id(1)}, {"id": key_id(2)}],
                    "file_systems": [
                        {
                            "name": "cut-me",
                            "key": key_id(1),
                            "mount_targets": 2,
                            "tags": {"keywatch:on-key-loss": "unmount"},
                        },
                        {"name": "watch-me", "key": key_id(1), "mount_targets": 1},
                        {"name": "fine", "key": key_id(2), "mount_targets": 1, "grant_id": "grant-of-fine"},
                    ],
                }
            },
        }
    ]
}


def test_given_a_missed_disable_in_enforce_mode_when_swept_then_the_engine_acts_and_recovery_restores(
    sim: Callable[..., Sim],
) -> None:
    s = sim(UNMOUNT_FLEET, mode=Mode.ENFORCE)
    key = arn(A, R1, key_id(1))
    s.estate.apply(event("DisableKey", key))  # the event never reached keywatch

    first = s.sweep()

    assert first.summary.incidents_opened == 1
    [result] = first.results
    assert (result.event_name, result.outcome.value, result.severity.value) == ("Sweep", "alert", "high")
    assert result.event_id.startswith("sweep-") and result.event_id.endswith(key_id(1))
    assert [(a.type, a.status) for a in result.actions] == [("delete_mount_targets", "done")]
    assert s.mount_targets(A, R1, "cut-me") == 0 and s.mount_targets(A, R1, "watch-me") == 1
    assert s.watchdog.incidents.current(key)["status"] == "open"

    publishes = s.watchdog.clients.calls["sns:Publish"]
    again = s.sweep()
    assert again.results == [] and again.summary.incidents_known == 1
    assert s.watchdog.clients.calls["sns:Publish"] == publishes  # no second alert for a known incident

    s.estate.apply(event("EnableKey", key))
    recovered = s.sweep()

    assert recovered.findings == [] and recovered.summary.incidents_resolved == 1
    [resolved] = recovered.results
    assert resolved.outcome.value == "resolved"
    assert [(a.type, a.status) for a in resolved.actions] == [("restore_mount_targets", "done")]
    assert s.mount_targets(A, R1, "cut-me") == 2
    assert s.watchdog.incidents.current(key)["status"] == "resolved"


def test_given_notify_mode_when_swept_then_incidents_open_and_nothing_changes(sim: Callable[..., Sim]) -> None:
    s = sim(UNMOUNT_FLEET, mode=Mode.NOTIFY)
    s.estate.apply(event("DisableKey", arn(A, R1, key_id(1))))

    report = s.sweep()

    [result] = report.results
    assert result.actions == [] and ("sns", "sent") in [(n.channel, n.status) for n in result.notifications]
    assert s.mount_targets(A, R1, "cut-me") == 2


def test_given_an_open_incident_that_gets_worse_when_swept_then_the_engine_responds_again(
    sim: Callable[..., Sim],
) -> None:
    s = sim(UNMOUNT_FLEET)
    key = arn(A, R1, key_id(1))
    s.estate.apply(event("DisableKey", key))
    assert s.sweep().summary.incidents_opened == 1
    s.estate.apply(event("ScheduleKeyDeletion", key, pending_window_days=7))

    worse = s.sweep()

    assert worse.summary.incidents_updated == 1
    assert worse.results[0].severity.value == "critical"


def test_given_a_missing_grant_when_swept_then_an_incident_is_opened(sim: Callable[..., Sim]) -> None:
    s = sim(UNMOUNT_FLEET)
    s.estate.apply(event("RevokeGrant", arn(A, R1, key_id(2)), grant_id="grant-of-fine"))
    report = s.sweep()
    [result] = report.results
    assert (result.severity.value, [a.name for a in result.affected]) == ("high", ["fine"])
    assert "grant" in result.reason


# --- countdowns -----------------------------------------------------------------------------------------------


def test_given_a_key_pending_deletion_when_swept_daily_then_each_threshold_is_sent_once(
    sim: Callable[..., Sim],
) -> None:
    s = sim(UNMOUNT_FLEET)
    key = arn(A, R1, key_id(1))
    s.estate.apply(event("ScheduleKeyDeletion", key, pending_window_days=10))
    deletion = s.watchdog.kms.describe_key(key).deletion_date
    assert deletion is not None

    def sweep_at(days_before: float) -> list[tuple[int, int]]:
        report = s.sweep(clock=deletion - timedelta(days=days_before))
        return [(c.threshold_days, c.days_left) for c in report.countdowns]

    assert sweep_at(9.5) == []
    assert sweep_at(6.5) == [(7, 7)]
    assert sweep_at(5.5) == []
    assert sweep_at(0.5) == [(1, 1)]
    assert sweep_at(0.25) == []

    table = s.watchdog.settings.incidents_table
    db = s.estate.clients.home_client("dynamodb", "us-east-1")
    items = db.query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": f"countdown#{key}"}}
    )["Items"]
    assert sorted(i["sk"]["S"] for i in items) == [f"1d#{deletion:%Y-%m-%d}", f"7d#{deletion:%Y-%m-%d}"]


def test_given_a_countdown_when_sent_then_it_goes_through_the_watchdogs_channels(sim: Callable[..., Sim]) -> None:
    s = sim(UNMOUNT_FLEET)
    key = arn(A, R1, key_id(1))
    s.estate.apply(event("ScheduleKeyDeletion", key, pending_window_days=7))

    report = s.sweep()

    [countdown] = report.countdowns
    assert countdown.threshold_days == 7
    assert sorted(countdown.file_systems) == sorted([s.fs_id(A, R1, "cut-me"), s.fs_id(A, R1, "watch-me")])
    assert ("sns", "sent") in [(n.channel, n.status) for n in countdown.notifications]


def test_given_a_silenced_key_when_its_deletion_is_scheduled_then_the_alert_is_held_back_but_the_countdown_is_sent(
    sim: Callable[..., Sim],
) -> None:
    import time

    from keywatch.adapters.approvals import DynamoApprovalStore
    from keywatch.silences import Silence

    s = sim(UNMOUNT_FLEET, mode=Mode.APPROVE)
    key = arn(A, R1, key_id(1))
    store = DynamoApprovalStore(s.estate.clients, str(s.watchdog.settings.incidents_table), "us-east-1")
    now = int(time.time())
    store.silence(Silence(key_arn=key, until=now + 86400, set_by="U0APPROVER", set_by_name="alice", set_at=now))
    scheduled = event("ScheduleKeyDeletion", key, pending_window_days=7)
    s.estate.apply(scheduled)

    alert = s.watchdog.handle_event(scheduled)
    [countdown] = s.sweep().countdowns

    held = {n.channel: n for n in alert.notifications}["sns"]
    assert alert.outcome == "alert" and held.status == "skipped" and "silenced until" in held.detail
    sent = {n.channel: n for n in countdown.notifications}["sns"]
    assert sent.status == "sent", "the deletion is irreversible: a countdown is sent, silence or not"


def test_given_no_incidents_table_when_counting_down_then_an_in_memory_ledger_sends_once(
    sim: Callable[..., Sim],
) -> None:
    from keywatch.adapters.countdowns import MemoryCountdownLedger
    from keywatch.sweep import Sweeper

    s = sim(UNMOUNT_FLEET)
    s.estate.apply(event("ScheduleKeyDeletion", arn(A, R1, key_id(1)), pending_window_days=7))
    sweeper = Sweeper(s.watchdog, MemoryCountdownLedger())
    assert len(sweeper.run(s.targets()).countdowns) == 1
    assert sweeper.run(s.targets()).countdowns == []


def test_given_the_simulator_role_when_swept_then_it_is_the_read_role(sim: Callable[..., Sim]) -> None:
    assert sim(UNMOUNT_FLEET).watchdog.settings.read_role == SIM_ROLE


def test_given_slack_threads_when_a_countdown_is_sent_then_it_goes_in_the_incidents_thread(
    sim: Callable[..., Sim],
) -> None:
    import importlib.util
    import sys
    from pathlib import Path

    from keywatch.adapters.deliveries import MemoryDeliveries
    from keywatch.adapters.slack import StaticTarget, parse_target
    from keywatch.notify.slack import SlackChannel

    spec = importlib.util.spec_from_file_location(
        "keywatch_slack_support", Path(__file__).parents[1] / "notify" / "slack_support.py"
    )
    assert spec and spec.loader
    support = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = support  # its dataclasses look their module up
    spec.loader.exec_module(support)
    slack = support.FakeSlack().start()
    try:
        s = sim(UNMOUNT_FLEET)
        target = parse_target(json.dumps({"token": support.TOKEN, "channel": "C0ALERTS", "api_url": slack.api_url}))
        s.watchdog.channels.append(SlackChannel(StaticTarget(target), threads=MemoryDeliveries()))
        s.estate.apply(event("ScheduleKeyDeletion", arn(A, R1, key_id(1)), pending_window_days=7))

        report = s.sweep()

        assert report.summary.incidents_opened == 1 and len(report.countdowns) == 1
        opening, countdown = slack.posts()
        assert "thread_ts" not in opening
        assert countdown["thread_ts"] == "1764392400.000001" and countdown["channel"] == "C0ALERTS"
        assert ("slack", "sent") in [(n.channel, n.status) for n in report.countdowns[0].notifications]
    finally:
        slack.stop()


def test_given_a_key_policy_that_shuts_efs_out_when_swept_then_its_file_systems_are_found_and_one_alert_is_sent(
    sim: Callable[..., Sim],
) -> None:
    # e.g. a PutKeyPolicy event that was missed, or a policy set before keywatch was deployed
    admins = {"Sid": "Admins", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*"}
    freeze = {"Sid": "Freeze", "Effect": "Deny", "Principal": "*", "Action": ["kms:Decrypt", "kms:CreateGrant"]}
    via_efs = {
        "Sid": "OnlyViaEfs",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:Decrypt",
        "Condition": {"StringNotEquals": {"kms:ViaService": f"elasticfilesystem.{R1}.amazonaws.com"}},
    }
    keys = [{"id": key_id(1)}, {"id": key_id(2)}]
    systems = [{"name": "frozen", "key": key_id(1)}, {"name": "fine", "key": key_id(2)}]
    s = sim({"accounts": [{"id": A, "regions": {R1: {"keys": keys, "file_systems": systems}}}]}, mode=Mode.NOTIFY)
    for n, deny in ((1, freeze), (2, via_efs)):
        policy = json.dumps({"Version": "2012-10-17", "Statement": [admins, deny]})
        s.estate.apply(event("PutKeyPolicy", arn(A, R1, key_id(n)), policy_document=policy))

    report = s.sweep()

    assert [(f.name, f.severity.value, f.problem, f.denied_by) for f in report.findings] == [
        ("frozen", "high", "policy_denies", "statement Freeze denies kms:Decrypt, kms:CreateGrant to everyone")
    ]
    [result] = report.results
    assert (result.outcome.value, result.severity.value) == ("alert", "high")
    assert "key policy shuts EFS out of 1 EFS file system" in result.reason
    assert [a.file_system_id for a in result.affected] == [s.fs_id(A, R1, "frozen")]
    assert s.watchdog.clients.calls["kms:GetKeyPolicy"] == 2
