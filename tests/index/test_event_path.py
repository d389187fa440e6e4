"""The event path across an organisation: the index names the candidates, each is confirmed live, the key's own
account and Region are listed live, and the cost does not grow with the number of accounts."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from index_support import (
    KEY_ACCOUNT,
    KEY_ARN,
    REGION,
    USERS,
    disable_key,
    handle,
    new_container,
    organisation,
    sweep,
)
from keywatch.adapters.aws import AccountAccessError, AwsClients
from keywatch.adapters.index import DynamoKeyIndex
from keywatch.cli.simulator import INDEX_TABLE, SIM_ROLE, Estate, Fleet, simulated_aws
from keywatch.fanout import targets_for
from keywatch.models import Outcome
from keywatch.sweep import Sweeper

ON_THE_KEY = sorted(["central-home", *(f"user{i}-{x}" for i in range(3) for x in "ab")])


def swept_organisation(make_estate: Callable[..., Any], bystanders: int) -> Any:
    estate = make_estate(organisation(bystanders), index=False)
    report = sweep(estate)
    assert report.summary.errors == []
    return estate


def test_given_a_swept_organisation_when_the_central_key_is_disabled_then_every_file_system_on_it_and_none_else(
    make_estate: Callable[..., Any],
) -> None:
    estate = swept_organisation(make_estate, bystanders=4)

    handled = handle(estate, disable_key())

    assert handled.result.outcome == Outcome.ALERT
    assert handled.names == ON_THE_KEY
    assert {fs.account for fs in handled.result.affected} == {KEY_ACCOUNT, *USERS}
    assert handled.result.reason.endswith("will lose access after a period of time.")  # nothing to add
    assert handled.calls["sts:AssumeRole"] == 1 + len(USERS)  # the key's account and the three users: no bystander


def test_given_organisations_of_growing_size_when_one_event_is_handled_then_its_calls_stay_the_same() -> None:
    counted = {}
    for bystanders in (2, 9):
        with simulated_aws():  # a fresh simulated AWS for each organisation
            estate = Estate.build(Fleet.model_validate(organisation(bystanders)), index=False)
            assert sweep(estate).summary.errors == []
            handled = handle(estate, disable_key())
        assert handled.names == ON_THE_KEY
        counted[bystanders] = dict(sorted(handled.calls.items()))

    assert counted[2] == counted[9]
    calls = counted[2]
    # one Query on the key and one on the Region's sweep markers; one page for the key's own account;
    # one confirmation per candidate elsewhere; a role session per account holding a candidate
    assert calls["dynamodb:Query"] == 2
    assert calls["efs:DescribeFileSystems"] == 1 + 2 * len(USERS)
    assert calls["sts:AssumeRole"] == 1 + len(USERS)


def test_given_a_file_system_created_after_the_sweep_in_the_keys_account_when_the_key_is_disabled_then_it_is_found(
    make_estate: Callable[..., Any],
) -> None:
    estate = swept_organisation(make_estate, bystanders=2)
    efs = estate.clients.client("efs", KEY_ACCOUNT, REGION, "write")
    created = efs.create_file_system(
        CreationToken="fresh", Encrypted=True, KmsKeyId=KEY_ARN, Tags=[{"Key": "Name", "Value": "fresh"}]
    )["FileSystemId"]

    handled = handle(estate, disable_key())

    assert handled.names == sorted([*ON_THE_KEY, "fresh"])
    assert created in {fs.file_system_id for fs in handled.result.affected}


def test_given_a_file_system_deleted_after_the_sweep_in_another_account_when_the_key_is_disabled_then_not_listed(
    make_estate: Callable[..., Any],
) -> None:
    estate = swept_organisation(make_estate, bystanders=2)
    gone = estate.file_system_ids[(USERS[1], REGION, "user1-a")]
    efs = estate.clients.client("efs", USERS[1], REGION, "write")
    for mt in efs.describe_mount_targets(FileSystemId=gone)["MountTargets"]:
        efs.delete_mount_target(MountTargetId=mt["MountTargetId"])
    efs.delete_file_system(FileSystemId=gone)

    handled = handle(estate, disable_key())

    assert handled.names == [n for n in ON_THE_KEY if n != "user1-a"]
    assert handled.calls["efs:DescribeFileSystems"] == 1 + 2 * len(USERS)  # it was still asked about, once


def test_given_an_organisation_with_no_account_list_when_the_key_is_disabled_then_the_index_still_finds_them_all(
    make_estate: Callable[..., Any],
) -> None:
    estate = swept_organisation(make_estate, bystanders=2)

    handled = handle(estate, disable_key(), accounts=[])  # OrganizationId set, MemberAccounts empty

    assert handled.names == ON_THE_KEY


def test_given_an_index_never_filled_when_the_key_is_disabled_then_the_result_says_so_and_the_accounts_are_listed(
    make_estate: Callable[..., Any],
) -> None:
    estate = make_estate(organisation(bystanders=2), index=False)
    accounts = estate.fleet.account_ids

    handled = handle(estate, disable_key())

    assert handled.names == ON_THE_KEY
    assert "index holds no completed sweep of us-east-1 yet" in handled.result.reason
    assert f"the {len(accounts) - 1} configured accounts instead" in handled.result.reason
    assert handled.calls["efs:DescribeFileSystems"] == len(accounts)  # every configured account, one page each


def test_given_an_index_never_filled_and_no_account_list_when_the_key_is_disabled_then_only_its_own_account(
    make_estate: Callable[..., Any],
) -> None:
    estate = make_estate(organisation(bystanders=1), index=False)

    handled = handle(estate, disable_key(), accounts=[])

    assert handled.names == ["central-home"]
    assert "listed only the key's own account" in handled.result.reason


def test_given_an_index_that_cannot_be_read_when_the_key_is_disabled_then_the_alert_still_goes_out_from_a_listing(
    make_estate: Callable[..., Any],
) -> None:
    estate = swept_organisation(make_estate, bystanders=1)
    estate.clients.home_client("dynamodb", REGION).delete_table(TableName=INDEX_TABLE)

    handled = handle(estate, disable_key())

    assert handled.result.outcome == Outcome.ALERT
    assert handled.names == ON_THE_KEY
    assert "index could not be read" in handled.result.reason
    assert [n.status for n in handled.result.notifications if n.channel == "sns"] == ["sent"]


def test_given_a_configured_account_the_sweep_never_reached_when_the_key_is_disabled_then_it_is_listed_live(
    make_estate: Callable[..., Any],
) -> None:
    estate = make_estate(organisation(bystanders=1), index=False)
    not_swept = USERS[2]
    sweeper = Sweeper(new_container(estate))
    sweeper.run(targets_for([a for a in estate.fleet.account_ids if a != not_swept], [REGION]))

    handled = handle(estate, disable_key())

    assert handled.names == ON_THE_KEY
    assert handled.calls["efs:DescribeFileSystems"] == 1 + 2 * 2 + 1  # own page, 4 confirmations, one listing


def test_given_a_candidate_account_that_denies_the_role_when_the_key_is_disabled_then_the_reason_says_what_is_missing(
    make_estate: Callable[..., Any], monkeypatch: Any
) -> None:
    estate = swept_organisation(make_estate, bystanders=1)
    original = AwsClients.client

    def client(self: AwsClients, service: str, account: str, region: str, purpose: Any = "read") -> Any:
        if account == USERS[0]:
            raise AccountAccessError(f"cannot assume arn:aws:iam::{account}:role/{SIM_ROLE}: AccessDenied")
        return original(self, service, account, region, purpose)

    monkeypatch.setattr(AwsClients, "client", client)

    handled = handle(estate, disable_key())

    assert handled.names == [n for n in ON_THE_KEY if not n.startswith("user0-")]
    assert f"2 file systems the index lists on this key in {USERS[0]} could not be confirmed" in handled.result.reason


def test_given_the_index_when_the_sweep_fills_it_then_each_file_system_on_a_customer_key_is_one_entry(
    make_estate: Callable[..., Any],
) -> None:
    estate = make_estate(organisation(bystanders=2), index=False)

    report = sweep(estate, sweep_schedule="rate(12 hours)")

    entries, markers = DynamoKeyIndex(estate.clients, INDEX_TABLE, REGION).contents()
    on_key = [e for e in entries if e.key_arn == KEY_ARN.lower()]
    assert sorted(e.name or "" for e in on_key) == ON_THE_KEY
    assert report.summary.indexed == len(entries) == 7 + 2 * 2  # the plain file systems are not indexed
    assert {(m.account, m.region) for m in markers} == {(a, REGION) for a in estate.fleet.account_ids}
    user = next(e for e in on_key if e.name == "user0-b")
    assert (user.account, user.policy.value, user.mount_targets) == (USERS[0], "unmount", 0)
    assert user.seen_by == report.summary.sweep_id
    assert math.isclose(user.expires_at - user.last_seen.timestamp(), 24 * 3600, abs_tol=1)  # two intervals
