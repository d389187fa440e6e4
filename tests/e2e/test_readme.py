"""The README's claims hold: its synopsis is the parser's, its commands run as written, its sample JSON
and its "what you'll see" are what keywatch prints, and the make targets it names exist."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from keywatch.cli import main, render
from keywatch.cli.main import build_parser
from support import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
NEEDS_AWS = ("--aws", "--slack-webhook", "$")  # run against real AWS or Slack: not here


def fenced(after: str = "", lang: str | None = None) -> list[str]:
    """The fenced code blocks of the README (after the heading ``after``; of one language), as text."""
    text = README[README.index(after) :] if after else README
    blocks = re.finditer(r"^ *```([a-z]*)\n(.*?)^ *```", text, flags=re.S | re.M)
    return [m[2] for m in blocks if lang is None or m[1] == lang]


def shell_lines() -> list[str]:
    """Each command of the README's bash blocks (a line of ``a && b`` is two)."""
    return [part.strip() for block in fenced(lang="bash") for line in block.splitlines() for part in line.split("&&")]


def keywatch_commands() -> list[str]:
    """Every ``keywatch ...`` command the README shows, in bash blocks or inline, whitespace normalised."""
    found = [line for line in shell_lines() if line.startswith("keywatch ")]
    found += [" ".join(m[1].split()) for m in re.finditer(r"`(keywatch [^`]+)`", README)]
    synopsis = set(fenced("## Using the CLI")[0].splitlines())
    return list(dict.fromkeys(c for c in found if c not in synopsis and "[" not in c))


def runnable() -> list[str]:
    return [c for c in keywatch_commands() if not any(mark in c for mark in NEEDS_AWS) and "FS_ID" not in c]


def run(capsys: pytest.CaptureFixture[str], command: str) -> tuple[int, str, str]:
    status = main(shlex.split(command)[1:])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(autouse=True)
def at_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run as a reader runs them: from the repository's root, at 100 columns, no settings."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(render, "_console", None)
    for name in ("KEYWATCH_MODE", "KEYWATCH_INCIDENTS_TABLE", "KEYWATCH_ACCOUNTS", "KEYWATCH_SLACK_SECRET"):
        monkeypatch.delenv(name, raising=False)


def test_given_the_synopsis_when_read_then_it_names_every_verb_and_every_flag_the_parser_has() -> None:
    parser = build_parser()
    lines = fenced("## Using the CLI")[0].splitlines()
    groups: dict[str, str] = {}
    for line in lines:
        if line.startswith("keywatch"):
            verb = line.split()[1] if not line.split()[1].startswith("[") else ""
            groups[verb] = line
        else:
            groups[verb] += " " + line
    flags = lambda text: set(re.findall(r"--[a-z][a-z-]*", text))  # noqa: E731
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(groups) - {""} == set(sub.choices)
    top = {o for a in parser._actions for o in a.option_strings if o.startswith("--")} - {"--help"}
    assert flags(groups[""]) == top
    for verb, verb_parser in sub.choices.items():
        own = {o for a in verb_parser._actions for o in a.option_strings if o.startswith("--")}
        assert flags(groups[verb]) == own - {"--help", "--debug"}, verb  # --debug: anywhere, said once above


def test_given_the_readme_when_its_commands_are_listed_then_the_ones_that_need_aws_are_the_only_ones_left_out() -> None:
    commands = keywatch_commands()
    assert "keywatch demo" in commands and any(c.startswith("keywatch replay") for c in runnable())
    assert all(any(mark in c for mark in NEEDS_AWS) or "FS_ID" in c for c in commands if c not in runnable())


SAMPLE_COMMAND = "keywatch replay events/24_disable_analytics_key.json --mode enforce --json"


@pytest.mark.parametrize("command", [c for c in runnable() if c != SAMPLE_COMMAND])  # that one: below
def test_given_a_readme_command_when_run_as_written_then_it_succeeds(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    status, out, err = run(capsys, command)

    assert status == 0, err
    assert out and "Traceback" not in err
    if command == "keywatch demo --mode enforce":
        # "What you'll see" is this command's real output, at 100 columns: every line it shows is there
        [excerpt] = [b for b in fenced("### What you'll see") if b.startswith("keywatch demo:")]
        shown = [line for line in excerpt.splitlines() if line and not line.startswith("[")]
        printed = out.splitlines()
        assert [line for line in shown if line not in printed] == []


def test_given_the_sample_report_when_the_command_it_names_runs_then_that_is_what_it_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    [sample] = [b for b in fenced("## Using the CLI") if b.lstrip().startswith('{\n  "results"')]
    command = SAMPLE_COMMAND
    assert command in runnable() and f"`{command}`" in " ".join(README.split())

    status, out, _ = run(capsys, command)

    def steady(document: Any) -> Any:  # the SNS message ID is new on every run
        for result in document["results"]:
            for note in result["notifications"]:
                if note["channel"] == "sns":
                    note["detail"] = re.sub(r"message \S+", "message <id>", note["detail"])
        return document

    assert status == 0
    assert steady(json.loads(out)) == steady(json.loads(sample))


def test_given_the_make_targets_the_readme_names_when_listed_then_each_exists_and_build_puts_sam_on_path() -> None:
    named = {line.split()[1] for line in shell_lines() if line.startswith("make ")}
    named |= set(re.findall(r"`make ([a-z][a-z-]*)`", README))
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M))
    assert named and named <= targets

    for target, command in (("build", "sam build"), ("deploy", "sam deploy --guided")):
        dry = subprocess.run(
            ["make", "-n", "--always-make", target], cwd=ROOT, capture_output=True, text=True, check=True
        )
        [line] = [line for line in dry.stdout.splitlines() if command in line]
        assert f'PATH="{Path(ROOT, ".tools", "bin")}:' in line
