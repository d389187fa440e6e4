"""``keywatch index``: what the index holds, on the simulated estate (filled as a sweep fills it) and on AWS
(here a local moto server that a real ``keywatch sweep --aws`` has filled)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from keywatch.cli import main
from keywatch.cli.simulator import create_index_table
from support import populate_server

APP_KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KEYWATCH_ACCOUNTS", "KEYWATCH_REGIONS", "KEYWATCH_INDEX_TABLE", "KEYWATCH_INCIDENTS_TABLE"):
        monkeypatch.delenv(name, raising=False)


def index_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    status = main(["index", *args, "--json"])
    out, err = capsys.readouterr()
    return status, json.loads(out)["index"] if out else {}, err


def test_given_the_demo_fleet_when_the_index_is_shown_then_each_key_lists_its_file_systems_in_every_account(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, index, err = index_json(capsys)

    assert status == 0 and err == ""
    assert index["filled"] is True
    assert {(m["account"], m["region"]) for m in index["swept"]} == {
        ("111122223333", "us-east-1"),
        ("444455556666", "us-east-1"),
    }
    by_key = {k["key_arn"]: k["file_systems"] for k in index["keys"]}
    app = sorted((fs["name"], fs["account"], fs["policy"]) for fs in by_key[APP_KEY])
    assert app == [
        ("app-home", "111122223333", "protect"),
        ("app-shared", "111122223333", "unmount"),
        ("partner-share", "444455556666", "notify"),
    ]
    names = {fs["name"] for found in by_key.values() for fs in found}
    assert "scratch" not in names and "default-key" not in names  # unencrypted; AWS managed key
    assert index["summary"] == {"keys": 7, "file_systems": 9, "accounts": 2, "swept_targets": 2, "expired": 0}


def test_given_no_json_when_the_index_is_shown_then_a_table_per_key(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["index"])
    out = capsys.readouterr().out

    assert status == 0
    assert APP_KEY in out and "partner-share" in out and "444455556666/us-east-1" in out
    assert "9 EFS file systems on 7 customer managed keys" in out


def test_given_aws_without_an_index_table_when_the_index_is_shown_then_a_usage_error_names_the_setting(
    capsys: pytest.CaptureFixture[str], moto_server: str
) -> None:
    status = main(["index", "--aws"])

    assert status == 2
    assert "KEYWATCH_INDEX_TABLE" in capsys.readouterr().err


def test_given_a_sweep_with_aws_when_the_index_is_shown_with_aws_then_it_holds_what_the_sweep_wrote(
    capsys: pytest.CaptureFixture[str], moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = {
        "accounts": [
            {
                "id": "123456789012",
                "regions": {
                    "us-east-1": {
                        "keys": [{"id": "k1"}, {"id": "k2", "state": "Disabled"}],
                        "file_systems": [
                            {"name": "one", "key": "k1"},
                            {"name": "two", "key": "k2"},
                            {"name": "plain", "encrypted": False},
                        ],
                    }
                },
            }
        ]
    }
    ids = populate_server(moto_server, fleet)
    create_index_table(boto3.client("dynamodb"), "kw-index")
    monkeypatch.setenv("KEYWATCH_INDEX_TABLE", "kw-index")

    assert main(["sweep", "--aws", "--regions", "us-east-1", "--json"]) == 0
    swept = json.loads(capsys.readouterr().out)["summary"]
    status, index, err = index_json(capsys, "--aws")

    assert swept["indexed"] == 2
    assert status == 0, err
    assert index["table"] == "kw-index" and index["filled"] is True
    found = {fs["file_system_id"] for key in index["keys"] for fs in key["file_systems"]}
    assert found == {ids["one"], ids["two"]}


def test_given_a_replay_of_an_efs_creation_then_a_key_event_when_replayed_then_the_new_file_system_is_hit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    events = Path(__file__).resolve().parents[2] / "events"

    status = main(["replay", str(events / "16_create_file_system.json"), str(events / "01_disable_key.json"), "--json"])
    created, disabled = json.loads(capsys.readouterr().out)["results"]

    assert status == 0
    assert (created["event_name"], created["outcome"]) == ("CreateFileSystem", "ignored")
    assert "partner-reports" in created["reason"]
    assert {fs["name"] for fs in disabled["affected"]} == {"app-shared", "app-home", "partner-share", "partner-reports"}


def test_given_one_file_system_when_the_index_is_shown_then_counts_are_singular(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fleet = {
        "accounts": [
            {
                "id": "111122223333",
                "regions": {
                    "us-east-1": {
                        "keys": [{"id": "1234abcd-12ab-34cd-56ef-1234567890ab"}],
                        "file_systems": [{"name": "solo", "key": "1234abcd-12ab-34cd-56ef-1234567890ab"}],
                    }
                },
            }
        ]
    }
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet))

    status = main(["index", "--fleet", str(path)])
    out = " ".join(capsys.readouterr().out.split())

    assert status == 0
    assert "1 EFS file system on 1 customer managed key in 1 account; 1 account-Region swept" in out
    assert "· 1 file system" in out and "1 file systems" not in out
