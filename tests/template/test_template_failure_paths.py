"""The template states the failure paths: every way an event can be lost ends in a queue with an alarm.

- each EventBridge rule target retries and dead-letters into an SQS queue that lets that rule send;
- each function has EventInvokeConfig with an OnFailure destination, and a log group with retention;
- the sweep queue redrives into a dead-letter queue, and its worker reports partial batch failures;
- every dead-letter queue, function error and failure metric alarms to OpsTopic, never the alert topic;
- the environment sets every KEYWATCH_* variable keywatch.config reads.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from template_support import ROOT, as_list, ref_name, resources

FUNCTIONS = (
    "KeyEventsFunction",
    "SweepFunction",
    "SweepWorkerFunction",
    "SlackActionsFunction",
    "ApprovedActionsFunction",
    "RemediationWorkerFunction",
)


def rule_targets(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, target)
        for name, rule in resources(template, "AWS::Events::Rule").items()
        for target in rule["Properties"]["Targets"]
    ]


def queue_policy_for(template: dict[str, Any], queue: str) -> list[dict[str, Any]]:
    return [
        s
        for policy in resources(template, "AWS::SQS::QueuePolicy").values()
        if queue in {ref_name(q) for q in policy["Properties"]["Queues"]}
        for s in as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    ]


def alarms_on(template: dict[str, Any], dimension_value: str) -> list[dict[str, Any]]:
    return [
        a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if any(ref_name(d["Value"]) == dimension_value for d in a["Properties"].get("Dimensions", []))
    ]


def dead_letter_queues(template: dict[str, Any]) -> set[str]:
    queues = {ref_name(t["DeadLetterConfig"]["Arn"]) for _, t in rule_targets(template)}
    for name in FUNCTIONS:
        config = template["Resources"][name]["Properties"]["EventInvokeConfig"]
        queues.add(ref_name(config["DestinationConfig"]["OnFailure"]["Destination"]))
    for queue in resources(template, "AWS::SQS::Queue").values():
        if "RedrivePolicy" in queue["Properties"]:
            queues.add(ref_name(queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]))
    return {q for q in queues if q}


@pytest.mark.parametrize("which", ["template", "member_template"])
def test_given_every_rule_target_when_delivery_fails_then_it_retries_and_dead_letters_into_sqs(
    request: pytest.FixtureRequest, which: str
) -> None:
    template = request.getfixturevalue(which)
    targets = rule_targets(template)
    assert targets
    for rule, target in targets:
        retry = target.get("RetryPolicy") or {}
        assert {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"} <= set(retry), f"{rule}: no RetryPolicy"
        queue = ref_name((target.get("DeadLetterConfig") or {}).get("Arn"))
        assert queue and template["Resources"][queue]["Type"] == "AWS::SQS::Queue", f"{rule}: no SQS DLQ"
        allowed = [
            s
            for s in queue_policy_for(template, queue)
            if s["Effect"] == "Allow"
            and s["Principal"] == {"Service": "events.amazonaws.com"}
            and "sqs:SendMessage" in as_list(s["Action"])
        ]
        assert allowed, f"{queue} does not let EventBridge send the dead letters of {rule}"
        sources = {ref_name(arn) for s in allowed for arn in as_list(s["Condition"]["ArnEquals"]["aws:SourceArn"])}
        assert rule in sources, f"{queue}'s policy is not conditioned on {rule}'s ARN (aws:SourceArn)"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_when_an_async_invocation_fails_then_it_goes_to_an_sqs_destination(
    template: dict[str, Any], function: str
) -> None:
    config = template["Resources"][function]["Properties"].get("EventInvokeConfig")
    assert config, f"{function} has no EventInvokeConfig"
    on_failure = config["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    assert template["Resources"][ref_name(on_failure["Destination"])]["Type"] == "AWS::SQS::Queue"
    assert 0 <= config["MaximumRetryAttempts"] <= 2


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_when_it_logs_then_its_log_group_has_a_retention(
    template: dict[str, Any], function: str
) -> None:
    props = template["Resources"][function]["Properties"]
    group = ref_name(props.get("LoggingConfig", {}).get("LogGroup"))
    if group is None:  # or the implicit /aws/lambda/<function> group, declared
        group = next(
            (
                n
                for n, g in resources(template, "AWS::Logs::LogGroup").items()
                if g["Properties"].get("LogGroupName") == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}
            ),
            None,
        )
    assert group, f"{function} has no log group of its own"
    log_group = template["Resources"][group]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_given_the_sweep_queue_when_a_target_keeps_failing_then_it_redrives_and_the_worker_reports_items(
    template: dict[str, Any],
) -> None:
    queue = template["Resources"]["SweepQueue"]["Properties"]
    assert ref_name(queue["RedrivePolicy"]["deadLetterTargetArn"]) == "SweepDeadLetterQueue"
    worker = template["Resources"]["SweepWorkerFunction"]["Properties"]
    source = worker["Events"]["SweepTargets"]
    assert source["Type"] == "SQS" and ref_name(source["Properties"]["Queue"]) == "SweepQueue"
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"], "AWS advises six times the function timeout"


def test_given_the_sweep_fan_out_when_it_queues_then_it_sends_to_the_queue_the_worker_reads(
    template: dict[str, Any],
) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert ref_name(env["KEYWATCH_SWEEP_QUEUE_URL"]) == "SweepQueue"


def test_given_every_dead_letter_queue_when_a_message_arrives_then_an_alarm_tells_the_topic(
    template: dict[str, Any],
) -> None:
    queues = dead_letter_queues(template)
    assert {
        "EventsDeadLetterQueue",
        "FailedInvocationsQueue",
        "SweepDeadLetterQueue",
        "RemediationDeadLetterQueue",
    } <= queues
    for queue in queues:
        alarms = [a for a in alarms_on(template, queue) if a["MetricName"] == "ApproximateNumberOfMessagesVisible"]
        assert alarms, f"no alarm on {queue}"
        assert all(ref_name(x) == "OpsTopic" for a in alarms for x in a["AlarmActions"])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_when_it_raises_then_an_errors_alarm_tells_the_topic(
    template: dict[str, Any], function: str
) -> None:
    alarms = [a for a in alarms_on(template, function) if (a["Namespace"], a["MetricName"]) == ("AWS/Lambda", "Errors")]
    assert alarms and all(ref_name(x) == "OpsTopic" for a in alarms for x in a["AlarmActions"])


@pytest.mark.parametrize("metric", ["NotificationFailed", "RemediationFailed", "SweepAccountFailed"])
def test_given_keywatch_s_own_failure_metric_when_it_counts_then_an_alarm_tells_the_topic(
    template: dict[str, Any], metric: str
) -> None:
    found = []
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        expressions = " ".join(str(m.get("Expression", "")) for m in props.get("Metrics", []))
        if (props.get("Namespace"), props.get("MetricName")) == ("keywatch", metric) or re.search(
            rf"SUM\({metric}\)\s+FROM\s+\"?keywatch\"?(\s|$)", expressions
        ):
            found.append(props)
    assert found, f"no alarm on {metric} in namespace keywatch"
    assert all(ref_name(x) == "OpsTopic" for a in found for x in a["AlarmActions"])


def test_given_the_alarm_topic_when_created_then_it_is_encrypted_with_a_key_cloudwatch_may_use(
    template: dict[str, Any],
) -> None:
    topic = template["Resources"]["OpsTopic"]["Properties"]
    key = ref_name(topic["KmsMasterKeyId"])
    assert key and template["Resources"][key]["Type"] == "AWS::KMS::Key", "alarms can't publish with aws/sns"
    policy = template["Resources"][key]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in policy)


def test_given_the_tables_when_created_then_they_are_encrypted_recoverable_and_keyed_as_the_code_expects(
    template: dict[str, Any],
) -> None:
    tables = resources(template, "AWS::DynamoDB::Table")
    for name, table in tables.items():
        props = table["Properties"]
        assert props["SSESpecification"]["SSEEnabled"] is True, name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
    keys = {n: [(k["AttributeName"], k["KeyType"]) for k in t["Properties"]["KeySchema"]] for n, t in tables.items()}
    assert keys["IncidentsTable"] == [("pk", "HASH"), ("sk", "RANGE")]
    assert keys["IdempotencyTable"] == [("id", "HASH")]
    assert tables["IdempotencyTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expiration",
        "Enabled": True,
    }
    assert tables["IncidentsTable"]["DeletionPolicy"] == "Retain", "the incident record outlives the stack"


def test_given_every_queue_when_created_then_it_is_encrypted(
    template: dict[str, Any], member_template: dict[str, Any]
) -> None:
    for t in (template, member_template):
        for name, queue in resources(t, "AWS::SQS::Queue").items():
            props = queue["Properties"]
            assert props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId"), name


def test_given_the_code_s_settings_when_the_template_sets_the_environment_then_every_variable_is_there(
    template: dict[str, Any],
) -> None:
    read = set(re.findall(r"KEYWATCH_[A-Z_]+", (ROOT / "layers" / "keywatch" / "config.py").read_text()))
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert read - set(env) == set(), "keywatch.config reads variables the template does not set"
    assert {"POWERTOOLS_SERVICE_NAME": "keywatch", "POWERTOOLS_METRICS_NAMESPACE": "keywatch"}.items() <= env.items()
    function = template["Globals"]["Function"]
    assert function["Runtime"] in {"python3.12", "python3.13"} and function["Architectures"] == ["arm64"]
    assert function["Tracing"] == "Active"
