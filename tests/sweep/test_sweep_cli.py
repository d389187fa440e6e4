"""``keywatch sweep``: the JSON contract (DESIGN.md §2), on a simulated estate and on a local moto server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from keywatch.cli import main
from sweep_support import populate_server

ACCOUNT, REGION = "123456789012", "us-east-1"  # moto's default account: what --aws sees on a moto server
FLEET = {
    "accounts": [
        {
            "id": ACCOUNT,
            "regions": {
                REGION: {
                    "keys": [
                        {"id": "1234abcd-12ab-34cd-56ef-1234567890ab"},
                        {"id": "0987dcba-09fe-87dc-65ba-ab0987654321", "state": "Disabled"},
                        {
                            "id": "4c5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e7f",
                            "state": "PendingDeletion",
                            "pending_window_days": 7,
                        },
                    ],
                    "file_systems": [
                        {"name": "healthy", "key": "1234abcd-12ab-34cd-56ef-1234567890ab"},
                        {"name": "on-disabled", "key": "0987dcba-09fe-87dc-65ba-ab0987654321"},
                        {"name": "on-disabled-too", "key": "0987dcba-09fe-87dc-65ba-ab0987654321"},
                        {"name": "on-pending", "key": "4c5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e7f"},
                        {"name": "plain", "encrypted": False},
                        {"name": "default-key", "encrypted": True},
                    ],
                }
            },
        }
    ]
}
EXPECTED = [
    ("on-pending", "PendingDeletion", "critical"),
    ("on-disabled", "Disabled", "high"),
    ("on-disabled-too", "Disabled", "high"),
]
FINDING_FIELDS = {"file_system_id", "name", "account", "region", "key_arn", "key_state", "severity", "reason"}


def sweep_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    status = main(["sweep", *args, "--json"])
    out, err = capsys.readouterr()
    return status, json.loads(out), err


def shape(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted(
        ((f["name"], f["key_state"], f["severity"]) for f in report["findings"]),
        key=lambda t: ({"critical": 0, "high": 1}.get(t[2], 9), t[0]),
    )


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "KEYWATCH_ACCOUNTS",
        "KEYWATCH_REGIONS",
        "KEYWATCH_TOPIC_ARN",
        "KEYWATCH_INCIDENTS_TABLE",
        "KEYWATCH_IDEMPOTENCY_TABLE",
        "KEYWATCH_SLACK_SECRET",
        "KEYWATCH_MODE",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(FLEET))
    return path


def test_given_the_demo_fleet_when_swept_with_json_then_the_report_follows_the_contract(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, report, err = sweep_json(capsys)

    assert status == 0 and err == ""
    assert set(report) >= {"findings", "summary", "unencrypted"}
    [finding] = report["findings"]
    assert FINDING_FIELDS <= set(finding)
    assert (finding["name"], finding["key_state"], finding["severity"]) == (
        "legacy-archive",
        "PendingDeletion",
        "critical",
    )
    assert finding["key_arn"].startswith("arn:aws:kms:us-east-1:111122223333:key/")
    assert [u["name"] for u in report["unencrypted"]] == ["scratch"]
    summary = report["summary"]
    assert summary["errors"] == [] and summary["file_systems"] == 11 and summary["unencrypted"] == 1
    assert summary["findings"] == 1 and summary["by_severity"] == {"critical": 1}


def test_given_a_fleet_file_when_swept_then_the_findings_are_the_expected_ones(
    capsys: pytest.CaptureFixture[str], fleet_file: Path
) -> None:
    status, report, _ = sweep_json(capsys, "--fleet", str(fleet_file))
    assert status == 0
    assert shape(report) == EXPECTED
    assert report["summary"]["aws_managed"] == 1 and report["summary"]["distinct_keys"] == 3


def test_given_a_region_without_file_systems_when_swept_then_it_is_listed_and_empty(
    capsys: pytest.CaptureFixture[str], fleet_file: Path
) -> None:
    status, report, _ = sweep_json(capsys, "--fleet", str(fleet_file), "--regions", "eu-west-1")
    assert status == 0 and report["findings"] == []
    assert report["summary"]["regions"] == ["eu-west-1"] and report["summary"]["file_systems"] == 0


def test_given_no_json_when_swept_then_people_get_tables_and_stdout_has_no_progress_bar(
    capsys: pytest.CaptureFixture[str], fleet_file: Path
) -> None:
    status = main(["sweep", "--fleet", str(fleet_file)])
    out, err = capsys.readouterr()
    assert status == 0 and err == ""
    assert "on-disabled" in out and "3 file systems at risk" in out and "\r" not in out


def test_given_bad_accounts_when_swept_then_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "--accounts", "123"])
    assert exit_.value.code == 2
    assert "12-digit" in capsys.readouterr().err


def test_given_a_moto_server_when_swept_with_aws_then_the_findings_equal_the_fleets(
    capsys: pytest.CaptureFixture[str], moto_server: str
) -> None:
    ids = populate_server(moto_server, FLEET)

    status, report, err = sweep_json(capsys, "--aws", "--regions", REGION)

    assert status == 0, err
    assert shape(report) == EXPECTED
    assert {f["file_system_id"] for f in report["findings"]} == {ids[name] for name, _, _ in EXPECTED}
    assert {f["account"] for f in report["findings"]} == {ACCOUNT}
    summary = report["summary"]
    assert summary["accounts"] == 1 and summary["unencrypted"] == 1 and summary["aws_managed"] == 1
    assert summary["api_calls"]["kms:DescribeKey"] == 3 and summary["api_calls"]["efs:DescribeFileSystems"] == 1


class _Terminal(__import__("io").StringIO):
    def isatty(self) -> bool:
        return True


def test_given_a_terminal_when_swept_then_the_progress_bar_goes_to_stderr_only(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fleet_file: Path
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)

    status = main(["sweep", "--fleet", str(fleet_file)])

    out = capsys.readouterr().out
    assert status == 0
    assert "keys" in terminal.getvalue()  # the bar's phases: file systems, keys
    assert "3 file systems at risk" in out and "\x1b[?25l" not in out  # no cursor games on stdout


def test_given_a_terminal_and_json_when_swept_then_there_is_no_progress_bar(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fleet_file: Path
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)

    status = main(["sweep", "--fleet", str(fleet_file), "--json"])

    assert status == 0 and terminal.getvalue() == ""
    assert json.loads(capsys.readouterr().out)["summary"]["findings"] == 3
