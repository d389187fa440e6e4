"""Approve mode in the template: a public function URL authenticated by Slack's signature, a queue with a
dead-letter queue and an alarm, and changing permissions only where the mode is approve."""

from __future__ import annotations

from typing import Any

from template_support import ref_name

APPROVE_ONLY = (
    "SlackActionsFunction",
    "ApprovedActionsFunction",
    "ApprovedActionsQueue",
    "ApprovedActionsDeadLetterQueue",
    "ApprovedActionsDeadLetterAlarm",
    "ApprovePolicy",
)


def test_given_the_endpoint_when_deployed_then_its_url_is_public_and_checkov_s_skip_says_why(
    template: dict[str, Any],
) -> None:
    function = template["Resources"]["SlackActionsFunction"]
    assert function["Properties"]["FunctionUrlConfig"] == {"AuthType": "NONE"}
    skips = {s["id"]: s["comment"] for s in function["Metadata"]["checkov"]["skip"]}
    assert "signature" in skips["CKV_AWS_258"]
    assert function["Properties"]["Timeout"] <= 10, "Slack waits 3 seconds; the endpoint must never linger"


def test_given_approve_mode_when_not_chosen_then_no_endpoint_queue_or_changing_role_exists(
    template: dict[str, Any],
) -> None:
    assert template["Conditions"]["IsApprove"] == {"Fn::Equals": [{"Ref": "Mode"}, "approve"]}
    for name in APPROVE_ONLY:
        assert template["Resources"][name].get("Condition") == "IsApprove", name
    assert "approve" in template["Parameters"]["Mode"]["AllowedValues"]


def test_given_the_approved_action_queue_when_a_message_keeps_failing_then_it_dead_letters_with_an_alarm(
    template: dict[str, Any],
) -> None:
    from keywatch.approvals.worker import MAX_RECEIVES

    queue = template["Resources"]["ApprovedActionsQueue"]["Properties"]
    assert ref_name(queue["RedrivePolicy"]["deadLetterTargetArn"]) == "ApprovedActionsDeadLetterQueue"
    assert queue["RedrivePolicy"]["maxReceiveCount"] == MAX_RECEIVES
    assert queue["VisibilityTimeout"] >= 6 * template["Resources"]["ApprovedActionsFunction"]["Properties"]["Timeout"]
    alarm = template["Resources"]["ApprovedActionsDeadLetterAlarm"]["Properties"]
    assert ref_name(alarm["Dimensions"][0]["Value"]) == "ApprovedActionsDeadLetterQueue"
    events = template["Resources"]["ApprovedActionsFunction"]["Properties"]["Events"]["ApprovedActions"]
    assert ref_name(events["Properties"]["Queue"]) == "ApprovedActionsQueue"
    assert events["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_given_the_endpoint_s_environment_when_read_then_it_finds_the_queue_the_worker_reads(
    template: dict[str, Any],
) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    condition, queue, _ = env["KEYWATCH_APPROVALS_QUEUE_URL"]["Fn::If"]
    assert condition == "IsApprove" and ref_name(queue) == "ApprovedActionsQueue"
    statement = template["Resources"]["ApprovePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Action"] == "sqs:SendMessage" and ref_name(statement["Resource"]) == "ApprovedActionsQueue"
    own = str(env["KEYWATCH_OWN_ROLE_ARNS"])
    assert "SlackActionsFunctionRole" in own and "ApprovedActionsFunctionRole" in own
