"""Template tests: the linters, `sam build`, and what the template says (routing, IAM, failure paths)."""

from __future__ import annotations

from typing import Any

import pytest
from template_support import MEMBER_TEMPLATE, TEMPLATE, load


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: runs `sam build` (about 10 s with a warm pip cache); part of make test")


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load(TEMPLATE)


@pytest.fixture(scope="session")
def member_template() -> dict[str, Any]:
    return load(MEMBER_TEMPLATE)
