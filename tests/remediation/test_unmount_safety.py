"""Unmount is safe under races (issue 9): act only on a key confirmed unusable, delete only what is
recorded, look again after deleting, keep what a record already holds, record IPv6 and dual stack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from keywatch.config import Settings
from keywatch.errors import HandlingIncomplete
from keywatch.models import Mode, MountTargetSpec
from keywatch.parse import parse_event
from keywatch.runtime import build_watchdog

ACCOUNT = "111122223333"
REGION = "us-east-1"
APP_KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
APP_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{APP_KEY}"
FLEET = {
    "accounts": [
        {
            "id": ACCOUNT,
            "regions": {
                REGION: {
                    "keys": [{"id": APP_KEY, "aliases": ["alias/app"]}],
                    "file_systems": [
                        {
                            "name": "cut-me",
                            "key": APP_ARN,
                            "mount_targets": 2,
                            "tags": {"keywatch:on-key-loss": "unmount"},
                        }
                    ],
                }
            },
        }
    ]
}


@pytest.fixture
def setup(make_estate: Callable[..., Any]) -> tuple[Any, Any, str]:
    estate = make_estate(FLEET)
    watchdog = build_watchdog(estate.settings(Settings(mode=Mode.ENFORCE)), estate.clients)
    return estate, watchdog, estate.file_system_ids[(ACCOUNT, REGION, "cut-me")]


def disable(estate: Any, watchdog: Any, raw: dict[str, Any]) -> Any:
    event = parse_event(raw)
    estate.apply(event)
    return watchdog.handle_event(event)


def live(estate: Any, fs_id: str) -> list[dict[str, Any]]:
    return list(
        estate.clients.client("efs", ACCOUNT, REGION).describe_mount_targets(FileSystemId=fs_id)["MountTargets"]
    )


def test_given_the_key_is_unreadable_at_the_recheck_when_an_unmount_is_due_then_the_mount_targets_are_kept(
    setup: tuple[Any, Any, str], event: Callable[[str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.core.exceptions import JsonRESTError
    from moto.kms.models import KmsBackend

    estate, watchdog, fs_id = setup
    original = watchdog.remediator.run

    def denied_from_now_on(*args: Any, **kwargs: Any) -> Any:
        def deny(self: Any, key_id: str) -> Any:
            raise JsonRESTError("AccessDeniedException", "not authorized to perform kms:DescribeKey")

        monkeypatch.setattr(KmsBackend, "describe_key", deny)
        return original(*args, **kwargs)

    watchdog.remediator.run = denied_from_now_on
    result = disable(estate, watchdog, event("disable_key"))

    [action] = result.actions
    assert (action.type, action.status) == ("delete_mount_targets", "skipped")
    assert "can't be confirmed unusable" in action.detail and "Unknown" in action.detail
    assert len(live(estate, fs_id)) == 2


def test_given_the_key_is_enabled_while_the_mount_targets_are_deleted_then_they_are_put_back_at_once(
    setup: tuple[Any, Any, str], event: Callable[[str], dict[str, Any]]
) -> None:
    estate, watchdog, fs_id = setup
    before = {(m["SubnetId"], m["IpAddress"]) for m in live(estate, fs_id)}
    original = watchdog.mounts.delete

    def delete_then_someone_enables_the_key(fs: Any, mount_target_id: str) -> bool:
        deleted = original(fs, mount_target_id)
        estate.clients.client("kms", ACCOUNT, REGION).enable_key(KeyId=APP_KEY)  # an EnableKey, handled meanwhile
        return deleted

    watchdog.mounts.delete = delete_then_someone_enables_the_key
    result = disable(estate, watchdog, event("disable_key"))

    [action] = result.actions
    assert action.status == "done" and "Enabled again" in action.detail
    assert {(m["SubnetId"], m["IpAddress"]) for m in live(estate, fs_id)} == before
    assert watchdog.incidents.snapshot(APP_ARN, fs_id) is None  # restored, nothing left waiting


def test_given_an_older_record_is_waiting_when_unmounting_again_then_the_newer_mount_target_is_the_one_restored(
    setup: tuple[Any, Any, str], event: Callable[[str], dict[str, Any]]
) -> None:
    estate, watchdog, fs_id = setup
    first = live(estate, fs_id)[0]
    stale = MountTargetSpec(
        mount_target_id="fsmt-gone",
        subnet_id=first["SubnetId"],
        ip_address="10.0.0.250",
        availability_zone=first["AvailabilityZoneName"],
        recorded_at="2020-01-01T00:00:00+00:00",
    )
    watchdog.incidents.save_snapshot(APP_ARN, fs_id, [stale])  # an earlier incident's record, never restored
    now = {(m["SubnetId"], m["IpAddress"]) for m in live(estate, fs_id)}
    live_ids = {m["MountTargetId"] for m in live(estate, fs_id)}

    disable(estate, watchdog, event("disable_key"))
    recorded = {s.mount_target_id for s in watchdog.incidents.snapshot(APP_ARN, fs_id) or []}
    assert recorded == {"fsmt-gone"} | live_ids  # the waiting record kept, the live ones merged in
    assert live(estate, fs_id) == []

    disable(estate, watchdog, event("enable_key"))
    assert {(m["SubnetId"], m["IpAddress"]) for m in live(estate, fs_id)} == now  # not 10.0.0.250


def test_given_dual_stack_mount_targets_when_recorded_and_restored_then_ipv6_and_the_address_type_come_back(
    setup: tuple[Any, Any, str], event: Callable[[str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.efs.models import MountTarget

    estate, watchdog, fs_id = setup
    shown = MountTarget.info_json

    def with_ipv6(self: Any) -> dict[str, Any]:  # moto 5 has no IPv6 mount targets: describe them as AWS does
        return {**shown(self), "Ipv6Address": "2600:1f18::" + self.ip_address.rsplit(".", 1)[-1]}

    monkeypatch.setattr(MountTarget, "info_json", with_ipv6)
    sent: list[dict[str, Any]] = []
    client = estate.clients.client("efs", ACCOUNT, REGION, "write")
    client.meta.events.register("provide-client-params.efs.CreateMountTarget", lambda params, **_: sent.append(params))

    disable(estate, watchdog, event("disable_key"))
    record = watchdog.incidents.snapshot(APP_ARN, fs_id) or []
    assert {(s.ip_address_type, bool(s.ipv6_address)) for s in record} == {("DUAL_STACK", True)}

    disable(estate, watchdog, event("enable_key"))
    assert {(p["IpAddressType"], p["Ipv6Address"]) for p in sent} == {
        (s.ip_address_type, s.ipv6_address) for s in record
    }


def test_given_the_incident_store_is_down_when_an_unmount_is_due_then_nothing_is_deleted_and_it_is_retried(
    setup: tuple[Any, Any, str], event: Callable[[str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    estate, watchdog, fs_id = setup

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "gone"}}, "PutItem")

    monkeypatch.setattr(watchdog.incidents, "save_snapshot", down)
    with pytest.raises(HandlingIncomplete) as raised:
        disable(estate, watchdog, event("disable_key"))

    assert raised.value.steps[0] == f"delete_mount_targets on {fs_id}"
    assert len(live(estate, fs_id)) == 2
