"""Parse at the edge: an EventBridge envelope becomes one typed :class:`KeyEvent`.

The quirks of real CloudTrail KMS records handled here (DESIGN.md §5):
- ``requestParameters`` may be null (RetireGrant); the key is then only in ``detail.resources``;
- ``deletionDate`` is not ISO ("Apr 12, 2021 18:58:30 PM");
- ``awsRegion`` can differ from the Region in the key ARN: the ARN wins;
- a multi-Region primary reports ``PendingReplicaDeletion`` with no deletion date;
- a failed call carries ``errorCode``;
- native KMS events carry only ``{"key-id": ...}``, with the ARN in the envelope's ``resources``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from keywatch.keys import InvalidKeyIdentifier, KeyRef
from keywatch.models import Actor, KeyEvent, KeyState

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
NATIVE_DELETION = "KMS CMK Deletion"
NATIVE_EXPIRATION = "KMS Imported Key Material Expiration"

# Calls that take a key away from EFS, and calls that give it back.
LOSS_EVENTS = frozenset(
    {
        "DisableKey",
        "ScheduleKeyDeletion",
        "CancelKeyDeletion",
        "RetireGrant",
        "RevokeGrant",
        "DeleteImportedKeyMaterial",
        "PutKeyPolicy",
    }
)
RECOVERY_EVENTS = frozenset({"EnableKey", "ImportKeyMaterial"})
GRANT_EVENTS = frozenset({"RetireGrant", "RevokeGrant"})
WATCHED_CALLS = LOSS_EVENTS | RECOVERY_EVENTS
NATIVE_EVENTS = frozenset({NATIVE_DELETION, NATIVE_EXPIRATION})
WATCHED_EVENT_NAMES = WATCHED_CALLS | NATIVE_EVENTS

# The state a successful call leaves the key in, when the record doesn't say.
STATE_AFTER = {
    "DisableKey": KeyState.DISABLED,
    "EnableKey": KeyState.ENABLED,
    "CancelKeyDeletion": KeyState.DISABLED,
    "DeleteImportedKeyMaterial": KeyState.PENDING_IMPORT,
    "ImportKeyMaterial": KeyState.ENABLED,
    "ScheduleKeyDeletion": KeyState.PENDING_DELETION,
}


class InvalidEvent(ValueError):
    """The input is not an EventBridge event keywatch can read."""


class CloudTrailResource(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    arn: str | None = Field(default=None, alias="ARN")
    account_id: str | None = Field(default=None, alias="accountId")
    type: str | None = None


class CloudTrailIdentity(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    type: str | None = None
    arn: str | None = None
    account_id: str | None = Field(default=None, alias="accountId")
    invoked_by: str | None = Field(default=None, alias="invokedBy")
    session_context: dict[str, Any] | None = Field(default=None, alias="sessionContext")

    @property
    def session_issuer_arn(self) -> str | None:
        issuer = (self.session_context or {}).get("sessionIssuer") or {}
        arn = issuer.get("arn") if isinstance(issuer, dict) else None
        return arn if isinstance(arn, str) else None


class CloudTrailRecord(BaseModel):
    """The CloudTrail record EventBridge puts in ``detail``. Only what keywatch reads is typed."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    event_id: str = Field(alias="eventID", min_length=1)
    event_name: str = Field(alias="eventName", min_length=1)
    event_source: str | None = Field(default=None, alias="eventSource")
    event_time: datetime | None = Field(default=None, alias="eventTime")
    aws_region: str | None = Field(default=None, alias="awsRegion")
    source_ip: str | None = Field(default=None, alias="sourceIPAddress")
    user_agent: str | None = Field(default=None, alias="userAgent")
    user_identity: CloudTrailIdentity = Field(default_factory=CloudTrailIdentity, alias="userIdentity")
    error_code: str | None = Field(default=None, alias="errorCode")
    error_message: str | None = Field(default=None, alias="errorMessage")
    request_parameters: dict[str, Any] | None = Field(default=None, alias="requestParameters")
    response_elements: dict[str, Any] | None = Field(default=None, alias="responseElements")
    additional_event_data: dict[str, Any] | None = Field(default=None, alias="additionalEventData")
    resources: list[CloudTrailResource] | None = None
    recipient_account_id: str | None = Field(default=None, alias="recipientAccountId")


class KmsEventBridgeEvent(EventBridgeModel):
    """The envelope. ``account`` is optional: events that reach SQS can lack it."""

    account: str = ""
    resources: list[str] = Field(default_factory=list)
    detail: dict[str, Any]


def _iso_or_lenient(value: Any) -> datetime | None:
    """Parse CloudTrail's ``deletionDate``: ISO, epoch seconds, or 'Apr 12, 2021 18:58:30 PM'.

    Leniently: a date in a shape not seen before gives None, never a lost event. The date is only
    context; DescribeKey reports the real one.
    """
    if value in (None, ""):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) >= 1e11 else value  # epoch milliseconds, as Java writes them
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (ValueError, OverflowError, OSError):
            return None
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        pass
    # "Apr 12, 2021 18:58:30 PM": a 24-hour clock with a meaningless AM/PM suffix, or a real 12-hour one.
    m = re.match(r"^([A-Za-z]{3,9}) (\d{1,2}), (\d{4}),? (\d{1,2}):(\d{2}):(\d{2})\s*([AaPp][Mm])?$", text)
    if not m:
        return None
    month, day, year, hour, minute, second, ampm = m.groups()
    hour_i = int(hour)
    if ampm and hour_i <= 12:
        if ampm.upper() == "PM" and hour_i < 12:
            hour_i += 12
        elif ampm.upper() == "AM" and hour_i == 12:
            hour_i = 0
    try:
        month_i = datetime.strptime(month[:3], "%b").month
        return datetime(int(year), month_i, int(day), hour_i, int(minute), int(second), tzinfo=UTC)
    except ValueError:
        return None


def _key_from(candidates: list[str | None], account: str | None, region: str | None) -> tuple[str | None, str | None]:
    """Pick the best key identifier: an ARN beats a bare ID. Return (key_arn_or_alias_arn, as_given)."""
    refs: list[tuple[KeyRef, str]] = []
    for text in candidates:
        if not text:
            continue
        try:
            refs.append((KeyRef.parse(text), text))
        except InvalidKeyIdentifier:
            continue
    if not refs:
        return None, None
    given = refs[0][1]
    for ref, _ in refs:
        if ref.kind == "key_arn":
            return ref.arn, given
    for ref, _ in refs:
        if ref.kind == "key_id" and account and region:
            return ref.located(account, region).arn, given
    for ref, _ in refs:
        if ref.is_alias and (ref.account or account) and (ref.region or region):
            return ref.located(account or "", region or "").arn, given
    return None, given


def parse_envelope(raw: Any) -> KmsEventBridgeEvent:
    """Validate the EventBridge envelope. Raises :class:`InvalidEvent` with a one-line reason."""
    if not isinstance(raw, dict):
        raise InvalidEvent("an EventBridge event must be a JSON object")
    try:
        return KmsEventBridgeEvent.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        raise InvalidEvent(f"{where}: {first['msg']}") from exc


def to_key_event(envelope: KmsEventBridgeEvent) -> KeyEvent:
    """Turn an envelope into a :class:`KeyEvent`. Unwatched events still parse; the engine ignores them."""
    if envelope.source != "aws.kms" or (
        envelope.detail_type == CLOUDTRAIL_DETAIL_TYPE
        and envelope.detail.get("eventSource") not in (None, "kms.amazonaws.com")
    ):
        # Events are checked, not trusted: only KMS itself speaks for KMS keys.
        return KeyEvent(
            event_id=envelope.id,
            event_name=f"{envelope.detail_type} from {envelope.source}",
            kind="native",
            event_time=envelope.time,
            event_region=envelope.region,
        )
    if envelope.detail_type == CLOUDTRAIL_DETAIL_TYPE:
        return _from_cloudtrail(envelope)
    if envelope.detail_type.startswith("KMS "):
        return _from_native(envelope)
    return KeyEvent(
        event_id=envelope.id,
        event_name=envelope.detail_type,
        kind="native",
        event_time=envelope.time,
        event_region=envelope.region,
        account=envelope.account or None,
    )


def _from_native(envelope: KmsEventBridgeEvent) -> KeyEvent:
    key_id = envelope.detail.get("key-id")
    account = envelope.account or None
    key_arn, given = _key_from(
        [*envelope.resources, key_id if isinstance(key_id, str) else None], account, envelope.region
    )
    ref = KeyRef.parse(key_arn) if key_arn else None
    state = {NATIVE_DELETION: KeyState.DELETED, NATIVE_EXPIRATION: KeyState.PENDING_IMPORT}.get(envelope.detail_type)
    return KeyEvent(
        event_id=envelope.id,
        event_name=envelope.detail_type,
        kind="native",
        event_time=envelope.time,
        key_arn=key_arn,
        key_ref=given,
        account=ref.account if ref else account,
        region=ref.region if ref else envelope.region,
        event_region=envelope.region,
        actor=Actor(type="AWSService", invoked_by="kms.amazonaws.com"),
        reported_key_state=state,
    )


def _from_cloudtrail(envelope: KmsEventBridgeEvent) -> KeyEvent:
    try:
        record = CloudTrailRecord.model_validate(envelope.detail)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidEvent(f"detail.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from exc
    request = record.request_parameters or {}
    response = record.response_elements or {}
    extra = record.additional_event_data or {}
    account = record.recipient_account_id or envelope.account or record.user_identity.account_id
    region = record.aws_region or envelope.region

    key_resources = [r.arn for r in record.resources or [] if r.arn and (r.type in (None, "AWS::KMS::Key"))]
    candidates = [response.get("keyId"), *key_resources, request.get("keyId"), *envelope.resources]
    key_arn, given = _key_from([c if isinstance(c, str) else None for c in candidates], account, region)
    ref = KeyRef.parse(key_arn) if key_arn else None

    window = request.get("pendingWindowInDays")
    said = response.get("keyState")
    reported: KeyState | None = KeyState.read(said) if isinstance(said, str) else None
    reported = reported or STATE_AFTER.get(record.event_name)
    if record.error_code:
        reported = None  # a failed call changed nothing: it says nothing about the key's state

    identity = record.user_identity
    return KeyEvent(
        event_id=record.event_id,
        event_name=record.event_name,
        kind="cloudtrail",
        event_time=record.event_time or envelope.time,
        key_arn=key_arn,
        key_ref=given,
        account=ref.account if ref else account,
        region=ref.region if ref else region,
        event_region=record.aws_region,
        actor=Actor(
            type=identity.type,
            arn=identity.arn,
            account=identity.account_id,
            invoked_by=identity.invoked_by,
            role_arn=identity.session_issuer_arn,
            source_ip=record.source_ip,
            user_agent=record.user_agent,
        ),
        error_code=record.error_code,
        error_message=record.error_message,
        grant_id=request.get("grantId") or extra.get("grantId"),
        deletion_date=_iso_or_lenient(response.get("deletionDate")),
        pending_window_days=int(window) if isinstance(window, int | str) and str(window).isdigit() else None,
        reported_key_state=reported,
        policy_document=request.get("policy") if isinstance(request.get("policy"), str) else None,
    )


def parse_event(raw: Any) -> KeyEvent:
    """Raw EventBridge event (dict) to :class:`KeyEvent`. Raises :class:`InvalidEvent`."""
    return to_key_event(parse_envelope(raw))


def load_event_file(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    if not isinstance(data, dict):
        raise InvalidEvent("an EventBridge event must be a JSON object")
    return data
