"""The templates pass the linters the way a reviewer would run them: sam validate --lint, cfn-lint, checkov.

checkov must report no failed check. A check may be skipped only in the resource's Metadata
(checkov: skip: - id, comment), and every skip must say why.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from template_support import MEMBER_TEMPLATE, TEMPLATE, TEMPLATES, cfn_lint, checkov, explain, load, run, sam


def test_given_the_sam_template_when_sam_validate_lints_it_then_it_is_valid() -> None:
    result = run([sam(), "validate", "--lint", "--template", str(TEMPLATE)])
    assert result.returncode == 0, explain(result)
    assert "is a valid SAM Template" in result.stdout + result.stderr, explain(result)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_given_a_template_when_cfn_lint_checks_it_then_nothing_is_reported(path: Path) -> None:
    result = run([cfn_lint(), str(path)])
    assert result.returncode == 0, explain(result)


def test_given_the_member_template_when_sam_validate_lints_it_then_it_is_valid() -> None:
    result = run([sam(), "validate", "--lint", "--template", str(MEMBER_TEMPLATE)])
    assert result.returncode == 0, explain(result)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_given_a_template_when_checkov_scans_it_then_no_check_fails(path: Path) -> None:
    # --skip-download: no call to the Prisma Cloud API (CI has no network but the package registries)
    result = run([checkov(), "-f", str(path), "--framework", "cloudformation", "--skip-download", "--output", "json"])
    assert result.stdout.strip(), explain(result)
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    summary = report.get("summary", {})
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for c in report.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert summary.get("parsing_errors", 0) == 0, explain(result)
    assert summary.get("passed", 0) > 0, f"checkov checked nothing in {path.name}: {summary}"
    assert result.returncode == 0, explain(result)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_given_a_checkov_skip_when_it_is_declared_then_it_names_a_check_and_says_why(path: Path) -> None:
    template = load(path)
    skips = [
        (name, skip)
        for name, res in template["Resources"].items()
        for skip in (res.get("Metadata", {}).get("checkov", {}).get("skip") or [])
    ]
    for name, skip in skips:
        assert str(skip.get("id", "")).startswith("CKV"), f"{name}: a skip names no check: {skip}"
        assert len(str(skip.get("comment", ""))) >= 40, f"{name}: skip {skip.get('id')} does not say why"
    # no blanket suppression anywhere else
    text = path.read_text()
    assert "checkov:skip=" not in text, f"{path.name}: inline checkov:skip comments hide the reason"
