"""The endpoint's and the worker's configuration: what they need, and the environment of a simulated estate."""

from __future__ import annotations

from typing import Any

import pytest
from keywatch.approvals.runtime import build_click_handler, build_worker
from keywatch.config import ConfigError, Settings
from keywatch.models import Mode


@pytest.mark.parametrize("build", [build_click_handler, build_worker])
def test_given_approve_mode_without_an_incidents_table_when_the_endpoint_or_worker_starts_then_it_names_the_setting(
    aws: None, build: Any
) -> None:
    settings = Settings(mode=Mode.APPROVE, slack_signing_secret="keywatch/slack-signing", home_account="123456789012")

    with pytest.raises(ConfigError, match="KEYWATCH_INCIDENTS_TABLE"):
        build(settings)


def test_given_a_simulated_estate_when_its_environment_is_read_then_it_is_the_estate_s_own_settings(
    estate: Any,
) -> None:
    from keywatch.cli.simulator import simulated_environment

    env = simulated_environment(estate.fleet)
    from_env = Settings.from_env(env)

    assert from_env.topic_arn == estate.topic_arn, "the topic the estate really created"
    assert from_env.model_dump(exclude={"home_account"}) == estate.settings().model_dump(exclude={"home_account"})
    assert from_env.home_account == estate.clients.home_account
