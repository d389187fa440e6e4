"""The keywatch command never fails silently: exit status, flags, configuration errors, fast plain errors,
and a JSON report that accounts for every input file."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from keywatch.cli import main
from keywatch.cli import simulator as simulator_module
from support import EVENTS

FLEET = EVENTS / "fleet.yaml"
VERBS = ("demo", "replay", "sweep", "restore", "incidents")
SAMPLE = str(EVENTS / "03_schedule_key_deletion.json")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KEYWATCH_INCIDENTS_TABLE", "KEYWATCH_ACCOUNTS", "KEYWATCH_MODE", "KEYWATCH_SLACK_SECRET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def no_estate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a simulated estate is built: the errors under test must come before it."""

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("the simulated estate was built before the bad input was reported")

    monkeypatch.setattr(simulator_module.Estate, "build", refuse)


# --- flags ----------------------------------------------------------------------------------------------


def test_given_version_when_asked_then_the_installed_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"keywatch {version('keywatch')}"


def test_given_no_verb_when_run_then_help_is_printed_and_exit_is_0(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys)

    assert status == 0 and err == ""
    assert out.startswith("usage: keywatch")
    assert all(verb in out for verb in VERBS) and "Exit status" in out


def test_given_debug_after_the_verb_when_replaying_then_logs_reach_stderr_and_without_it_nothing_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    quiet = run(capsys, "replay", SAMPLE, "--json")
    loud = run(capsys, "replay", SAMPLE, "--json", "--debug")

    assert quiet[0] == loud[0] == 0
    assert quiet[2] == ""  # no Powertools JSON lines without --debug
    logged = [json.loads(line) for line in loud[2].splitlines() if line.startswith("{")]
    assert any(entry.get("message") == "assessed" for entry in logged)
    assert [r["event_name"] for r in json.loads(loud[1])["results"]] == ["ScheduleKeyDeletion"]  # stdout: the report


# --- configuration errors: exit 2, the same in every verb -------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["incidents", "--aws"],
        ["restore", "--file-system", "fs-0123456789abcdef0", "--aws"],
        ["replay", SAMPLE, "--aws", "--mode", "enforce"],
        ["sweep", "--aws", "--mode", "enforce"],
    ],
    ids=["incidents", "restore", "replay-enforce", "sweep-enforce"],
)
def test_given_aws_without_an_incidents_table_when_a_verb_needs_one_then_it_names_the_setting_and_exits_2(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    status, out, err = run(capsys, *argv)

    assert status == 2 and out == ""
    assert err.startswith("keywatch: ") and "needs KEYWATCH_INCIDENTS_TABLE" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["demo"],
        ["replay", SAMPLE],
        ["sweep"],
        ["restore", "--file-system", "fs-0123456789abcdef0"],
        ["incidents"],
    ],
    ids=VERBS,
)
def test_given_a_bad_setting_when_any_verb_runs_then_it_names_the_variable_and_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, no_estate: None, argv: list[str]
) -> None:
    monkeypatch.setenv("KEYWATCH_ACCOUNTS", "1111-2222")

    status, out, err = run(capsys, *argv)

    assert status == 2 and out == ""
    assert err == "keywatch: configuration: KEYWATCH_ACCOUNTS: '1111-2222' is not a 12-digit AWS account ID\n"


# --- bad event files: exit 1 in every verb that reads them, reported before anything is built ----------


def test_given_a_missing_file_alone_when_replayed_then_it_is_reported_at_once_and_no_estate_is_built(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_estate: None
) -> None:
    missing = tmp_path / "nope.json"

    status, out, err = run(capsys, "replay", str(missing), "--json")

    assert status == 1
    assert err == f"keywatch: {missing}: no such file\n"
    assert json.loads(out) == {"results": [{"file": str(missing), "outcome": "error", "reason": "no such file"}]}


@pytest.mark.parametrize("verb", ["incidents", "restore"])
def test_given_a_bad_replay_file_when_incidents_or_restore_runs_then_exit_is_1_as_for_replay(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, verb: str
) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("\n")
    target = ["--file-system", "fs-6961daff72ca38362"] if verb == "restore" else []

    status, _, err = run(capsys, verb, *target, "--replay", str(empty))

    assert status == 1
    assert f"keywatch: {empty}: the file is empty\n" in err


def test_given_a_missing_file_beside_a_good_one_when_replayed_as_json_then_both_are_in_the_report_in_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.json"

    status, out, err = run(capsys, "replay", str(missing), SAMPLE, "--json")

    assert status == 1
    assert err == f"keywatch: {missing}: no such file\n"
    error, result = json.loads(out)["results"]
    assert error == {"file": str(missing), "outcome": "error", "reason": "no such file"}
    assert (result["file"], result["event_name"], result["outcome"]) == (SAMPLE, "ScheduleKeyDeletion", "alert")
    # as in the sweep: when the key will be deleted, how long is left, and what to do, as commands
    assert result["deletion_date"].startswith("2026-12-28T10:02")
    assert isinstance(result["days_left"], int) and result["days_left"] >= 0
    commands = [step["command"] for step in result["next_steps"]]
    arn = result["key_arn"]
    assert commands == [
        f"aws kms cancel-key-deletion --key-id {arn} --region us-east-1",
        f"aws kms enable-key --key-id {arn} --region us-east-1",
    ]


@pytest.mark.parametrize(
    "content, words",
    [
        ("", "the file is empty"),
        ("   \n", "the file is empty"),
        ('{"version": "0",\n "detail": {', "not valid JSON (Expecting property name enclosed in double quotes at line"),
        ('{"version": "0"}', "is missing"),
    ],
    ids=["empty", "blank", "bad-json", "missing-fields"],
)
def test_given_an_unusable_event_file_when_replayed_then_the_reason_is_in_words_and_names_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_estate: None, content: str, words: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)

    status, _, err = run(capsys, "replay", str(bad))

    assert status == 1
    assert err.startswith(f"keywatch: {bad}: ") and words in err
    assert "Field required" not in err and "Input should be" not in err


@pytest.mark.parametrize(
    "content, words",
    [
        ("", "the file is empty"),
        ("accounts:\n  - id: '111122223333'\n    regions: {\n", "not valid YAML at line 4"),
        ("accounts:\n  - regions: {}\n", "accounts[0].id is missing"),
        ("accounts:\n  - id: '111122223333'\n    colour: blue\n", "accounts[0].colour is not a field keywatch knows"),
        ("accounts: []\n", "accounts must have at least 1 item"),
        ("accounts:\n  - id: '11112222333X'\n", "accounts[0].id '11112222333X' is not a 12-digit AWS account ID"),
    ],
    ids=["empty", "bad-yaml", "missing-id", "unknown-field", "no-accounts", "bad-account-id"],
)
def test_given_an_unusable_fleet_when_replayed_then_exit_2_in_words_before_the_estate_is_built(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_estate: None, content: str, words: str
) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(content)

    status, out, err = run(capsys, "replay", SAMPLE, "--fleet", str(fleet))

    assert status == 2 and out == ""
    assert err == f"keywatch: {fleet}: {words}" + err.split(words, 1)[1]
    assert err.count("\n") == 1 and "Field required" not in err and "pattern" not in err


# --- restore refusing is not a success ----------------------------------------------------------------


def test_given_the_key_is_still_disabled_when_restore_is_asked_then_it_refuses_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    analytics = "fs-b16ad8817880b6b62"  # analytics-scratch, the demo estate's unmount-only file system

    status, out, err = run(
        capsys,
        "restore",
        "--file-system",
        analytics,
        "--replay",
        str(EVENTS / "24_disable_analytics_key.json"),
        "--mode",
        "enforce",
        "--json",
    )

    assert status == 1
    assert err == "keywatch: restore refused: the key is Disabled\n"
    [result] = json.loads(out)["results"]
    assert [(a["type"], a["status"]) for a in result["actions"]] == [("restore_mount_targets", "skipped")]
    assert result["affected"][0]["mount_targets"] == 0  # access is still cut, and the report says so
