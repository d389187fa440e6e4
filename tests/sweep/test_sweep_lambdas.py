"""The distributed sweep through the real handlers: scheduled fan-out to SQS, and the Powertools Batch worker."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from keywatch.adapters.organizations import OrganizationsGateway, OrganizationsUnavailable
from keywatch.cli.simulator import HOME_ACCOUNT, HOME_REGION, SIM_ROLE
from keywatch.config import Settings
from keywatch.runtime import build_watchdog
from keywatch.sweep import Sweeper
from support import FakeLambdaContext, sqs_record
from sweep_support import FailingClients, Sim, load_function

A, B, C = "111122223333", "444455556666", "777788889999"
R1, R2 = "us-east-1", "eu-west-1"
KEYS = ["1234abcd-12ab-34cd-56ef-1234567890ab", "0987dcba-09fe-87dc-65ba-ab0987654321"]

FLEET = {
    "accounts": [
        {
            "id": account,
            "regions": {
                region: {
                    "keys": [{"id": KEYS[0]}, {"id": KEYS[1], "state": "Disabled"}],
                    "file_systems": [{"name": "ok", "key": KEYS[0]}, {"name": "broken", "key": KEYS[1]}],
                }
                for region in (R1, R2)
            },
        }
        for account in (A, B, C)
    ]
}


def Context(function_name: str = "keywatch-sweep") -> FakeLambdaContext:
    return FakeLambdaContext(
        function_name=function_name,
        invoked_function_arn=f"arn:aws:lambda:{HOME_REGION}:{HOME_ACCOUNT}:function:{function_name}",
    )


SCHEDULED = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": HOME_ACCOUNT,
    "time": "2025-03-01T06:00:00Z",
    "region": HOME_REGION,
    "resources": [f"arn:aws:events:{HOME_REGION}:{HOME_ACCOUNT}:rule/keywatch-sweep"],
    "detail": {},
}


@pytest.fixture
def lambda_env(sim: Callable[..., Sim], monkeypatch: pytest.MonkeyPatch) -> tuple[Sim, str]:
    """The estate, its queue, and the environment the template gives both functions."""
    s = sim(FLEET)
    sqs = s.estate.clients.home_client("sqs", HOME_REGION)
    queue_url = sqs.create_queue(QueueName="keywatch-sweep")["QueueUrl"]
    settings = s.watchdog.settings
    for name, value in {
        "KEYWATCH_SWEEP_QUEUE_URL": queue_url,
        "KEYWATCH_ACCOUNTS": ",".join(settings.accounts),
        "KEYWATCH_REGIONS": f"{R1},{R2}",
        "KEYWATCH_READ_ROLE": SIM_ROLE,
        "KEYWATCH_WRITE_ROLE": SIM_ROLE,
        "KEYWATCH_TOPIC_ARN": settings.topic_arn or "",
        "KEYWATCH_INCIDENTS_TABLE": settings.incidents_table or "",
    }.items():
        monkeypatch.setenv(name, value)
    return s, queue_url


def drain(s: Sim, queue_url: str) -> list[dict[str, Any]]:
    """Receive every message, as the event source mapping would hand them to the worker."""
    sqs = s.estate.clients.home_client("sqs", HOME_REGION)
    records: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        records += [sqs_record(m["Body"], m["MessageId"]) for m in batch]
    return records


def test_given_the_schedule_when_the_sweep_fans_out_then_one_message_per_account_and_region(
    lambda_env: tuple[Sim, str],
) -> None:
    s, queue_url = lambda_env
    app = load_function("sweep")

    plan = app.lambda_handler(SCHEDULED, Context())

    assert plan["messages"] == 6 and plan["account_source"] == "settings" and plan["sweep_id"] == "sweep-2025-03-01"
    bodies = [json.loads(r["body"]) for r in drain(s, queue_url)]
    assert sorted((b["account"], b["region"]) for b in bodies) == sorted((a, r) for a in (A, B, C) for r in (R1, R2))
    assert {b["sweep_id"] for b in bodies} == {"sweep-2025-03-01"}


def test_given_fanned_out_messages_when_the_worker_runs_then_every_target_is_swept(lambda_env: tuple[Sim, str]) -> None:
    s, queue_url = lambda_env
    load_function("sweep").lambda_handler(SCHEDULED, Context())
    worker = load_function("sweep_worker")

    response = worker.lambda_handler({"Records": drain(s, queue_url)}, Context(function_name="keywatch-sweep-worker"))

    assert response == {"batchItemFailures": []}
    incidents = [i for i in worker.sweeper().watchdog.incidents.list_all() if i["status"] == "open"]
    assert sorted((i["pk"].split(":")[4], i["pk"].split(":")[3]) for i in incidents) == sorted(
        (a, r) for a in (A, B, C) for r in (R1, R2)
    )  # the Disabled key of each account and Region


def test_given_an_account_that_denies_and_a_bad_message_when_the_worker_runs_then_only_those_fail(
    lambda_env: tuple[Sim, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s, queue_url = lambda_env
    load_function("sweep").lambda_handler(SCHEDULED, Context())
    records = drain(s, queue_url)
    records.append(sqs_record('{"account": "not-an-account", "region": "us-east-1"}', "poison"))
    worker = load_function("sweep_worker")
    failing = Sweeper(build_watchdog(Settings.from_env(), FailingClients(deny={B})))
    monkeypatch.setattr(worker, "sweeper", lambda: failing)

    response = worker.lambda_handler({"Records": records}, Context(function_name="keywatch-sweep-worker"))

    denied = {r["messageId"] for r in records if json.loads(r["body"]).get("account") == B}
    assert len(denied) == 2
    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == denied | {"poison"}
    opened = {i["pk"].split(":")[4] for i in failing.watchdog.incidents.list_all()}
    assert opened == {A, C}  # the other accounts were swept


def test_given_an_organization_when_accounts_are_listed_then_only_active_ones(sim: Callable[..., Sim]) -> None:
    s = sim(FLEET)
    org = s.estate.clients.home_client("organizations", HOME_REGION)
    org.create_organization(FeatureSet="ALL")
    created = [
        org.create_account(Email=f"team{i}@example.com", AccountName=f"team{i}")["CreateAccountStatus"]["AccountId"]
        for i in range(3)
    ]
    org.close_account(AccountId=created[1])

    accounts = OrganizationsGateway(s.estate.clients).active_accounts()

    assert set(accounts) == {HOME_ACCOUNT, created[0], created[2]}
    assert s.estate.clients.calls["organizations:ListAccounts"] >= 1


def test_given_no_organization_when_accounts_are_listed_then_it_is_unavailable(sim: Callable[..., Sim]) -> None:
    from keywatch.fanout import resolve_accounts

    s = sim(FLEET)
    with pytest.raises(OrganizationsUnavailable):
        OrganizationsGateway(s.estate.clients).active_accounts()
    no_accounts = s.watchdog.settings.model_copy(update={"accounts": []})
    assert resolve_accounts(no_accounts, s.estate.clients) == ([HOME_ACCOUNT], "home")
    assert resolve_accounts(no_accounts, s.estate.clients, [B]) == ([B], "list")


def test_given_an_organization_when_the_sweep_fans_out_then_its_active_accounts_get_messages(
    lambda_env: tuple[Sim, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s, queue_url = lambda_env
    monkeypatch.delenv("KEYWATCH_ACCOUNTS")
    org = s.estate.clients.home_client("organizations", HOME_REGION)
    org.create_organization(FeatureSet="ALL")
    member = org.create_account(Email="a@example.com", AccountName="a")["CreateAccountStatus"]["AccountId"]

    plan = load_function("sweep").lambda_handler(SCHEDULED, Context())

    assert plan["account_source"] == "organizations" and set(plan["accounts"]) == {HOME_ACCOUNT, member}
    assert len(drain(s, queue_url)) == 4


@pytest.mark.parametrize("account", ["\u0663" * 12, "111122223333\n", "\uff11" * 12])
def test_given_a_target_whose_account_is_not_twelve_ascii_digits_when_read_then_it_is_refused(account: str) -> None:
    from keywatch.fanout import SweepTarget
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        SweepTarget.model_validate_json(json.dumps({"account": account, "region": "us-east-1"}))
