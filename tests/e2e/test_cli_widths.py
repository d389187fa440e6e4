"""What a person reads fits terminals from 80 columns up, and never cuts an ID.

The demo samples are replayed once (enforce, on the demo estate); the demo, every event in full, the
incidents and a sweep are then rendered at 80 and 100 columns. One real run of the installed command
with COLUMNS set checks the same from the outside.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from keywatch.cli import render
from keywatch.cli.index_cmd import index_document, print_index
from keywatch.cli.session import handle, open_session, read_events
from keywatch.cli.sweep_render import print_sweep
from keywatch.fanout import targets_for
from keywatch.models import Mode
from keywatch.sweep import Sweeper
from rich.console import Console
from support import EVENTS

WIDTHS = (80, 100)
FS_ID = re.compile(r"fs-[0-9a-f]*")
KEY_ARN = re.compile(r"arn:aws:kms:[A-Za-z0-9:/_-]*")
EVENT_ID = re.compile(r"(?:e1f2a3b4|a1b2c3d4|f0e1d2c3)-[0-9a-f-]*")


class Seen:
    """Everything one replay of the samples produced, and the IDs that exist."""

    def __init__(self) -> None:
        paths = sorted(str(p) for p in EVENTS.glob("*.json"))
        with open_session(None, False, Mode.ENFORCE) as (watchdog, estate):
            assert estate is not None
            built = set(estate.file_system_ids.values())
            self.entries = list(handle(read_events(paths), watchdog, estate))
            self.broken = render.estate_now(watchdog, self.entries)
            self.incidents = watchdog.incidents.list_all() if watchdog.incidents is not None else []
            self.sweep = Sweeper(watchdog).run(targets_for(estate.fleet.account_ids, estate.fleet.regions))
            if watchdog.index is not None:
                entries, markers = watchdog.index.contents()
                self.index = index_document(entries, markers, watchdog.settings.index_table, datetime.now(UTC))
            # the fleet's, and those the EFS samples create (and delete again)
            named = {getattr(e.event, "file_system_id", None) for e in self.entries}
            self.file_systems = built | {fs_id for fs_id in named if fs_id}
            self.keys = {
                f"arn:aws:kms:{region}:{account.id}:key/{key.id}"
                for account in estate.fleet.accounts
                for region, spec in account.regions.items()
                for key in spec.keys
            }
        self.events = {e.result.event_id for e in self.entries if e.result is not None}


@pytest.fixture(scope="module")
def seen() -> Seen:
    return Seen()


def rendered(width: int, draw: Any) -> str:
    buffer = io.StringIO()
    draw(Console(file=buffer, width=width, highlight=False, soft_wrap=False, color_system=None))
    return buffer.getvalue()


def check(output: str, width: int, seen: Seen) -> None:
    """IDs whole and real; no line wider than the terminal unless it holds an ID or a command to copy."""
    assert "\u2026" not in output and "..." not in output
    assert set(FS_ID.findall(output)) <= seen.file_systems
    assert {arn.rstrip(":") for arn in KEY_ARN.findall(output)} <= seen.keys
    assert set(EVENT_ID.findall(output)) <= seen.events
    for line in output.splitlines():
        if len(line) > width:
            stripped = line.strip()
            assert "arn:aws:" in line or stripped.startswith(("aws ", "keywatch ")), line
        assert line == line.rstrip(), f"trailing spaces: {line!r}"


@pytest.mark.parametrize("width", WIDTHS)
def test_given_the_demo_when_rendered_then_it_fits_keeps_ids_whole_and_reads_as_one_page(
    seen: Seen, width: int
) -> None:
    def draw(console: Console) -> None:
        demo = render.Demo(EVENTS / "fleet.yaml", len(seen.entries), Mode.ENFORCE, console=console)
        demo.intro()
        for entry in seen.entries:
            demo.event(entry)
        demo.summary(seen.entries, seen.broken)

    output = rendered(width, draw)

    check(output, width, seen)
    if width == 100:
        assert len(output.splitlines()) <= 150
    assert output.count("Slack is not configured") == 1
    # the summary says what is still broken: secrets-vault lost its mount targets and its key is PendingImport
    tail = " ".join(output[output.index("Still broken now") :].split())
    assert "fs-6961daff72ca38362 secrets-vault: key alias/imported is PendingImport; 0 of 2 mount targets" in tail
    # and the unmount-only key shows the mount targets going and coming back
    flat = " ".join(output.split())
    assert "analytics-scratch 2 -> 0 mount targets" in flat and "analytics-scratch 0 -> 2 mount targets" in flat


def test_given_the_demo_replayed_when_the_estate_is_read_back_then_only_what_is_still_broken_is_listed(
    seen: Seen,
) -> None:
    # 08 revoked app-home's EFS grant only; 22 set a policy on alias/app that denies EFS (no action puts a
    # policy back, so its three file systems stay shut out); 05, 09/14 and 13 left their keys unusable.
    # Every other file system was fixed (by keywatch or a recovery event) and must not be listed.
    frozen = "key alias/app's policy denies EFS kms:Decrypt (statement Freeze the key)"
    assert {b.name: b.problem for b in seen.broken} == {
        "app-shared": frozen,
        "app-home": "its EFS grant on key alias/app is gone; " + frozen,
        "partner-share": frozen,
        "media-assets": "key alias/global is PendingReplicaDeletion",
        "secrets-vault": "key alias/imported is PendingImport; 0 of 2 mount targets (removed by keywatch, "
        "recorded to put back)",
        "legacy-archive": "key 4c5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e7f is Deleted",
    }


@pytest.mark.parametrize("width", WIDTHS)
def test_given_every_event_in_full_when_rendered_then_ids_stay_whole_and_commands_are_on_lines_of_their_own(
    seen: Seen, width: int
) -> None:
    def draw(console: Console) -> None:
        demo = render.Demo(EVENTS / "fleet.yaml", len(seen.entries), Mode.ENFORCE, verbose=True, console=console)
        for entry in seen.entries:
            demo.event(entry)

    output = rendered(width, draw)

    check(output, width, seen)
    commands = [
        line.strip() for line in output.splitlines() if line.strip().startswith(("aws kms", "keywatch restore"))
    ]
    assert commands and all("\u2502" not in c and not c.endswith("...") for c in commands)
    assert "\u2502" not in output  # no box around anything a person may copy


@pytest.mark.parametrize("width", WIDTHS)
def test_given_incidents_when_listed_then_records_actions_and_actors_are_shown_with_whole_ids(
    seen: Seen, width: int
) -> None:
    output = rendered(width, lambda console: render.print_incidents(seen.incidents, console))

    check(output, width, seen)
    assert "Mount-target records" in output and "subnet subnet-" in output and " sg-" in output
    assert "delete_mount_targets on fs-6961daff72ca38362 by keywatch-simulator" in " ".join(output.split())
    for incident in seen.incidents:
        assert incident["pk"] in output


@pytest.mark.parametrize("width", WIDTHS)
def test_given_a_sweep_when_printed_then_every_finding_keeps_its_id_and_its_whole_reason(
    seen: Seen, width: int
) -> None:
    output = rendered(width, lambda console: print_sweep(seen.sweep, console))

    check(output, width, seen)
    flat = " ".join(output.split())
    assert seen.sweep.findings
    for finding in seen.sweep.findings:
        assert finding.file_system_id in output and " ".join(finding.reason.split()) in flat


@pytest.mark.parametrize("width", WIDTHS)
def test_given_the_index_when_printed_then_every_key_arn_and_file_system_id_is_whole(seen: Seen, width: int) -> None:
    output = rendered(width, lambda console: print_index(seen.index, console))

    check(output, width, seen)
    for key in seen.index["index"]["keys"]:
        assert f"\n{key['key_arn']}\n" in output
        assert all(fs["file_system_id"] in output for fs in key["file_systems"])


def test_given_the_installed_command_with_columns_set_when_the_demo_runs_then_it_fits_and_is_one_page(
    seen: Seen, tmp_path: Path
) -> None:
    command = Path(sys.executable).parent / "keywatch"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWATCH_"))} | {"COLUMNS": "80"}

    done = subprocess.run(
        [str(command), "demo"], capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no log lines without --debug
    check(done.stdout, 80, seen)
    assert len(done.stdout.splitlines()) <= 150
