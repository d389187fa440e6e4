"""Review of `keywatch replay` against DESIGN.md §2-§3 on a held-out estate (events written here)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from keywatch.cli import main

ACCOUNT = "210987654321"
REGION = "us-west-2"
KEY_ID = "c2d3e4f5-5555-4666-8777-ddddeeeeffff"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"

FLEET = f"""
accounts:
  - id: "{ACCOUNT}"
    regions:
      {REGION}:
        keys:
          - {{id: {KEY_ID}, aliases: [alias/review]}}
        file_systems:
          - {{name: review-unmount, key: alias/review, mount_targets: 2, tags: {{"keywatch:on-key-loss": unmount}},
             grant_id: g-1}}  # the probe at the end revokes its EFS grant, to read the estate back
          - {{name: review-notify, key: {KEY_ID}, mount_targets: 1}}
"""


def cloudtrail(name: str, event_id: str, request: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"eb-{event_id}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.kms",
        "account": ACCOUNT,
        "time": "2026-11-29T07:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/carol", "accountId": ACCOUNT},
            "eventTime": "2026-11-29T07:00:00Z",
            "eventSource": "kms.amazonaws.com",
            "eventName": name,
            "awsRegion": REGION,
            "sourceIPAddress": "198.51.100.7",
            "userAgent": "aws-cli/2.15.0",
            "requestParameters": request,
            "responseElements": None,
            "requestID": f"req-{event_id}",
            "eventID": event_id,
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
            "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY_ARN}],
        },
    }


def replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], events: list[dict[str, Any]], *extra: str
) -> list[dict[str, Any]]:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET)
    paths = []
    for i, raw in enumerate(events):
        path = tmp_path / f"{i:02d}.json"
        path.write_text(json.dumps(raw))
        paths.append(str(path))
    status = main(["replay", *paths, "--fleet", str(fleet), "--json", *extra])
    out, err = capsys.readouterr()
    assert status == 0, err
    return json.loads(out)["results"]


def test_given_a_disable_then_enable_when_the_disable_is_delivered_again_then_the_key_stays_enabled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    disable = cloudtrail("DisableKey", "dup-disable-0001", {"keyId": KEY_ID})
    enable = cloudtrail("EnableKey", "enable-0002", {"keyId": KEY_ID})
    revoke = cloudtrail("RevokeGrant", "revoke-0003", {"keyId": KEY_ARN, "grantId": "g-1"})

    first, recovered, again, probe = replay(tmp_path, capsys, [disable, enable, disable, revoke])

    assert (first["outcome"], recovered["outcome"], again["outcome"]) == ("alert", "resolved", "duplicate")
    assert again["actions"] == [] and again["affected"] == []
    # The repeat delivery is not a second DisableKey call: the estate keeps the key Enabled.
    assert probe["key_state"] == "Enabled"


def test_given_unmount_in_enforce_when_a_disable_is_delivered_twice_after_recovery_then_mounts_stay_restored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    disable = cloudtrail("DisableKey", "dup-disable-0101", {"keyId": KEY_ID})
    enable = cloudtrail("EnableKey", "enable-0102", {"keyId": KEY_ID})
    revoke = cloudtrail("RevokeGrant", "revoke-0103", {"keyId": KEY_ARN, "grantId": "g-1"})

    cut, back, again, probe = replay(tmp_path, capsys, [disable, enable, disable, revoke], "--mode", "enforce")

    unmount = {a["name"]: a for a in cut["affected"]}["review-unmount"]
    assert (unmount["mount_targets"], unmount["mount_targets_after"]) == (2, 0)
    assert {a["name"]: a for a in back["affected"]}["review-unmount"]["mount_targets_after"] == 2
    assert again["outcome"] == "duplicate" and again["actions"] == []
    assert probe["key_state"] == "Enabled"
    assert {a["name"]: a["mount_targets"] for a in probe["affected"]}["review-unmount"] == 2


@pytest.mark.parametrize(
    "fleet, complaint",
    [
        (
            f'accounts:\n  - id: "{ACCOUNT}"\n    regions:\n      moon-1:\n        keys: [{{id: {KEY_ID}}}]\n',
            "'moon-1' is not an AWS Region",
        ),
        (
            f'accounts:\n  - id: "{ACCOUNT}"\n    regions:\n      {REGION}:\n'
            "        file_systems: [{name: x, key: alias/nope}]\n",
            "alias alias/nope is not defined",
        ),
    ],
)
def test_given_a_fleet_the_simulator_cannot_build_when_replaying_then_one_line_names_the_file_and_exit_is_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fleet: str, complaint: str
) -> None:
    path = tmp_path / "bad-fleet.yaml"
    path.write_text(fleet)
    event = tmp_path / "e.json"
    event.write_text(json.dumps(cloudtrail("DisableKey", "bad-fleet-0001", {"keyId": KEY_ID})))

    status = main(["replay", str(event), "--fleet", str(path), "--json"])

    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"keywatch: {path}: ") and complaint in err
    assert "unexpected error" not in err


def test_given_a_misspelt_policy_tag_when_the_key_is_disabled_then_it_is_notify_and_the_reason_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "FLEET", FLEET.replace("unmount}", "unmout}"))
    disable = cloudtrail("DisableKey", "typo-0001", {"keyId": KEY_ID})

    [result] = replay(tmp_path, capsys, [disable], "--mode", "enforce")

    assert (result["outcome"], result["severity"]) == ("alert", "high")
    assert {a["name"]: a["policy"] for a in result["affected"]} == {
        "review-unmount": "notify",
        "review-notify": "notify",
    }
    assert result["actions"] == []
    assert all(a["mount_targets_after"] == a["mount_targets"] for a in result["affected"])
    assert "keywatch:on-key-loss='unmout'" in result["reason"] and "treated as notify" in result["reason"]
