"""keywatch never changes network interfaces itself: EFS does, with keywatch's credentials.

DeleteMountTarget and CreateMountTarget make EFS check ec2:DeleteNetworkInterface and
ec2:CreateNetworkInterface against the caller, as a forward access session. Granted without a
condition, the remediation role could delete any network interface in the account (load balancers,
NAT gateways, Lambda in a VPC). aws:ViaAWSService limits both to calls EFS makes on keywatch's behalf.
"""

from __future__ import annotations

from typing import Any

import pytest
from template_support import as_list

NETWORK_INTERFACE_ACTIONS = {"ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface"}


def network_interface_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, res in template["Resources"].items():
        props = res.get("Properties", {})
        documents = []
        if res["Type"] == "AWS::IAM::ManagedPolicy":
            documents.append(props["PolicyDocument"])
        elif res["Type"] == "AWS::IAM::Role":
            documents += [p["PolicyDocument"] for p in as_list(props.get("Policies", []))]
        for document in documents:
            for statement in as_list(document.get("Statement", [])):
                if NETWORK_INTERFACE_ACTIONS & set(as_list(statement.get("Action", []))):
                    found.append((name, statement))
    return found


@pytest.mark.parametrize("which", ["template", "member_template"])
def test_network_interface_changes_only_through_efs(which: str, request: pytest.FixtureRequest) -> None:
    found = network_interface_statements(request.getfixturevalue(which))
    assert found, "the remediation scope needs ec2:CreateNetworkInterface and ec2:DeleteNetworkInterface"
    for name, statement in found:
        assert statement.get("Effect") == "Allow"
        condition = statement.get("Condition", {})
        assert condition.get("Bool", {}).get("aws:ViaAWSService") == "true", (
            f"{name}: {sorted(NETWORK_INTERFACE_ACTIONS)} must be limited to calls EFS makes (aws:ViaAWSService)"
        )
