"""The CLI in approve mode: replay posts the buttons, and a click on one acts on the replay's estate;
`keywatch silences` lists and clears silences."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from approval_support import APP_ARN, APPROVER, InteractiveSlack, buttons_of
from keywatch.cli import main
from support import EVENTS


@pytest.fixture(autouse=True)
def log_stream_outlives_capsys() -> Iterator[None]:
    yield
    from keywatch.observability import logger

    for handler in logger.handlers:
        if hasattr(handler, "setStream"):
            handler.stream = sys.__stderr__


def test_given_silences_in_the_table_when_listed_and_one_cleared_then_the_cli_shows_and_removes_it(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3
    from keywatch.adapters.approvals import DynamoApprovalStore
    from keywatch.adapters.aws import AwsClients
    from keywatch.cli.simulator import create_incidents_table
    from keywatch.silences import Silence

    create_incidents_table(boto3.client("dynamodb", region_name="us-east-1"), "incidents")
    monkeypatch.setenv("KEYWATCH_INCIDENTS_TABLE", "incidents")
    monkeypatch.setenv("KEYWATCH_HOME_ACCOUNT", "123456789012")
    store = DynamoApprovalStore(AwsClients(home_account="123456789012"), "incidents", "us-east-1")
    now = int(time.time())
    other = APP_ARN.replace("1234abcd", "5678abcd")
    store.silence(Silence(key_arn=APP_ARN, until=now + 3600, set_by=APPROVER, set_by_name="alice", set_at=now))
    store.silence(Silence(key_arn=other, until=now - 60, set_by=APPROVER, set_at=now - 7200))

    assert main(["silences", "--aws", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["silences"]
    assert [(s["key_arn"], s["active"]) for s in listed] == [(APP_ARN, True), (other, False)]

    assert main(["silences", "--aws", "--clear", APP_ARN.rsplit("/", 1)[-1]]) == 0
    assert "sent again" in capsys.readouterr().out
    assert store.silence_of(APP_ARN) is None
    assert [i.kind for i in store.interactions()] == ["silence_cleared"]
    assert main(["silences", "--aws", "--clear", APP_ARN]) == 2, "no silence left on that key"


def test_given_no_incidents_table_when_silences_are_listed_then_it_says_which_setting_is_missing(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KEYWATCH_INCIDENTS_TABLE", raising=False)
    monkeypatch.setenv("KEYWATCH_HOME_ACCOUNT", "123456789012")
    assert main(["silences", "--aws"]) == 2
    assert "KEYWATCH_INCIDENTS_TABLE" in capsys.readouterr().err


def test_given_slack_decisions_when_incidents_are_listed_then_each_shows_with_its_user(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from keywatch.approvals.models import Choice, Interaction
    from keywatch.cli.approvals_render import attach_interactions

    incidents: list[dict[str, Any]] = [
        {"pk": APP_ARN, "sk": "resolved#1", "opened_at": "2026-11-01T00:00:00+00:00", "status": "resolved"},
        {"pk": APP_ARN, "sk": "incident", "opened_at": "2026-11-29T05:00:00+00:00", "status": "open"},
    ]
    at = int(datetime(2026, 11, 29, 5, 1, tzinfo=UTC).timestamp())
    log = [Interaction(key_arn=APP_ARN, at=at, kind="approved", user=APPROVER, user_name="alice", choice=Choice.ENABLE)]

    attach_interactions(incidents, log)

    assert incidents[0]["interactions"] == []
    assert [(i["kind"], i["user"], i["choice"]) for i in incidents[1]["interactions"]] == [
        ("approved", APPROVER, "enable")
    ]


def test_given_a_cli_replay_in_approve_mode_when_its_button_is_clicked_then_only_a_signed_allowed_first_click_acts(
    aws: None,
    slack: InteractiveSlack,
    changes: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The path the issue is judged on: `keywatch replay --mode approve` posts the alert to a local Slack; the
    button it really carries is signed and sent to functions/slack_actions/app.py, on the same moto estate
    (the replay's estate outlives it inside an outer moto, and simulated_environment points the endpoint at it)."""
    import boto3
    from approval_support import OUTSIDER, SIGNING_SECRET, click_body, signed_event
    from keywatch.adapters.aws import AwsClients
    from keywatch.cli.session import default_fleet
    from keywatch.cli.simulator import HOME_ACCOUNT, SIM_ROLE, Fleet, simulated_environment
    from support import FakeLambdaContext, load_function

    replay = ["replay", str(EVENTS / "01_disable_key.json"), "--mode", "approve", "--slack-webhook", slack.webhook_url]
    assert main([*replay, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["results"][0]
    assert {a["status"] for a in result["actions"]} == {"planned"}, "approve mode plans as dry-run does"
    slack_note = next(n for n in result["notifications"] if n["channel"] == "slack")
    assert slack_note["status"] == "sent" and "approval buttons" in slack_note["detail"]
    offered = buttons_of(slack.posts()[0])
    assert {"keywatch_enable", "keywatch_cut", "keywatch_ack"} <= set(offered)
    enable = offered["keywatch_enable"]

    sm = boto3.client("secretsmanager", region_name="us-east-1")
    secret = sm.create_secret(Name="keywatch/slack-signing", SecretString=SIGNING_SECRET)["ARN"]
    endpoint_env = simulated_environment(Fleet.load(default_fleet())) | {
        "KEYWATCH_MODE": "approve",
        "KEYWATCH_SLACK_SIGNING_SECRET": secret,
        "KEYWATCH_SLACK_APPROVERS": APPROVER,
    }
    for name, value in endpoint_env.items():
        monkeypatch.setenv(name, value)
    app = load_function("slack_actions")
    kms = AwsClients(read_role=SIM_ROLE, write_role=SIM_ROLE, home_account=HOME_ACCOUNT).client(
        "kms", "111122223333", "us-east-1"
    )

    def state() -> str:
        return str(kms.describe_key(KeyId=APP_ARN)["KeyMetadata"]["KeyState"])

    def send(event: dict[str, Any]) -> int:
        return int(app.lambda_handler(event, FakeLambdaContext())["statusCode"])

    body = click_body(enable, response_url=slack.response_url)
    assert send(signed_event(body, signature="")) == 401
    assert send(signed_event(body, timestamp=int(time.time()) - 301)) == 401
    assert send(signed_event(click_body(enable, user=OUTSIDER, name="mallory", response_url=slack.response_url))) == 200
    assert "not allowed" in slack.to_response_url()[-1]["text"]
    assert state() == "Disabled" and changes == {}

    assert send(signed_event(body)) == 200
    assert state() == "Enabled" and changes == {"enable_key": 1}
    rewritten = slack.to_response_url()[-1]
    assert rewritten["replace_original"] is True and f"<@{APPROVER}>" in str(rewritten) and "done" in str(rewritten)

    assert send(signed_event(body)) == 200
    assert "nothing was done again" in slack.to_response_url()[-1]["text"]
    assert changes == {"enable_key": 1}


def test_given_aws_and_no_incidents_table_when_replayed_in_approve_mode_then_it_refuses_before_posting_a_dead_button(
    aws: None, slack: InteractiveSlack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KEYWATCH_INCIDENTS_TABLE", raising=False)
    replay = ["replay", str(EVENTS / "01_disable_key.json"), "--aws", "--mode", "approve"]

    assert main([*replay, "--slack-webhook", slack.webhook_url]) == 2
    assert "KEYWATCH_INCIDENTS_TABLE" in capsys.readouterr().err
    assert slack.posts() == []


@pytest.mark.parametrize("width", [80, 100])
def test_given_silences_and_decisions_when_printed_then_they_fit_the_terminal_and_key_arns_stay_whole(
    width: int,
) -> None:
    import io

    from keywatch.approvals.models import Choice, Interaction
    from keywatch.cli.approvals_render import attach_interactions, print_interactions, print_silences
    from keywatch.silences import Silence
    from rich.console import Console

    now = int(datetime(2026, 11, 29, 6, 0, tzinfo=UTC).timestamp())
    other = APP_ARN.replace("1234abcd", "5678abcd")
    silences = [
        Silence(key_arn=APP_ARN, until=now + 3600, set_by=APPROVER, set_by_name="alice", set_at=now),
        Silence(key_arn=other, until=now - 60, set_by=APPROVER, set_at=now - 7200),
    ]
    incidents: list[dict[str, Any]] = [{"pk": APP_ARN, "opened_at": "2026-11-29T05:00:00+00:00", "status": "open"}]
    attach_interactions(
        incidents,
        [
            Interaction(
                key_arn=APP_ARN,
                at=now - 1800,
                kind="approved",
                user=APPROVER,
                user_name="alice",
                choice=Choice.CUT,
                detail="deleted 2 of 2 mount targets of fs-0a1b2c3d4e5f60001 (recorded for restore)",
            )
        ],
    )
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, highlight=False, soft_wrap=False, color_system=None)

    print_silences(silences, now, console)
    print_interactions(incidents, console)

    lines = buffer.getvalue().splitlines()
    assert APP_ARN in lines and other in lines  # each ARN whole, on a line of its own
    assert all(len(line) <= width for line in lines if "arn:aws:" not in line)
    assert "\u2026" not in buffer.getvalue() and all(line == line.rstrip() for line in lines)
    flat = " ".join(buffer.getvalue().split())
    assert "2 silences (1 active)" in flat
    assert f"active until 2026-11-29 07:00 UTC · set by {APPROVER} (alice)" in flat
    assert "expired 2026-11-29 05:59 UTC" in flat
    assert f"2026-11-29 05:30 UTC · {APPROVER} (alice) · approved Cut access (remove mount targets) · deleted 2" in flat
    assert "fs-0a1b2c3d4e5f60001" in flat
