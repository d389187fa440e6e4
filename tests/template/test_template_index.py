"""The key-to-file-system index in the template: the table the code expects, encrypted, recoverable, expiring,
and reachable by its readers and writers only (keywatch.adapters.index, keywatch.sweep.index)."""

from __future__ import annotations

from typing import Any

from template_support import as_list, ref_name, resources
from test_iam import actions_of, function_policies, statements


def index_table(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"]["KeyIndexTable"]["Properties"])


def test_given_the_index_table_when_compared_with_the_code_then_keys_and_the_file_system_index_match(
    template: dict[str, Any],
) -> None:
    from keywatch.adapters.index import BY_FILE_SYSTEM
    from keywatch.cli.simulator import create_index_table

    made: dict[str, Any] = {}

    class Recorder:
        def create_table(self, **kwargs: Any) -> None:
            made.update(kwargs)

    create_index_table(Recorder(), "keywatch-index")
    table = index_table(template)

    assert table["KeySchema"] == made["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(made["AttributeDefinitions"], key=str)
    [gsi] = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == BY_FILE_SYSTEM
    assert gsi["KeySchema"] == made["GlobalSecondaryIndexes"][0]["KeySchema"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"


def test_given_the_index_table_when_read_then_it_is_encrypted_recoverable_and_expires_entries_by_ttl(
    template: dict[str, Any],
) -> None:
    table = index_table(template)

    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_given_the_functions_when_configured_then_they_know_the_index_and_the_schedule_its_ttl_comes_from(
    template: dict[str, Any],
) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]

    assert ref_name(env["KEYWATCH_INDEX_TABLE"]) == "KeyIndexTable"
    assert ref_name(env["KEYWATCH_SWEEP_SCHEDULE"]) == "SweepSchedule"


def test_given_the_index_policy_when_read_then_it_reaches_the_index_table_and_nothing_else(
    template: dict[str, Any],
) -> None:
    document = template["Resources"]["IndexPolicy"]["Properties"]["PolicyDocument"]
    targets = set()
    for statement in statements(document):
        for resource in as_list(statement["Resource"]):
            if isinstance(resource, dict) and "Fn::Sub" in resource:
                assert resource["Fn::Sub"] == "${KeyIndexTable.Arn}/index/by-file-system"
                targets.add("KeyIndexTable")
            else:
                targets.add(ref_name(resource))

    assert targets == {"KeyIndexTable"}


def test_given_every_policy_when_read_then_only_the_index_policy_grants_anything_on_the_index_table(
    template: dict[str, Any],
) -> None:
    for name, policy in resources(template, "AWS::IAM::ManagedPolicy").items():
        if name == "IndexPolicy":
            continue
        for statement in statements(policy["Properties"]["PolicyDocument"]):
            for resource in as_list(statement.get("Resource", [])):
                assert "KeyIndexTable" not in str(resource), f"{name} reaches the index table"


def test_given_the_functions_when_their_roles_are_read_then_the_key_events_and_the_sweep_worker_use_the_index(
    template: dict[str, Any],
) -> None:
    using = {
        function
        for function in resources(template, "AWS::Serverless::Function")
        if "IndexPolicy" in function_policies(template, function)
    }

    assert using == {"KeyEventsFunction", "SweepWorkerFunction"}
    granted = actions_of(template["Resources"]["IndexPolicy"]["Properties"]["PolicyDocument"])
    assert "dynamodb:Scan" not in granted  # `keywatch index --aws` scans with an operator's credentials
