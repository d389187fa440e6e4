"""What the template says about failure paths and least privilege (docs/reliability.md).

- Changing permissions exist only when Mode is enforce (approve: for the approval endpoint and worker only).
- kms:EnableKey and kms:CancelKeyDeletion apply only to keys whose owners opted in (keywatch:protect=true).
- Only keywatch's functions may publish alerts; keywatch's own alarms go to a second topic that does not
  depend on the alert topic, with the alert e-mail subscribed to both.
- Every metric keywatch counts a failure with is alarmed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from template_support import ROOT, as_list, ref_name, resources

REMEDIATING_FUNCTIONS = ("KeyEventsFunction", "SweepWorkerFunction")
KEY_ACTIONS = {"kms:EnableKey", "kms:CancelKeyDeletion"}


def test_given_the_mode_when_it_is_not_enforce_then_no_role_gets_a_changing_permission(
    template: dict[str, Any],
) -> None:
    assert template["Conditions"]["CanChange"] == {"Fn::Equals": [{"Ref": "Mode"}, "enforce"]}
    # it exists in approve mode too, for the approval endpoint and worker only (test_approve_template.py)
    assert template["Resources"]["RemediatePolicy"]["Condition"] == "RemediatePolicyExists"
    assert template["Conditions"]["RemediatePolicyExists"] == {
        "Fn::Or": [{"Condition": "CanChange"}, {"Condition": "IsApprove"}]
    }
    for function in REMEDIATING_FUNCTIONS:
        policies = template["Resources"][function]["Properties"]["Policies"]
        assert {"Fn::If": ["CanChange", {"Ref": "RemediatePolicy"}, {"Ref": "AWS::NoValue"}]} in policies
        assert {"Ref": "RemediatePolicy"} not in policies, f"{function} gets RemediatePolicy in every mode"


@pytest.mark.parametrize("which", ["template", "member_template"])
def test_given_the_key_remediations_when_granted_then_only_on_keys_tagged_keywatch_protect_true(
    request: pytest.FixtureRequest, which: str
) -> None:
    from test_iam import identity_documents, statements

    found = 0
    for _, document in identity_documents(request.getfixturevalue(which)):
        for statement in statements(document):
            if KEY_ACTIONS & set(as_list(statement["Action"])):
                found += 1
                assert statement["Condition"] == {"StringEquals": {"aws:ResourceTag/keywatch:protect": "true"}}
    assert found == 1


def test_given_the_engine_when_a_key_action_is_denied_then_the_tag_it_names_is_the_one_the_policy_checks(
    template: dict[str, Any],
) -> None:
    from keywatch.remediate import KEY_OPT_IN_TAG

    statement = next(
        s
        for s in template["Resources"]["RemediatePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if KEY_ACTIONS & set(as_list(s["Action"]))
    )
    assert f"aws:ResourceTag/{KEY_OPT_IN_TAG}" in statement["Condition"]["StringEquals"]


def test_given_the_alert_topic_when_anyone_but_keywatch_publishes_then_the_topic_policy_denies_it(
    template: dict[str, Any],
) -> None:
    policy = template["Resources"]["AlertTopicPolicy"]["Properties"]
    assert policy["Topics"] == [{"Ref": "AlertTopic"}]
    functions = [
        {"Fn::GetAtt": ["KeyEventsFunctionRole", "Arn"]},
        {"Fn::GetAtt": ["SweepWorkerFunctionRole", "Arn"]},
    ]
    by_sid = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    deny = by_sid["NobodyElsePublishes"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "sns:Publish")
    assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": functions}}
    assert by_sid["KeywatchPublishes"]["Principal"] == {"AWS": functions}
    assert "sns:Publish" not in as_list(by_sid["AccountManagesTheTopic"]["Action"])


def test_given_every_alarm_when_it_fires_then_it_reaches_the_ops_topic_and_never_the_alert_topic(
    template: dict[str, Any],
) -> None:
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 10
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "OpsTopic"}], name


def test_given_the_ops_topic_when_the_alert_path_is_broken_then_nothing_it_needs_is_shared(
    template: dict[str, Any],
) -> None:
    ops = template["Resources"]["OpsTopic"]["Properties"]
    assert ref_name(ops["KmsMasterKeyId"]) == "OpsTopicKey"
    text = repr({k: template["Resources"][k] for k in ("OpsTopic", "OpsTopicKey", "OpsTopicPolicy")})
    assert "AlertTopic" not in text
    emails = {
        ref_name(r["Properties"]["TopicArn"])
        for r in resources(template, "AWS::SNS::Subscription").values()
        if r["Properties"]["Protocol"] == "email" and r["Properties"]["Endpoint"] == {"Ref": "AlertEmail"}
    }
    assert emails == {"AlertTopic", "OpsTopic"}


def counted_failure_metrics() -> set[str]:
    """Every metric the code counts with metrics.add_metric(name="...") or count_delivery/failure."""
    names: set[str] = set()
    for path in Path(ROOT / "layers" / "keywatch").rglob("*.py"):
        names |= set(re.findall(r'add_metric\(name="(\w+)"', path.read_text()))
    names |= {"NotificationFailed"}
    return {n for n in names if n.endswith(("Failed", "NotAllowed", "NotRecorded", "Unavailable", "Incomplete"))}


def test_given_every_failure_metric_the_code_counts_when_read_then_an_alarm_sums_it(
    template: dict[str, Any],
) -> None:
    alarmed = {
        m
        for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
        for q in alarm["Properties"].get("Metrics", [])
        for m in re.findall(r"SUM\((\w+)\)", q.get("Expression", ""))
    }
    # HandlingIncomplete fails the invocation: the KeyEventsErrorsAlarm (AWS/Lambda Errors) counts it
    missing = counted_failure_metrics() - alarmed - {"HandlingIncomplete"}
    assert missing == set(), f"failure metrics with no alarm: {missing}"
    assert "KeyEventsErrorsAlarm" in resources(template, "AWS::CloudWatch::Alarm")


CHANGING_ONLY_IN_ENFORCE = (
    "HandoffPolicy",
    "RemediationQueue",
    "RemediationDeadLetterQueue",
    "RemediationDeadLetterAlarm",
    "RemediationWorkerFunction",
    "RemediationWorkerErrorsAlarm",
    "RemediationWorkerLogGroup",
)


def test_given_the_mode_when_it_is_not_enforce_then_there_is_no_remediation_queue_and_no_worker(
    template: dict[str, Any],
) -> None:
    for name in CHANGING_ONLY_IN_ENFORCE:
        assert template["Resources"][name].get("Condition") == "CanChange", name
    policies = template["Resources"]["KeyEventsFunction"]["Properties"]["Policies"]
    assert {"Fn::If": ["CanChange", {"Ref": "HandoffPolicy"}, {"Ref": "AWS::NoValue"}]} in policies
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["KEYWATCH_REMEDIATION_QUEUE_URL"] == {"Fn::If": ["CanChange", {"Ref": "RemediationQueue"}, ""]}
    for function in ("SweepWorkerFunction", "RemediationWorkerFunction"):  # only the key-event function hands over
        own = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert own["KEYWATCH_REMEDIATION_QUEUE_URL"] == ""


def test_given_the_remediation_queue_when_a_message_keeps_failing_then_it_redrives_and_the_worker_reports_items(
    template: dict[str, Any],
) -> None:
    queue = template["Resources"]["RemediationQueue"]["Properties"]
    assert ref_name(queue["RedrivePolicy"]["deadLetterTargetArn"]) == "RemediationDeadLetterQueue"
    worker = template["Resources"]["RemediationWorkerFunction"]["Properties"]
    source = worker["Events"]["HandedOff"]
    assert source["Type"] == "SQS" and ref_name(source["Properties"]["Queue"]) == "RemediationQueue"
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"], "AWS advises six times the function timeout"
    statement = template["Resources"]["HandoffPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert [(s["Action"], ref_name(s["Resource"])) for s in statement] == [("sqs:SendMessage", "RemediationQueue")]
