"""The real Lambda handler (functions/key_events/app.py) on the simulated estate, configured as it is deployed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from keywatch.cli.simulator import HOME_ACCOUNT, HOME_REGION, IDEMPOTENCY_TABLE, INCIDENTS_TABLE, SIM_ROLE
from keywatch.parse import InvalidEvent, parse_event
from support import FakeLambdaContext, load_function

KEY_ACCOUNT = "111122223333"
PARTNER = "444455556666"
APP_ARN = f"arn:aws:kms:us-east-1:{KEY_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
RESULT_KEYS = {
    "event_id",
    "event_name",
    "key_arn",
    "key_state",
    "outcome",
    "severity",
    "reason",
    "affected",
    "actions",
    "key_state_after",
    "notifications",
}


BACKUP_GRANT = "0ab0ac0d0b000f00ea00cc0a0e00fc00bce000c000f0000000c0bc0a0000aaafSAMPLE"  # 06_retire_grant.json's
APP_HOME_GRANT = "2cd2ce2f2d222f22fc22ee2c2f22fe22def222e222f2222222e2de2c2222cccfSAMPLE"  # 08_revoke_grant.json's

# The demo estate's keys and file systems (so the samples match), without mount targets: quicker to build.
FLEET = {
    "accounts": [
        {
            "id": KEY_ACCOUNT,
            "regions": {
                "us-east-1": {
                    "keys": [
                        {
                            "id": "1234abcd-12ab-34cd-56ef-1234567890ab",
                            "aliases": ["alias/app"],
                            "grants": [
                                {"id": BACKUP_GRANT, "grantee": "backup.amazonaws.com", "operations": ["Decrypt"]}
                            ],
                        },
                        {"id": "0987dcba-09fe-87dc-65ba-ab0987654321", "aliases": ["alias/billing"]},
                        {
                            "id": "mrk-1234abcd12ab34cd56ef1234567890ab",
                            "aliases": ["alias/global"],
                            "multi_region": True,
                        },
                        {
                            "id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                            "aliases": ["alias/imported"],
                            "origin": "EXTERNAL",
                        },
                        {
                            "id": "4c5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e7f",
                            "aliases": ["alias/legacy"],
                            "state": "PendingDeletion",
                            "pending_window_days": 7,
                        },
                        {"id": "9f8e7d6c-5b4a-4392-8a1b-0c9d8e7f6a5b", "aliases": ["alias/unused"]},
                    ],
                    "file_systems": [
                        {"name": "app-shared", "key": "alias/app", "tags": {"keywatch:on-key-loss": "unmount"}},
                        {
                            "name": "app-home",
                            "key": "1234abcd-12ab-34cd-56ef-1234567890ab",
                            "tags": {"keywatch:on-key-loss": "protect"},
                            "grant_id": APP_HOME_GRANT,
                        },
                        {
                            "name": "billing-reports",
                            "key": "alias/billing",
                            "tags": {"keywatch:on-key-loss": "protect"},
                        },
                        {"name": "media-assets", "key": "alias/global"},
                        {"name": "secrets-vault", "key": "alias/imported"},
                        {"name": "legacy-archive", "key": "alias/legacy"},
                        {"name": "scratch", "encrypted": False},
                    ],
                }
            },
        },
        {"id": PARTNER, "regions": {"us-east-1": {"file_systems": [{"name": "partner-share", "key": APP_ARN}]}}},
    ]
}


@pytest.fixture
def estate(make_estate: Callable[..., Any]) -> Any:
    return make_estate(FLEET)


@pytest.fixture
def deployed(estate: Any, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The handler module with the environment the template gives it, pointed at the demo estate."""
    monkeypatch.setenv("KEYWATCH_TOPIC_ARN", estate.topic_arn)
    monkeypatch.setenv("KEYWATCH_ACCOUNTS", f"{KEY_ACCOUNT},{PARTNER}")
    monkeypatch.setenv("KEYWATCH_READ_ROLE", SIM_ROLE)
    monkeypatch.setenv("KEYWATCH_WRITE_ROLE", SIM_ROLE)
    monkeypatch.setenv("KEYWATCH_INCIDENTS_TABLE", INCIDENTS_TABLE)
    monkeypatch.setenv("KEYWATCH_IDEMPOTENCY_TABLE", IDEMPOTENCY_TABLE)
    monkeypatch.setenv("KEYWATCH_MODE", "notify")
    for name in ("KEYWATCH_SLACK_SECRET", "KEYWATCH_OWN_ROLE_ARNS", "KEYWATCH_REGIONS"):
        monkeypatch.delenv(name, raising=False)
    module = load_function("key_events")
    module.watchdog.cache_clear()
    yield module
    module.watchdog.cache_clear()


@pytest.fixture
def invoke(deployed: Any, estate: Any) -> Callable[..., dict[str, Any]]:
    """Apply the event to the estate (as AWS already has when it arrives), then invoke the handler."""
    count = 0

    def call(raw: dict[str, Any], apply: bool = True) -> dict[str, Any]:
        nonlocal count
        count += 1
        if apply:
            estate.apply(parse_event(raw))
        context = FakeLambdaContext(aws_request_id=f"00000000-0000-4000-8000-{count:012d}")
        return deployed.lambda_handler(raw, context)

    return call


def published(estate: Any) -> list[dict[str, Any]]:
    """What the alert topic received, read back from moto's SNS backend in the home account."""
    from moto.sns.models import sns_backends

    topic = sns_backends[HOME_ACCOUNT][HOME_REGION].topics[estate.topic_arn]
    return [{"message": m[1], "subject": m[2], "attributes": m[3]} for m in topic.sent_notifications]


def test_given_a_disable_key_event_when_the_handler_runs_then_it_returns_the_report_of_a_high_alert(
    invoke: Callable[..., dict[str, Any]], event: Callable[[str], dict[str, Any]], estate: Any
) -> None:
    report = invoke(event("disable_key"))

    assert set(report) == RESULT_KEYS
    json.dumps(report)  # the Lambda's return value must serialise as it is
    assert (report["outcome"], report["severity"], report["key_state"]) == ("alert", "high", "Disabled")
    assert report["key_arn"] == APP_ARN
    assert {(fs["name"], fs["account"]) for fs in report["affected"]} == {
        ("app-shared", KEY_ACCOUNT),
        ("app-home", KEY_ACCOUNT),
        ("partner-share", PARTNER),
    }
    assert report["actions"] == []  # notify mode
    assert [n["status"] for n in report["notifications"] if n["channel"] == "sns"] == ["sent"]
    [alert] = published(estate)
    assert "HIGH" in alert["subject"]


def test_given_the_handler_runs_as_the_home_account_when_keys_live_elsewhere_then_it_enters_them_by_role(
    invoke: Callable[..., dict[str, Any]], event: Callable[[str], dict[str, Any]], deployed: Any
) -> None:
    invoke(event("disable_key"))

    clients = deployed.watchdog().clients
    assert clients.home_account == HOME_ACCOUNT
    assert clients.calls["sts:AssumeRole"] == 2  # into the key's account and the partner's, once each
    assert clients.calls["kms:DescribeKey"] == 1


@pytest.mark.parametrize(
    ("sample", "outcome", "severity", "state"),
    [
        ("schedule_key_deletion", "alert", "critical", "PendingDeletion"),
        ("schedule_key_deletion_multi_region", "alert", "critical", "PendingReplicaDeletion"),
        ("revoke_grant", "alert", "high", "Enabled"),  # app-home's EFS grant
        ("delete_imported_key_material", "alert", "critical", "PendingImport"),
        ("kms_cmk_deletion", "alert", "critical", "Deleted"),
        ("kms_imported_key_material_expiration", "alert", "critical", "PendingImport"),
    ],
)
def test_given_a_sample_loss_event_when_the_handler_runs_then_outcome_severity_and_live_state_are_reported(
    invoke: Callable[..., dict[str, Any]],
    event: Callable[[str], dict[str, Any]],
    sample: str,
    outcome: str,
    severity: str,
    state: str,
) -> None:
    report = invoke(event(sample))

    assert (report["outcome"], report["severity"], report["key_state"]) == (outcome, severity, state)
    assert report["affected"], "every loss sample hits a file system of the demo estate"


@pytest.mark.parametrize(
    "sample",
    [
        "disable_key_failed",
        "retire_grant_by_efs",
        "retire_grant_by_efs_account",
        "retire_grant",  # AWS Backup retires its own grant: every file system keeps its EFS grant
        "disable_unused_key",
        "import_key_material_rotation",
    ],
)
def test_given_an_event_to_ignore_when_the_handler_runs_then_ignored_and_nothing_published(
    invoke: Callable[..., dict[str, Any]], event: Callable[[str], dict[str, Any]], estate: Any, sample: str
) -> None:
    report = invoke(event(sample))

    assert (report["outcome"], report["severity"], report["affected"]) == ("ignored", None, [])
    assert published(estate) == []


def test_given_eventbridge_delivers_the_same_event_twice_when_handled_then_the_second_is_a_duplicate(
    invoke: Callable[..., dict[str, Any]], event: Callable[[str], dict[str, Any]], estate: Any
) -> None:
    first = invoke(event("disable_key"))
    again = invoke(event("disable_key"), apply=False)

    assert (first["outcome"], again["outcome"]) == ("alert", "duplicate")
    assert again["event_id"] == first["event_id"]
    assert len(published(estate)) == 1


def test_given_a_new_container_when_the_same_event_is_redelivered_then_the_idempotency_table_remembers_it(
    invoke: Callable[..., dict[str, Any]], event: Callable[[str], dict[str, Any]], deployed: Any, estate: Any
) -> None:
    invoke(event("disable_key"))
    deployed.watchdog.cache_clear()  # a cold start: nothing in memory survives

    again = invoke(event("disable_key"), apply=False)

    assert again["outcome"] == "duplicate"
    assert len(published(estate)) == 1


def test_given_an_envelope_delivered_without_account_when_handled_then_it_is_handled_the_same(
    invoke: Callable[..., dict[str, Any]], event: Callable[[str], dict[str, Any]]
) -> None:
    raw = event("kms_cmk_deletion")
    del raw["account"]

    report = invoke(raw)

    assert (report["outcome"], report["key_state"]) == ("alert", "Deleted")
    assert [fs["name"] for fs in report["affected"]] == ["legacy-archive"]


def test_given_dry_run_mode_in_the_environment_when_a_protected_key_is_disabled_then_actions_are_planned(
    invoke: Callable[..., dict[str, Any]],
    event: Callable[[str], dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    deployed: Any,
) -> None:
    monkeypatch.setenv("KEYWATCH_MODE", "dry-run")
    deployed.watchdog.cache_clear()

    report = invoke(event("disable_key"))

    assert [(a["type"], a["target"], a["status"]) for a in report["actions"]] == [("enable_key", APP_ARN, "planned")]
    assert report["key_state_after"] == "Disabled"  # nothing was changed


def test_given_enforce_mode_when_a_protected_key_is_scheduled_for_deletion_then_it_is_cancelled_and_enabled(
    invoke: Callable[..., dict[str, Any]],
    event: Callable[[str], dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    deployed: Any,
    estate: Any,
) -> None:
    monkeypatch.setenv("KEYWATCH_MODE", "enforce")
    deployed.watchdog.cache_clear()

    report = invoke(event("schedule_key_deletion"))

    assert [(a["type"], a["status"]) for a in report["actions"]] == [
        ("cancel_key_deletion", "done"),
        ("enable_key", "done"),
    ]
    assert report["key_state_after"] == "Enabled"
    kms = estate.clients.client("kms", KEY_ACCOUNT, "us-east-1")
    assert kms.describe_key(KeyId="0987dcba-09fe-87dc-65ba-ab0987654321")["KeyMetadata"]["KeyState"] == "Enabled"


def test_given_an_event_that_is_not_an_eventbridge_envelope_when_handled_then_it_raises_for_the_dlq(
    deployed: Any,
) -> None:
    with pytest.raises(InvalidEvent) as caught:  # the invocation fails: retried, then the dead-letter queue
        deployed.lambda_handler({"hello": "world"}, FakeLambdaContext())
    # in words (keywatch/validation.py), one line: what is missing, not pydantic's "Field required"
    assert str(caught.value).startswith("id is missing") and "\n" not in str(caught.value)


def test_given_a_malformed_account_list_when_the_handler_starts_then_it_refuses_to_run(
    deployed: Any, event: Callable[[str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from keywatch.config import ConfigError

    monkeypatch.setenv("KEYWATCH_ACCOUNTS", "1111-2222")
    deployed.watchdog.cache_clear()

    with pytest.raises(ConfigError, match="KEYWATCH_ACCOUNTS"):
        deployed.lambda_handler(event("disable_key"), FakeLambdaContext())
