"""``keywatch replay`` with hostile files mixed with good ones: each bad file is one line naming it, every
good file is still handled, and the exit status is 1. Property-based (hypothesis) and named cases.

The invariant only, not the wording: how the CLI reports errors (text, JSON entries) is its own contract.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keywatch.cli import main
from keywatch.notify.hygiene import one_line
from keywatch.parse import MAX_EVENT_BYTES, InvalidEvent, read_event_file

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
ACCOUNT = "111122223333"
APP_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
FLEET = {
    "accounts": [
        {
            "id": ACCOUNT,
            "regions": {
                "us-east-1": {
                    "keys": [{"id": APP_ID, "aliases": ["alias/app"]}],
                    "file_systems": [{"name": "app", "key": "alias/app", "mount_targets": 1}],
                }
            },
        }
    ]
}
GOOD = [json.loads((EVENTS / name).read_text()) for name in ("01_disable_key.json", "02_enable_key.json")]


def replay(capsys: pytest.CaptureFixture[str], fleet: Path, files: list[Path]) -> tuple[int, list[str], list[str]]:
    """Run the CLI; return the exit status, the event IDs it reported, and its stderr lines."""
    status = main(["replay", *map(str, files), "--fleet", str(fleet), "--json"])
    out, err = capsys.readouterr()
    results = json.loads(out)["results"]
    assert [r["file"] for r in results] == list(map(str, files))  # every input has its place in the report
    return status, [r["event_id"] for r in results if r["outcome"] != "error"], err.splitlines()


def check(status: int, reported: list[str], errors: list[str], files: list[Path]) -> None:
    """The invariant, file by file: a result for each event, exactly one stderr line for each bad file."""
    bad = 0
    for path in files:
        try:
            event = read_event_file(path)
        except InvalidEvent:
            bad += 1
            naming = [line for line in errors if one_line(str(path)) in line]
            assert len(naming) == 1, (path, errors)
        else:
            assert event.event_id in reported, f"{path} parses but was not handled: {errors}"
            assert not [line for line in errors if one_line(str(path)) in line], (path, errors)
    assert not any("Traceback" in line for line in errors)
    assert status == (1 if bad else 0)


def write(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fleet") / "fleet.yaml"
    path.write_text(yaml.safe_dump(FLEET))
    return path


# --- named cases -----------------------------------------------------------------------------------------

NAMED = {
    "huge-integer.json": b'{"id": ' + b"7" * 5000 + b"}",
    "nested.json": b"[" * 50_000 + b"]" * 50_000,
    "not-utf8.json": "\u00e9v\u00e9nement".encode("latin-1"),
    "empty.json": b"",
    "array.json": b"[]",
    "too-big.json": json.dumps({**GOOD[0], "pad": "x" * MAX_EVENT_BYTES}).encode(),
    "grant-as-number.json": json.dumps(
        {**GOOD[0], "detail": {**GOOD[0]["detail"], "eventName": "RevokeGrant", "requestParameters": {"grantId": 7}}}
    ).encode(),
    "superscript-account.json": json.dumps(
        {**GOOD[0], "detail": {**GOOD[0]["detail"], "recipientAccountId": "\u00b9" + ACCOUNT[1:], "resources": None}}
    ).encode(),
    "pydantic-multiline.json": json.dumps({**GOOD[0], "time": "yesterday", "id": 5, "detail": []}).encode(),
}


def test_given_each_named_hostile_file_between_good_ones_when_replayed_then_one_line_each_and_all_good_handled(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fleet: Path
) -> None:
    files = [write(tmp_path, "good-1.json", json.dumps(GOOD[0]).encode())]
    files += [write(tmp_path, name, data) for name, data in NAMED.items()]
    files.append(write(tmp_path, "good-2.json", json.dumps(GOOD[1]).encode()))

    status, reported, errors = replay(capsys, fleet, files)

    check(status, reported, errors, files)
    assert status == 1
    assert {GOOD[0]["detail"]["eventID"], GOOD[1]["detail"]["eventID"]} <= set(reported)


def test_given_a_file_whose_name_holds_control_characters_when_replayed_then_its_error_is_still_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fleet: Path
) -> None:
    bad = write(tmp_path, "evil\nname\x1b[2J\u202e.json", b"{")
    good = write(tmp_path, "good.json", json.dumps(GOOD[0]).encode())

    status, reported, errors = replay(capsys, fleet, [bad, good])

    assert status == 1 and reported == [GOOD[0]["detail"]["eventID"]]
    assert len(errors) == 1 and "evil name" in errors[0] and "\x1b" not in errors[0]


# --- properties ---------------------------------------------------------------------------------------------


def _mutations(raw: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """A good event with one field replaced by something hostile, as file bytes."""
    value = st.one_of(
        st.none(),
        st.integers(),
        st.just(10**4000),
        st.floats(),
        st.text(max_size=20),
        st.sampled_from(["\u00b9" + ACCOUNT[1:], "us-east-1\n", "\u202e", "x" * 3000]),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    )
    fields = [("id",), ("time",), ("region",), ("account",), ("detail",), ("detail-type",), ("source",)]
    fields += [("detail", k) for k in raw["detail"]]

    def mutate(field: tuple[str, ...], new: Any) -> bytes:
        out = copy.deepcopy(raw)
        node: Any = out
        for part in field[:-1]:
            node = node[part]
        node[field[-1]] = new
        return json.dumps(out).encode()

    return st.builds(mutate, st.sampled_from(fields), value)


HOSTILE_FILE = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    st.sampled_from(list(NAMED.values())),
    _mutations(GOOD[0]),
)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(HOSTILE_FILE, min_size=1, max_size=4), st.data())
def test_given_generated_files_mixed_with_good_ones_when_replayed_then_bad_ones_are_one_line_and_good_handled(
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
    fleet: Path,
    hostile: list[bytes],
    data: st.DataObject,
) -> None:
    directory = tmp_path_factory.mktemp("replay")
    files = [write(directory, f"hostile-{i}.json", content) for i, content in enumerate(hostile)]
    for i, good in enumerate(GOOD):
        files.insert(
            data.draw(st.integers(0, len(files)), label="position"),
            write(directory, f"good-{i}.json", json.dumps(good).encode()),
        )

    status, reported, errors = replay(capsys, fleet, files)

    check(status, reported, errors, files)
    assert {g["detail"]["eventID"] for g in GOOD} <= set(reported)


# --- what the terminal shows ------------------------------------------------------------------------------

EVIL_NAME = "payroll\x1b[2J\x00\u202egnp.exe\u2028[bold red]forged[/]\u2029\x07"


@pytest.mark.parametrize(
    "argv",
    [
        ["replay", str(EVENTS / "01_disable_key.json"), "--mode", "enforce"],
        ["incidents", "--replay", str(EVENTS / "01_disable_key.json"), "--mode", "enforce"],
        ["sweep"],
        ["index"],
    ],
    ids=["replay", "incidents", "sweep", "index"],
)
def test_given_a_name_tag_with_control_bidi_and_markup_when_shown_then_the_terminal_gets_none_of_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]
) -> None:
    # Given a file system whose Name tag (anyone who can tag it writes it) carries ESC, NUL, BEL, an RTL
    # override, line and paragraph separators and rich markup
    hostile = copy.deepcopy(FLEET)
    hostile["accounts"][0]["regions"]["us-east-1"]["file_systems"][0]["name"] = EVIL_NAME
    if argv == ["sweep"]:  # the sweep shows file systems at risk: a disabled key
        hostile["accounts"][0]["regions"]["us-east-1"]["keys"][0]["state"] = "Disabled"
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(hostile))
    event = json.loads((EVENTS / "01_disable_key.json").read_text())
    event["detail"]["requestParameters"]["keyId"] = APP_ID
    event["detail"]["resources"] = [{"ARN": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{APP_ID}", "accountId": ACCOUNT}]
    event["detail"]["recipientAccountId"] = event["account"] = ACCOUNT
    (tmp_path / "01_disable_key.json").write_text(json.dumps(event))
    argv = [str(tmp_path / "01_disable_key.json") if a.endswith("01_disable_key.json") else a for a in argv]

    # When the verb shows it
    main([*argv, "--fleet", str(path)])
    out, err = capsys.readouterr()

    # Then the name is there, neutralised, its markup shown as text, and nothing unsafe reaches the terminal
    assert "payroll" in out and "forged[/]" in out and "[bold" in out  # a table may wrap the name at its spaces
    for stream in (out, err):
        assert not (set(stream) & set("\x1b\x00\x07\u202e\u2028\u2029")), repr(stream[:2000])
