"""The keywatch command, end to end on simulated estates: the DESIGN.md §2 contract, and how it fails."""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from keywatch.cli import main

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"

ACCOUNT = "210987654321"
PARTNER = "555566667777"
REGION = "eu-west-1"
DATA_ID = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
DATA_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{DATA_ID}"
OLD_ID = "6f7a8b9c-0d1e-4f2a-b3c4-d5e6f7a8b9c0"
IDLE_ID = "7a8b9c0d-1e2f-4a3b-c4d5-e6f7a8b9c0d1"

RESULT_KEYS = {
    "file",
    "deletion_date",
    "days_left",
    "next_steps",
    "event_id",
    "event_name",
    "key_arn",
    "key_state",
    "outcome",
    "severity",
    "reason",
    "affected",
    "actions",
    "key_state_after",
    "notifications",
}
AFFECTED_KEYS = {"file_system_id", "name", "account", "region", "mount_targets", "mount_targets_after", "policy"}
ACTION_KEYS = {"type", "target", "status", "detail"}
NOTIFICATION_KEYS = {"channel", "status", "detail"}
OUTCOMES = {"alert", "resolved", "ignored", "duplicate"}
SEVERITIES = {"critical", "high", "medium", "low", "info", None}
POLICIES = {"notify", "protect", "unmount"}
ACTION_TYPES = {"cancel_key_deletion", "enable_key", "delete_mount_targets", "restore_mount_targets"}
ACTION_STATUSES = {"planned", "done", "skipped", "failed"}


def sample(name: str) -> str:
    [path] = [p for p in EVENTS.glob("*.json") if p.stem.split("_", 1)[1] == name]
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def report(out: str) -> list[dict[str, Any]]:
    document = json.loads(out)
    assert list(document) == ["results"]
    return document["results"]


# --- a held-out estate and events written here, not taken from events/ --------------------------------


HELD_OUT_FLEET = {
    "accounts": [
        {
            "id": ACCOUNT,
            "regions": {
                REGION: {
                    "keys": [{"id": DATA_ID, "aliases": ["alias/data"]}, {"id": OLD_ID}, {"id": IDLE_ID}],
                    "file_systems": [
                        {"name": "data-lake", "key": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/data"},
                        {"name": "data-scratch", "key": DATA_ID, "tags": {"keywatch:on-key-loss": "protect"}},
                        {"name": "old-archive", "key": OLD_ID},
                        {"name": "open-data", "encrypted": False},
                    ],
                }
            },
        },
        {"id": PARTNER, "regions": {REGION: {"file_systems": [{"name": "partner-reports", "key": DATA_ARN}]}}},
    ]
}


def write_fleet(tmp_path: Path, fleet: dict[str, Any] = HELD_OUT_FLEET) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet))
    return path


def api_call(name: str, n: int, key_id: str = DATA_ID, **detail: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Ops/dana",
            "accountId": ACCOUNT,
            "sessionContext": {"sessionIssuer": {"arn": f"arn:aws:iam::{ACCOUNT}:role/Ops"}},
        },
        "eventTime": f"2027-02-0{n}T10:00:00Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": "192.0.2.10",
        "userAgent": "terraform/1.9",
        "requestParameters": {"keyId": key_id},
        "responseElements": None,
        "eventID": f"0000000{n}-held-out-{name}",
        "resources": [
            {"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"}
        ],
        "recipientAccountId": ACCOUNT,
    }
    record.update(detail)
    return {
        "version": "0",
        "id": f"envelope-{n}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.kms",
        "account": ACCOUNT,
        "time": f"2027-02-0{n}T10:00:01Z",
        "region": REGION,
        "resources": [],
        "detail": record,
    }


def held_out_events(tmp_path: Path) -> list[tuple[Path, dict[str, Any]]]:
    events = [
        api_call("RetireGrant", 1, requestParameters=None, additionalEventData={"grantId": "held-out-grant"}),
        api_call("DisableKey", 2),
        api_call("EnableKey", 3, requestParameters={"keyId": DATA_ARN}),
        api_call(
            "ScheduleKeyDeletion",
            4,
            awsRegion="us-east-1",
            resources=None,
            requestParameters={"keyId": DATA_ID, "pendingWindowInDays": 7},
            responseElements={
                "keyId": DATA_ARN,
                "keyState": "PendingDeletion",
                "deletionDate": "Apr 12, 2027 18:58:30 PM",
            },
        ),
        api_call("CancelKeyDeletion", 5, responseElements={"keyId": DATA_ARN}),
        {
            "version": "0",
            "id": "held-out-native-6",
            "detail-type": "KMS CMK Deletion",
            "source": "aws.kms",
            "time": "2027-02-06T00:00:00Z",
            "region": REGION,  # no account: as delivered through SQS
            "resources": [f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{OLD_ID}"],
            "detail": {"key-id": OLD_ID},
        },
        api_call("DisableKey", 7, key_id=IDLE_ID),
        api_call("DisableKey", 8, errorCode="AccessDeniedException", errorMessage="denied"),
    ]
    paths = []
    for i, raw in enumerate(events, 1):
        path = tmp_path / f"held-out-{i}.json"
        path.write_text(json.dumps(raw))
        paths.append((path, raw))
    return paths


def test_given_a_custom_fleet_and_held_out_events_when_replayed_then_each_outcome_follows_the_design(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fleet = write_fleet(tmp_path)
    files = held_out_events(tmp_path)

    status, out, err = run(capsys, "replay", *(str(p) for p, _ in files), "--fleet", str(fleet), "--json")

    assert status == 0, err
    results = report(out)
    assert [r["event_id"] for r in results] == [raw["detail"].get("eventID") or raw["id"] for _, raw in files]
    got = [(r["event_name"], r["outcome"], r["severity"], r["key_state"]) for r in results]
    assert got == [
        ("RetireGrant", "ignored", None, "Enabled"),  # a grant that is no EFS grant of theirs: all keep theirs
        ("DisableKey", "alert", "high", "Disabled"),
        ("EnableKey", "resolved", "info", "Enabled"),
        ("ScheduleKeyDeletion", "alert", "critical", "PendingDeletion"),
        ("CancelKeyDeletion", "alert", "high", "Disabled"),  # cancelling leaves the key Disabled
        ("KMS CMK Deletion", "alert", "critical", "Deleted"),
        ("DisableKey", "ignored", None, "Disabled"),  # no file system uses that key
        ("DisableKey", "ignored", None, None),  # the call failed
    ]
    data_users = {("data-lake", ACCOUNT), ("data-scratch", ACCOUNT), ("partner-reports", PARTNER)}
    assert results[0]["key_arn"] == DATA_ARN and results[0]["affected"] == []
    for result in results[1:5]:
        assert result["key_arn"] == DATA_ARN  # awsRegion us-east-1 on event 4 does not move the key
        assert {(fs["name"], fs["account"]) for fs in result["affected"]} == data_users
    assert [fs["name"] for fs in results[5]["affected"]] == ["old-archive"]
    assert results[6]["affected"] == [] and results[7]["affected"] == []
    assert "AccessDeniedException" in results[7]["reason"]


def test_given_dry_run_on_a_custom_fleet_when_a_protected_key_is_disabled_then_enable_key_is_planned(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fleet = write_fleet(tmp_path)
    event = tmp_path / "disable.json"
    event.write_text(json.dumps(api_call("DisableKey", 2)))

    status, out, _ = run(capsys, "replay", str(event), "--fleet", str(fleet), "--mode", "dry-run", "--json")

    assert status == 0
    [result] = report(out)
    assert [(a["type"], a["target"], a["status"]) for a in result["actions"]] == [("enable_key", DATA_ARN, "planned")]
    assert result["key_state_after"] == "Disabled"  # dry-run changes nothing


# --- the report shape -------------------------------------------------------------------------------------


def test_given_the_demo_fleet_when_replayed_in_dry_run_then_every_result_has_exactly_the_contract_shape(
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = ["schedule_key_deletion", "disable_key", "disable_key_failed", "disable_unused_key", "enable_key"]

    status, out, err = run(capsys, "replay", *(sample(n) for n in names), "--mode", "dry-run", "--json")

    assert status == 0, err
    results = report(out)
    assert [r["event_id"] for r in results] == [
        json.loads(Path(sample(n)).read_text())["detail"]["eventID"] for n in names
    ]  # input order, not file order
    for result in results:
        assert set(result) == RESULT_KEYS
        assert result["outcome"] in OUTCOMES and result["severity"] in SEVERITIES
        assert isinstance(result["reason"], str) and result["reason"]
        for fs in result["affected"]:
            assert set(fs) == AFFECTED_KEYS and fs["policy"] in POLICIES
            assert fs["file_system_id"].startswith("fs-")
            assert isinstance(fs["mount_targets"], int) and isinstance(fs["mount_targets_after"], int)
        for action in result["actions"]:
            assert set(action) == ACTION_KEYS
            assert action["type"] in ACTION_TYPES and action["status"] in ACTION_STATUSES
        for note in result["notifications"]:
            assert set(note) == NOTIFICATION_KEYS
            assert note["channel"] in {"sns", "slack"} and note["status"] in {"sent", "failed", "skipped"}
    disabled = results[1]
    assert (disabled["outcome"], disabled["severity"], disabled["key_state"]) == ("alert", "high", "Disabled")
    assert {fs["name"] for fs in disabled["affected"]} == {"app-shared", "app-home", "partner-share"}
    # enforce runs protect first, then skips the unmount because the key is Enabled again: so does the plan
    assert [(a["type"], a["status"]) for a in disabled["actions"]] == [
        ("enable_key", "planned"),
        ("delete_mount_targets", "skipped"),
    ]
    assert next(n for n in disabled["notifications"] if n["channel"] == "sns")["status"] == "sent"
    assert [r["outcome"] for r in results] == ["alert", "alert", "ignored", "ignored", "resolved"]


def test_given_the_same_event_file_twice_when_replayed_then_the_second_result_is_a_duplicate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fleet = write_fleet(tmp_path)
    event = tmp_path / "disable.json"
    event.write_text(json.dumps(api_call("DisableKey", 2)))

    status, out, _ = run(capsys, "replay", str(event), str(event), "--fleet", str(fleet), "--json")

    assert status == 0
    first, second = report(out)
    assert (first["outcome"], second["outcome"]) == ("alert", "duplicate")
    assert second["notifications"] == [] and second["actions"] == []


# --- broken input -----------------------------------------------------------------------------------------


def broken_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "invalid-json": tmp_path / "invalid.json",
        "not-an-object": tmp_path / "list.json",
        "missing-fields": tmp_path / "no-detail.json",
        "missing": tmp_path / "does-not-exist.json",
        "directory": tmp_path / "a-directory.json",
        "not-utf8": tmp_path / "latin1.json",
    }
    files["invalid-json"].write_text('{"version": "0", "detail": {')
    files["not-an-object"].write_text(json.dumps([api_call("DisableKey", 2)]))
    no_detail = api_call("DisableKey", 2)
    del no_detail["detail"]
    files["missing-fields"].write_text(json.dumps(no_detail))
    files["directory"].mkdir()
    files["not-utf8"].write_bytes(b'{"detail-type": "caf\xe9"}')
    return files


def test_given_broken_event_files_among_good_ones_when_replayed_then_one_line_each_and_the_rest_handled(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fleet = write_fleet(tmp_path)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(api_call("DisableKey", 2)))
    also_good = tmp_path / "also-good.json"
    also_good.write_text(json.dumps(api_call("EnableKey", 3)))
    broken = broken_files(tmp_path)
    order = [
        broken["invalid-json"],
        good,
        broken["not-an-object"],
        broken["missing-fields"],
        broken["missing"],
        broken["directory"],
        broken["not-utf8"],
        also_good,
    ]

    status, out, err = run(capsys, "replay", *(str(p) for p in order), "--fleet", str(fleet), "--json")

    assert status == 1
    assert "Traceback" not in err
    results = report(out)
    assert [r["file"] for r in results] == [str(p) for p in order]  # every input, in its place
    assert [r.get("event_name") for r in results if r["outcome"] != "error"] == ["DisableKey", "EnableKey"]
    errors = {r["file"]: r for r in results if r["outcome"] == "error"}
    assert set(errors) == {str(p) for p in broken.values()}
    assert all(set(r) == {"file", "outcome", "reason"} and r["reason"] for r in errors.values())
    lines = err.splitlines()
    for kind, path in broken.items():
        mentioning = [line for line in lines if str(path) in line]
        assert len(mentioning) == 1, (kind, err)
        assert mentioning[0].startswith("keywatch: ")
        assert len(mentioning[0]) > len(f"keywatch: {path}: ")  # it says why
    assert not any(str(good) in line or str(also_good) in line for line in lines)
    assert "JSON" in next(line for line in lines if str(broken["invalid-json"]) in line)
    assert "detail" in next(line for line in lines if str(broken["missing-fields"]) in line)


def test_given_only_broken_files_when_replayed_as_text_then_exit_1_and_no_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fleet = write_fleet(tmp_path)
    broken = broken_files(tmp_path)

    status, out, err = run(capsys, "replay", str(broken["invalid-json"]), str(broken["missing"]), "--fleet", str(fleet))

    assert status == 1
    assert "Traceback" not in err and "Traceback" not in out
    assert len([line for line in err.splitlines() if line.startswith("keywatch: ")]) == 2


def test_given_an_event_with_a_malformed_detail_when_replayed_then_one_line_naming_it_and_the_rest_handled(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fleet = write_fleet(tmp_path)
    bad = tmp_path / "no-event-id.json"
    raw = api_call("DisableKey", 2)
    del raw["detail"]["eventID"]
    bad.write_text(json.dumps(raw))
    good = tmp_path / "good.json"
    good.write_text(json.dumps(api_call("DisableKey", 2)))

    status, out, err = run(capsys, "replay", str(bad), str(good), "--fleet", str(fleet), "--json")

    assert status == 1
    [line] = [line for line in err.splitlines() if str(bad) in line]
    assert line.endswith("detail.eventID is missing")  # in words, not pydantic's "Field required"
    assert "Traceback" not in err
    assert [(r["file"], r["outcome"]) for r in report(out)] == [(str(bad), "error"), (str(good), "alert")]


def bad_fleets(tmp_path: Path) -> dict[str, Path]:
    unknown_field = copy.deepcopy(HELD_OUT_FLEET)
    unknown_field["accounts"][0]["regions"][REGION]["file_systems"][0]["colour"] = "blue"
    bad_account = {"accounts": [{"id": "12345", "regions": {}}]}
    dangling = {
        "accounts": [{"id": ACCOUNT, "regions": {REGION: {"file_systems": [{"name": "lost", "key": "alias/nowhere"}]}}}]
    }
    fleets = {
        "missing": tmp_path / "nope.yaml",
        "yaml": tmp_path / "broken.yaml",
        "unknown-field": tmp_path / "unknown.yaml",
        "bad-account": tmp_path / "account.yaml",
        "dangling-alias": tmp_path / "dangling.yaml",
        "empty": tmp_path / "empty.yaml",
    }
    fleets["yaml"].write_text("accounts: [\n  - id: '1'\n    regions: {")
    fleets["unknown-field"].write_text(yaml.safe_dump(unknown_field))
    fleets["bad-account"].write_text(yaml.safe_dump(bad_account))
    fleets["dangling-alias"].write_text(yaml.safe_dump(dangling))
    fleets["empty"].write_text("")
    return fleets


@pytest.mark.parametrize("kind", ["missing", "yaml", "unknown-field", "bad-account", "dangling-alias", "empty"])
def test_given_a_bad_fleet_file_when_replayed_then_a_one_line_error_and_a_failing_status(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    fleet = bad_fleets(tmp_path)[kind]

    status, out, err = run(capsys, "replay", sample("disable_key"), "--fleet", str(fleet), "--json")

    assert status != 0
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("keywatch: ")
    assert "Traceback" not in err
    if kind != "dangling-alias":
        assert str(fleet) in lines[0]
    else:
        assert "alias/nowhere" in lines[0]


def test_given_main_ran_before_with_a_stderr_now_closed_when_main_runs_again_then_it_still_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    argv = ["replay", sample("disable_key"), "--fleet", str(tmp_path / "nope.yaml")]
    first = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # like capsys' stream: flush() fails once closed
    monkeypatch.setattr(sys, "stderr", first)
    assert main(argv) == 2
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)

    assert main(argv) == 2
    assert "nope.yaml" in second.getvalue()


# --- demo, and the installed command ----------------------------------------------------------------------


def test_given_the_demo_when_run_then_exit_0_and_the_tables_name_the_affected_file_systems(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = run(capsys, "demo")

    assert status == 0, err
    for name in (
        "app-shared",
        "app-home",
        "partner-share",
        "billing-reports",
        "media-assets",
        "secrets-vault",
        "legacy-archive",
    ):
        assert name in out
    assert "ALERT" in out and "RESOLVED" in out and "IGNORED" in out
    assert "Traceback" not in err


def test_given_the_installed_command_when_replay_json_runs_in_a_subprocess_then_stdout_is_the_report(
    tmp_path: Path,
) -> None:
    fleet = write_fleet(tmp_path)
    event = tmp_path / "disable.json"
    event.write_text(json.dumps(api_call("DisableKey", 2)))
    command = Path(sys.executable).parent / "keywatch"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}

    done = subprocess.run(
        [str(command), "replay", str(event), "--fleet", str(fleet), "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    [result] = report(done.stdout)
    assert (result["event_name"], result["outcome"], result["severity"]) == ("DisableKey", "alert", "high")
    assert {fs["name"] for fs in result["affected"]} == {"data-lake", "data-scratch", "partner-reports"}
    assert "Traceback" not in done.stderr


def test_given_enforce_when_keywatch_re_enables_the_key_then_the_reason_speaks_of_the_key_as_found_and_as_now(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the demo estate's protected key, disabled; When replayed in enforce (protect re-enables it)
    status, out, _ = run(capsys, "replay", sample("disable_key"), "--mode", "enforce", "--json")
    [result] = report(out)

    # Then the reason no longer says in the present that the file systems will lose access
    assert status == 0 and result["key_state_after"] == "Enabled"
    assert result["reason"].startswith("When the event arrived: The key is Disabled")
    assert result["reason"].endswith("Then keywatch re-enabled the key: it is Enabled now.")


def test_given_notify_when_the_key_is_disabled_then_the_reason_is_the_assessment_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = run(capsys, "replay", sample("disable_key"), "--json")
    [result] = report(out)

    assert result["reason"].startswith("The key is Disabled") and "Then keywatch" not in result["reason"]
