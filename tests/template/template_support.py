"""Helpers for the template tests: load CloudFormation YAML, walk it, find and run the tools."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
MEMBER_TEMPLATE = ROOT / "templates" / "member-account.yaml"
TEMPLATES = (TEMPLATE, MEMBER_TEMPLATE)

NO_VALUE = {"Ref": "AWS::NoValue"}


def load(path: Path) -> dict[str, Any]:
    """A template as CloudFormation reads it: !Ref, !Sub, !GetAtt... become {"Ref": ...} and so on."""
    from cfnlint.decode import decode

    template, errors = decode(str(path))
    assert not errors, f"{path.name} does not parse: {errors}"
    assert template is not None
    return template


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


def branches(value: Any) -> Iterator[Any]:
    """Every value an expression can take: both sides of each Fn::If, never AWS::NoValue."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _, yes, no = value["Fn::If"]
        yield from branches(yes)
        yield from branches(no)
    elif value != NO_VALUE:
        yield value


def as_list(value: Any) -> list[Any]:
    return [v for item in (value if isinstance(value, list) else [value]) for v in branches(item)]


def ref_name(value: Any) -> str | None:
    """The logical ID behind {"Ref": X} or {"Fn::GetAtt": [X, attr]}."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return None


def tool(name: str, hint: str) -> str:
    """The path of a command-line tool, or a failed test that says how to get it. Never a skip."""
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: {hint}", pytrace=False)
    return found


def sam() -> str:
    return tool("sam", "`make test` installs it into .tools/sam and puts it on PATH (or: pip install aws-sam-cli)")


def checkov() -> str:
    return tool("checkov", "`make test` installs it into .tools/checkov and puts it on PATH (or: pip install checkov)")


def cfn_lint() -> str:
    return tool("cfn-lint", "it is in the dev extra: `make install` (pip install -e '.[dev]')")


def tool_env() -> dict[str, str]:
    """No telemetry, no credentials, no prompts: the tools must work on a machine with no AWS account."""
    env = dict(os.environ)
    env.update({"SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", "us-east-1")})
    return env


def run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=ROOT,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"$ {' '.join(result.args)}\nexit {result.returncode}\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
