"""The template's EventBridge rules route exactly the right events, checked with moto's real pattern matcher.

Every sample in events/ must reach keywatch, except a failed call (errorCode), which the rule leaves
out. Samples the handler ignores anyway (an unused key, a grant EFS retired itself) may be routed.
KMS events keywatch does not watch must not be.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from template_support import ROOT, resources

EVENTS = sorted((ROOT / "events").glob("*.json"))
NOT_ROUTED = {"12_disable_key_failed.json"}  # a failed call changes nothing


def matchers(template: dict[str, Any]) -> dict[str, Any]:
    from moto.events.models import EventPattern

    return {
        name: EventPattern.load(json.dumps(rule["Properties"]["EventPattern"]))
        for name, rule in resources(template, "AWS::Events::Rule").items()
        if "EventPattern" in rule["Properties"]
    }


def routed_by(template: dict[str, Any], event: dict[str, Any]) -> list[str]:
    return sorted(name for name, pattern in matchers(template).items() if pattern.matches_event(event))


def cloudtrail_call(name: str, **detail: Any) -> dict[str, Any]:
    """A KMS CloudTrail call as EventBridge delivers it, shaped like events/01_disable_key.json."""
    base = json.loads((ROOT / "events" / "01_disable_key.json").read_text())
    event = copy.deepcopy(base)
    event["detail"]["eventName"] = name
    event["detail"].update(detail)
    return event


def native(detail_type: str) -> dict[str, Any]:
    event = json.loads((ROOT / "events" / "13_kms_cmk_deletion.json").read_text())
    event["detail-type"] = detail_type
    return event


def test_given_the_template_when_its_rules_are_read_then_the_kms_rules_and_the_schedule_are_there(
    template: dict[str, Any],
) -> None:
    rules = resources(template, "AWS::Events::Rule")
    assert {"KmsApiCallsRule", "KmsNativeEventsRule", "SweepScheduleRule"} <= set(rules)
    assert rules["SweepScheduleRule"]["Properties"]["ScheduleExpression"] == {"Ref": "SweepSchedule"}


@pytest.mark.parametrize("path", EVENTS, ids=lambda p: p.stem)
def test_given_a_sample_event_when_eventbridge_matches_it_then_it_reaches_keywatch_unless_the_call_failed(
    template: dict[str, Any], path: Path
) -> None:
    event = json.loads(path.read_text())
    rules = routed_by(template, event)
    if path.name in NOT_ROUTED:
        assert rules == [], f"{path.name} (errorCode {event['detail'].get('errorCode')}) is routed by {rules}"
    else:
        default_bus = [r for r in rules if not template["Resources"][r]["Properties"].get("EventBusName")]
        assert default_bus, f"{path.name} is routed by no rule on the default bus"


@pytest.mark.parametrize(
    "name",
    [
        "Encrypt",
        "Decrypt",
        "GenerateDataKey",
        "CreateKey",
        "CreateGrant",
        "TagResource",
        "UntagResource",
        "CreateAlias",
        "DeleteAlias",
        "EnableKeyRotation",
        "DescribeKey",
        "ListGrants",
        "ReplicateKey",
    ],
)
def test_given_an_unwatched_kms_call_when_eventbridge_matches_it_then_no_rule_routes_it(
    template: dict[str, Any], name: str
) -> None:
    assert routed_by(template, cloudtrail_call(name)) == []


@pytest.mark.parametrize("error", ["AccessDenied", "KMSInvalidStateException", "NotFoundException"])
def test_given_a_watched_call_that_failed_when_eventbridge_matches_it_then_no_rule_routes_it(
    template: dict[str, Any], error: str
) -> None:
    for name in ("DisableKey", "ScheduleKeyDeletion", "RetireGrant", "PutKeyPolicy"):
        event = cloudtrail_call(name, errorCode=error, errorMessage="denied")
        assert routed_by(template, event) == [], f"failed {name} ({error}) is routed"


def test_given_the_kms_key_rotation_event_when_eventbridge_matches_it_then_no_rule_routes_it(
    template: dict[str, Any],
) -> None:
    assert routed_by(template, native("KMS CMK Rotation")) == []


def test_given_a_watched_call_from_another_service_when_eventbridge_matches_it_then_no_rule_routes_it(
    template: dict[str, Any],
) -> None:
    event = cloudtrail_call("DisableKey", eventSource="cloudhsm.amazonaws.com")
    assert routed_by(template, event) == []
    spoofed = cloudtrail_call("DisableKey")
    spoofed["source"] = "my.app"  # only AWS can put events with source aws.kms
    assert routed_by(template, spoofed) == []


def test_given_the_rules_when_compared_with_the_parser_then_they_watch_exactly_the_calls_it_understands(
    template: dict[str, Any],
) -> None:
    from keywatch.efs_events import EFS_CALLS
    from keywatch.parse import NATIVE_EVENTS, WATCHED_CALLS

    for name, rule in resources(template, "AWS::Events::Rule").items():
        pattern = rule["Properties"].get("EventPattern")
        if not pattern:
            continue
        if "detail" in pattern:
            calls = EFS_CALLS if pattern["source"] == ["aws.elasticfilesystem"] else WATCHED_CALLS
            assert set(pattern["detail"]["eventName"]) == set(calls), name
            assert pattern["detail"]["errorCode"] == [{"exists": False}], name
        else:
            assert set(pattern["detail-type"]) == set(NATIVE_EVENTS), name


def test_given_the_member_template_when_it_forwards_events_then_it_uses_the_central_patterns(
    template: dict[str, Any], member_template: dict[str, Any]
) -> None:
    central = sorted(
        json.dumps(r["Properties"]["EventPattern"], sort_keys=True)
        for r in resources(template, "AWS::Events::Rule").values()
        if "EventPattern" in r["Properties"] and not r["Properties"].get("EventBusName")
    )
    member = sorted(
        json.dumps(r["Properties"]["EventPattern"], sort_keys=True)
        for r in resources(member_template, "AWS::Events::Rule").values()
    )
    assert member == central


def test_given_an_organisation_bus_when_configured_then_it_carries_the_same_rules(template: dict[str, Any]) -> None:
    rules = resources(template, "AWS::Events::Rule")
    on_bus = {n: r for n, r in rules.items() if r["Properties"].get("EventBusName")}
    assert len(on_bus) == 3 and all(r.get("Condition") == "UseCentralBus" for r in on_bus.values())
    for name, rule in on_bus.items():
        twin = rules[name.removeprefix("Organization")]
        assert rule["Properties"]["EventPattern"] == twin["Properties"]["EventPattern"]
        assert rule["Properties"]["Targets"] == twin["Properties"]["Targets"]


# --- EFS's own calls, which keep the key-to-file-system index current ----------------------------------


def efs_call(name: str, **detail: Any) -> dict[str, Any]:
    """An EFS CloudTrail call as EventBridge delivers it, shaped like events/16_create_file_system.json."""
    event = copy.deepcopy(json.loads((ROOT / "events" / "16_create_file_system.json").read_text()))
    event["detail"]["eventName"] = name
    event["detail"].update(detail)
    return event


@pytest.mark.parametrize(
    "name",
    ["CreateFileSystem", "DeleteFileSystem", "TagResource", "UntagResource", "CreateMountTarget", "DeleteMountTarget"],
)
def test_given_an_efs_call_that_changes_the_index_when_eventbridge_matches_it_then_it_reaches_keywatch(
    template: dict[str, Any], name: str
) -> None:
    assert routed_by(template, efs_call(name)) == ["EfsApiCallsRule", "OrganizationEfsApiCallsRule"]


@pytest.mark.parametrize("name", ["DescribeFileSystems", "PutLifecycleConfiguration", "CreateAccessPoint", "Backup"])
def test_given_an_efs_call_the_index_does_not_need_when_eventbridge_matches_it_then_no_rule_routes_it(
    template: dict[str, Any], name: str
) -> None:
    assert routed_by(template, efs_call(name)) == []


def test_given_a_failed_efs_call_when_eventbridge_matches_it_then_no_rule_routes_it(template: dict[str, Any]) -> None:
    assert routed_by(template, efs_call("CreateFileSystem", errorCode="FileSystemAlreadyExists")) == []


def test_given_the_member_template_when_it_forwards_efs_calls_then_they_match_the_central_rule(
    member_template: dict[str, Any],
) -> None:
    forwarded = [
        name
        for name, rule in resources(member_template, "AWS::Events::Rule").items()
        if rule["Properties"]["EventPattern"]["source"] == ["aws.elasticfilesystem"]
    ]
    assert forwarded == ["ForwardEfsApiCallsRule"]
