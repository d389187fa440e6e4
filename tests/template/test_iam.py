"""The template grants exactly the IAM actions the code declares (keywatch.iam), scoped.

- Each managed policy in template.yaml is one scope of keywatch.iam; it grants exactly that scope's actions.
- The functions' roles together grant exactly what the code declares, both ways.
- The member account's roles grant the read and remediate scopes.
- Nothing that changes anything (any action but Describe*, List*, Get*) is allowed on "*" without a Condition.

Not checked here, because SAM adds them when it transforms the template: AWSLambdaBasicExecutionRole
(logs), AWSXrayWriteOnlyAccess (Tracing: Active), AWSLambdaSQSQueueExecutionRole (the SQS event source
of SweepWorkerFunction polls SweepQueue: sqs:ReceiveMessage, DeleteMessage, GetQueueAttributes), and
sqs:SendMessage on the OnFailure destination of EventInvokeConfig. None of them is the code's doing.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from typing import Any

import pytest
from template_support import as_list, ref_name, resources

POLICY_SCOPES = {
    "ReadPolicy": "read",
    "RemediatePolicy": "remediate",
    "NotifyPolicy": "notify",
    "StatePolicy": "state",
    "SweepPolicy": "sweep",
    "IndexPolicy": "index",
    "ApprovePolicy": "approve",
    "HandoffPolicy": "handoff",
}
FUNCTION_SCOPES = {
    "KeyEventsFunction": {"read", "remediate", "notify", "state", "index", "handoff"},
    "RemediationWorkerFunction": {"read", "remediate", "state"},  # runs handed-off actions, records them
    "SweepWorkerFunction": {"read", "remediate", "notify", "state", "index"},  # responds through the engine
    "SweepFunction": {"sweep"},
    # approve mode: the endpoint runs quick approved actions itself and queues the rest for the worker
    "SlackActionsFunction": {"read", "remediate", "notify", "state", "approve"},
    "ApprovedActionsFunction": {"read", "remediate", "notify", "state"},
}
READ_ONLY_PREFIXES = ("Describe", "List", "Get")


def declared() -> dict[str, frozenset[str]]:
    """Every module of the package imported, so that every @needs is registered, then keywatch.iam.by_scope()."""
    import keywatch
    from keywatch import iam

    for module in pkgutil.walk_packages(keywatch.__path__, "keywatch."):
        importlib.import_module(module.name)
    return iam.by_scope()


def statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every statement a document can hold: both sides of each Fn::If."""
    yield from as_list(document.get("Statement", []))


def actions_of(document: dict[str, Any]) -> set[str]:
    return {a for s in statements(document) if s.get("Effect") == "Allow" for a in as_list(s["Action"])}


def function_policies(template: dict[str, Any], function: str) -> list[str]:
    """The managed policies a function's role gets. Anything else in Policies fails the test."""
    names = []
    for item in as_list(template["Resources"][function]["Properties"].get("Policies", [])):
        name = ref_name(item)
        assert name and template["Resources"].get(name, {}).get("Type") == "AWS::IAM::ManagedPolicy", (
            f"{function}: grant through the per-scope managed policies only, not {item!r} "
            "(SAM policy templates grant more than the code needs)"
        )
        names.append(name)
    return names


def identity_documents(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, res in template["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::ManagedPolicy":
            yield name, props["PolicyDocument"]
        elif res["Type"] == "AWS::IAM::Role":
            for policy in as_list(props.get("Policies", [])):
                yield f"{name}/{policy['PolicyName']}", policy["PolicyDocument"]
        elif res["Type"] == "AWS::Serverless::Function":
            for policy in as_list(props.get("Policies", [])):
                if isinstance(policy, dict) and "Statement" in policy:
                    yield name, policy


def test_given_the_code_when_its_permissions_are_collected_then_every_scope_declares_some() -> None:
    scopes = declared()
    assert set(scopes) <= set(POLICY_SCOPES.values()), f"a scope with no policy in the template: {set(scopes)}"
    for scope in ("read", "remediate", "notify", "state"):
        assert scopes.get(scope), f"the code declares no {scope} action"


@pytest.mark.parametrize(("policy", "scope"), POLICY_SCOPES.items())
def test_given_a_scope_policy_when_compared_with_the_code_then_it_grants_exactly_that_scope(
    template: dict[str, Any], policy: str, scope: str
) -> None:
    granted = actions_of(template["Resources"][policy]["Properties"]["PolicyDocument"])
    wanted = set(declared().get(scope, frozenset()))
    assert granted - wanted == set(), f"{policy} grants what no code of scope {scope!r} declares"
    assert wanted - granted == set(), f"{policy} does not grant what scope {scope!r} declares"


def test_given_the_function_roles_when_compared_with_the_code_then_they_agree_both_ways(
    template: dict[str, Any],
) -> None:
    granted: set[str] = set()
    for function in resources(template, "AWS::Serverless::Function"):
        for policy in function_policies(template, function):
            granted |= actions_of(template["Resources"][policy]["Properties"]["PolicyDocument"])
    wanted = {a for actions in declared().values() for a in actions}
    assert granted - wanted == set(), "the template grants actions the code never declares"
    assert wanted - granted == set(), "the code declares actions the template does not grant"


@pytest.mark.parametrize("function", FUNCTION_SCOPES)
def test_given_a_function_when_its_role_is_read_then_it_gets_the_scopes_its_work_needs(
    template: dict[str, Any], function: str
) -> None:
    scopes = {POLICY_SCOPES[p] for p in function_policies(template, function)}
    assert scopes == FUNCTION_SCOPES[function]


def test_given_the_member_roles_when_compared_with_the_code_then_they_grant_read_and_remediate(
    member_template: dict[str, Any],
) -> None:
    scopes = declared()
    roles = resources(member_template, "AWS::IAM::Role")

    def granted(role: str) -> set[str]:
        return {a for p in roles[role]["Properties"]["Policies"] for a in actions_of(p["PolicyDocument"])}

    # sts:AssumeRole is how the central account gets in; a member role has no need to assume further
    assert granted("ReadRole") == set(scopes["read"]) - {"sts:AssumeRole"}
    assert granted("RemediationRole") == set(scopes["remediate"])


@pytest.mark.parametrize("which", ["template", "member_template"])
def test_given_any_identity_policy_when_it_allows_a_change_on_star_then_it_has_a_condition(
    request: pytest.FixtureRequest, which: str
) -> None:
    template = request.getfixturevalue(which)
    loose = []
    for where, document in identity_documents(template):
        for statement in statements(document):
            if statement.get("Effect") != "Allow" or "*" not in as_list(statement.get("Resource", [])):
                continue
            changing = [
                a for a in as_list(statement["Action"]) if not a.split(":", 1)[1].startswith(READ_ONLY_PREFIXES)
            ]
            if changing and not statement.get("Condition"):
                loose.append(f"{where}: {changing}")
            assert "*" not in "".join(as_list(statement["Action"])), f"{where}: wildcard action"
    assert not loose, "changing actions allowed on '*' with no condition:\n" + "\n".join(loose)


def test_given_the_mount_target_actions_when_granted_then_only_on_file_systems_tagged_unmount(
    template: dict[str, Any], member_template: dict[str, Any]
) -> None:
    documents = [d for t in (template, member_template) for _, d in identity_documents(t)]
    found = 0
    for document in documents:
        for statement in statements(document):
            if {"elasticfilesystem:DeleteMountTarget", "elasticfilesystem:CreateMountTarget"} & set(
                as_list(statement["Action"])
            ):
                found += 1
                condition = statement.get("Condition", {})
                tag = {k: v for op in condition.values() for k, v in op.items()}
                assert tag.get("aws:ResourceTag/keywatch:on-key-loss") == "unmount", statement
    assert found == 2, "one statement in the central template, one in the member template"


def test_given_the_member_roles_when_assumed_then_only_the_central_keywatch_roles_are_trusted(
    member_template: dict[str, Any],
) -> None:
    for name, role in resources(member_template, "AWS::IAM::Role").items():
        for statement in statements(role["Properties"]["AssumeRolePolicyDocument"]):
            principal = statement["Principal"]
            if "Service" in principal:
                assert principal["Service"] == "events.amazonaws.com"
                assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
            else:
                # exact ARNs (the central stack's CentralRoleArns output), never a wildcard or a whole account
                assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": {"Ref": "CentralRoleArns"}}}, name
                assert member_template["Parameters"]["CentralRoleArns"]["Type"] == "CommaDelimitedList"
                pattern = member_template["Parameters"]["CentralRoleArns"]["AllowedPattern"]
                assert re.fullmatch(pattern, "arn:aws:iam::123456789012:role/keywatch/*") is None
                assert re.fullmatch(pattern, "arn:aws:iam::123456789012:role/keywatch/kw-KeyEventsRole-1")
