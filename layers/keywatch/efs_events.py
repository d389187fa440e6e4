"""EFS's own CloudTrail events keep the key-to-file-system index current between sweeps.

``CreateFileSystem``, ``DeleteFileSystem``, ``TagResource`` / ``UntagResource`` on a file system,
``CreateMountTarget`` and ``DeleteMountTarget`` are routed by the same rules (home bus, organisation bus,
member accounts' forwarding) and handled by the same engine as the KMS events. The event only says which
file system to look at: keywatch reads it live through the account's read role and writes what it finds
(or removes the entry when the file system is gone), so a forged or stale event can never put a wrong
entry in the index, and a repeat delivery changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from keywatch.adapters.efs import EfsGateway, MountTargetGateway
from keywatch.adapters.index import KeyIndex
from keywatch.assess import normalise_key_arn
from keywatch.keys import is_account, is_region
from keywatch.models import FileSystem, KeyEvent, KeyInfo
from keywatch.observability import logger
from keywatch.parse import (
    CLOUDTRAIL_DETAIL_TYPE,
    InvalidEvent,
    KmsEnvelope,
    ServiceRecord,
    is_efs_envelope,
    parse_envelope,
    to_key_event,
)
from keywatch.sweep.index import entry_for, index_ttl

EFS_EVENT_SOURCE = "elasticfilesystem.amazonaws.com"
EFS_CALLS = frozenset(
    {"CreateFileSystem", "DeleteFileSystem", "TagResource", "UntagResource", "CreateMountTarget", "DeleteMountTarget"}
)

_FS_ID = re.compile(r"^fs-[0-9a-f]{8,40}$")
_FS_ARN = re.compile(r"^arn:aws[a-z-]*:elasticfilesystem:[a-z0-9-]+:[0-9]{12}:file-system/(fs-[0-9a-f]{8,40})$")
_MT_ID = re.compile(r"^fsmt-[0-9a-f]{8,40}$")


class EfsEvent(BaseModel):
    """One EFS call, as far as the index cares: where, and which file system (or mount target)."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    event_name: str
    event_time: datetime | None = None
    account: str | None = None
    region: str | None = None
    file_system_id: str | None = None
    mount_target_id: str | None = None
    error_code: str | None = None
    # What the call asked for: never trusted by the index (it reads the file system live), only replayed by the
    # simulated estate and kept for the record.
    kms_key_id: str | None = None
    encrypted: bool | None = None
    tags: dict[str, str] = {}
    tag_keys: list[str] = []
    subnet_id: str | None = None


def _file_system_id(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    if _FS_ID.fullmatch(value):
        return value
    arn = _FS_ARN.fullmatch(value)
    return arn[1] if arn else None  # TagResource may name an access point (fsap-...): not a file system


def to_efs_event(envelope: KmsEnvelope) -> EfsEvent:
    """Parse an EFS CloudTrail envelope. Only EFS speaks for EFS: another ``eventSource`` names nothing."""
    if envelope.detail_type != CLOUDTRAIL_DETAIL_TYPE:
        return EfsEvent(event_id=envelope.id, event_name=envelope.detail_type, event_time=envelope.time)
    try:
        record = ServiceRecord.model_validate(envelope.detail)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidEvent(f"detail.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from exc
    if record.event_source not in (None, EFS_EVENT_SOURCE):
        return EfsEvent(event_id=record.event_id, event_name=f"{record.event_name} from {record.event_source}")
    request = record.request_parameters or {}
    response = record.response_elements or {}
    account = envelope.account or record.recipient_account_id or ""
    region = record.aws_region or envelope.region or ""
    file_system = (
        _file_system_id(request.get("fileSystemId"))
        or _file_system_id(response.get("fileSystemId"))
        or _file_system_id(request.get("resourceId"))
    )
    mount_target = request.get("mountTargetId")
    key = request.get("kmsKeyId") or response.get("kmsKeyId")
    encrypted = request.get("encrypted", response.get("encrypted"))
    keys = request.get("tagKeys")
    return EfsEvent(
        event_id=record.event_id,
        event_name=record.event_name,
        event_time=record.event_time or envelope.time,
        account=account if is_account(account) else None,
        region=region if is_region(region) else None,
        file_system_id=file_system,
        mount_target_id=mount_target if isinstance(mount_target, str) and _MT_ID.fullmatch(mount_target) else None,
        error_code=record.error_code,
        kms_key_id=key if isinstance(key, str) else None,
        encrypted=encrypted if isinstance(encrypted, bool) else None,
        tags=_tags(request.get("tags")),
        tag_keys=[k for k in keys if isinstance(k, str)] if isinstance(keys, list) else [],
        subnet_id=request.get("subnetId") if isinstance(request.get("subnetId"), str) else None,
    )


def _tags(value: Any) -> dict[str, str]:
    """CloudTrail writes EFS tags as ``[{"key": ..., "value": ...}]`` (``Key``/``Value`` accepted too)."""
    found: dict[str, str] = {}
    for tag in value if isinstance(value, list) else []:
        if isinstance(tag, dict):
            key, val = tag.get("key", tag.get("Key")), tag.get("value", tag.get("Value"))
            if isinstance(key, str) and isinstance(val, str):
                found[key] = val
    return found


def parse_any(raw: Any) -> KeyEvent | EfsEvent:
    """A raw EventBridge event (KMS or EFS) to its typed event. Raises :class:`InvalidEvent`."""
    envelope = parse_envelope(raw)
    return to_efs_event(envelope) if is_efs_envelope(envelope) else to_key_event(envelope)


def ignored_because(event: EfsEvent) -> str | None:
    """Why an EFS event changes nothing in the index, before anything is read; None to go on."""
    if event.error_code:
        return f"The {event.event_name} call failed ({event.error_code}); nothing changed."
    if event.event_name not in EFS_CALLS:
        return f"{event.event_name} is not an EFS call that keywatch watches."
    if not (event.account and event.region):
        return f"The {event.event_name} event names no account and Region keywatch can read."
    if not (event.file_system_id or event.mount_target_id):
        return f"The {event.event_name} event names no EFS file system."
    return None


class IndexKeeper:
    """Keeps one file system's entry in the index true to what EFS says now."""

    def __init__(
        self,
        efs: EfsGateway,
        mounts: MountTargetGateway,
        index: KeyIndex,
        describe_key: Callable[[str], KeyInfo],
        alias_target: Callable[[str, str, str], str | None],
        sweep_schedule: str | None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.efs = efs
        self.mounts = mounts
        self.index = index
        self._describe_key = describe_key
        self._alias_target = alias_target
        self._ttl = index_ttl(sweep_schedule)
        self._clock = clock or (lambda: datetime.now(UTC))

    def refresh(self, event: EfsEvent) -> tuple[str, str | None]:
        """Read the file system live and write (or remove) its entry. Returns (what was done, its key ARN).

        AWS errors propagate: the event is retried, and a role that is missing for good ends in the
        dead-letter queue with an alarm, rather than an index that silently drifts.
        """
        skip = ignored_because(event)
        if skip is not None or event.account is None or event.region is None:
            return skip or "", None
        account, region = event.account, event.region
        fs_id = event.file_system_id
        if fs_id is None and event.mount_target_id:
            fs_id = self.mounts.file_system_of(event.mount_target_id, account, region)
        if fs_id is None:
            return (
                f"Mount target {event.mount_target_id} is gone and no longer says which file system it served; "
                "the next sweep refreshes the count.",
                None,
            )
        fs = self.efs.get(fs_id, account, region)
        if fs is None:
            removed = self.index.remove(account, region, fs_id)
            return f"{fs_id} no longer exists in {account}/{region}; {_entries(removed)} removed from the index.", None
        key_arn = normalise_key_arn(fs, self._alias_target)
        if key_arn is None or self._describe_key(key_arn).key_manager == "AWS":
            removed = self.index.remove(account, region, fs_id)
            return (
                f"{_label(fs)} is not encrypted with a customer managed key: nothing to index"
                + (f" ({_entries(removed)} removed)." if removed else "."),
                None,
            )
        entry = entry_for(fs, key_arn, self._clock(), self._ttl, seen_by=f"{event.event_name} {event.event_id}")
        self.index.put([entry])
        logger.info("index refreshed", file_system=fs_id, account=account, region=region, event=event.event_name)
        return (
            f"The index now lists {_label(fs)} in {account}/{region} on this key "
            f"({fs.mount_targets} mount target{'s' if fs.mount_targets != 1 else ''}, policy {fs.policy.value}).",
            key_arn,
        )


def _label(fs: FileSystem) -> str:
    return f"{fs.file_system_id} ({fs.name})" if fs.name else fs.file_system_id


def _entries(n: int) -> str:
    return f"{n} entr{'y' if n == 1 else 'ies'}"
