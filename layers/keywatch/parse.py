"""Parse at the edge: an EventBridge event becomes one typed :class:`KeyEvent`, or an :class:`InvalidEvent`.

The envelope is a discriminated union (:data:`KmsEvent`): a CloudTrail record (:class:`CloudTrailEvent`),
a native KMS event (:class:`NativeKmsEvent`), or anything else (:class:`OtherEvent`, never trusted to
speak for a KMS key). It is validated once, here; the domain only ever sees a :class:`KeyEvent`.

Record shapes read (DESIGN.md §5), each with a test in tests/unit/test_parse.py:
- ``responseElements.keyId`` holding the key ARN (since December 2022), or ``responseElements: null``;
- ``resources`` entries with no ``type`` (older records), or ``resources: null``;
- ``requestParameters: null`` (RetireGrant), the grant then in ``additionalEventData.grantId``;
- ``keyMaterialId`` (2025 records of DeleteImportedKeyMaterial and ImportKeyMaterial), ``importType``;
- ``deletionDate`` and ``validTo`` that are not ISO ("Apr 12, 2021 18:58:30 PM", "May 21, 2025, 5:47:45 AM");
- ``awsRegion`` differing from the Region in the key ARN (the ARN wins);
- ``PendingReplicaDeletion`` with no deletion date; failed calls (``errorCode``);
- KMS-internal records (DeleteKey, DeleteExpiredKeyMaterial: ``AwsServiceEvent``, ``invokedBy: "AWS Internal"``,
  no ``userIdentity.type``), under either CloudTrail detail-type;
- native events, whose detail is only ``{"key-id": ...}`` and whose ARN is in the envelope's ``resources``.

Hostile input never escapes as anything but :class:`InvalidEvent` with a one-line reason: fields that
only inform (user agents, grant IDs, dates, windows) are read leniently and capped; fields that place
the key (accounts, Regions, IDs) are checked strictly, in ASCII.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
)

from keywatch.keys import InvalidKeyIdentifier, KeyRef, is_account, is_region
from keywatch.models import Actor, KeyEvent, KeyState
from keywatch.notify.hygiene import AGENT_CHARS, IDENTIFIER_CHARS, PRINCIPAL_CHARS, cap, one_line
from keywatch.validation import plain

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
CLOUDTRAIL_DETAIL_TYPES = frozenset({CLOUDTRAIL_DETAIL_TYPE, "AWS Service Event via CloudTrail"})
NATIVE_DELETION = "KMS CMK Deletion"
NATIVE_EXPIRATION = "KMS Imported Key Material Expiration"
KMS_EVENT_SOURCE = "kms.amazonaws.com"
EFS_SOURCE = "aws.elasticfilesystem"  # EFS's own calls, which keep the index current (keywatch.efs_events)
MAX_EVENT_BYTES = 256 * 1024  # an EventBridge event is at most 256 KB: a larger file is not an event
NEW_KEY_MATERIAL = "NEW_KEY_MATERIAL"

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
NATIVE_STATE = {NATIVE_DELETION: KeyState.DELETED, NATIVE_EXPIRATION: KeyState.PENDING_IMPORT}

REASON_CHARS = 300


class InvalidEvent(ValueError):
    """The input is not an EventBridge event keywatch can read. Its message is always one short line."""

    def __init__(self, reason: object) -> None:
        super().__init__(one_line(reason, REASON_CHARS))


# --- lenient readers for fields that only inform ----------------------------------------------------


def _text(limit: int) -> BeforeValidator:
    """A string field read leniently: anything but a string is absent; a string is capped."""

    def read(value: Any) -> str | None:
        return cap(value, limit) if isinstance(value, str) else None

    return BeforeValidator(read)


Identifier = Annotated[str | None, _text(IDENTIFIER_CHARS)]
Principal = Annotated[str | None, _text(PRINCIPAL_CHARS)]
Text = Annotated[str | None, _text(AGENT_CHARS)]


def _flag(value: Any) -> str | None:
    """``errorCode``: any value at all means the call failed; text is kept, anything else is named."""
    if value is None:
        return None
    return cap(value, IDENTIFIER_CHARS) if isinstance(value, str) else "(an errorCode that is not text)"


def _window(value: Any) -> int | None:
    """``pendingWindowInDays``: a small whole number, as a number or ASCII digits; anything else is absent."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 10_000 else None
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,5}", value):
        return int(value)
    return None


def _state(value: Any) -> KeyState | None:
    """A key state the record reports; one KMS has not defined (yet) says nothing."""
    if not isinstance(value, str):
        return None
    state = KeyState.read(value)
    return None if state == KeyState.UNKNOWN else state


def _account_or_none(value: Any) -> str | None:
    return value if is_account(value) else None


_CLOCK = re.compile(r"^([A-Za-z]{3,9}) ([0-9]{1,2}), ([0-9]{4}),? ([0-9]{1,2}):([0-9]{2}):([0-9]{2})\s*([AaPp][Mm])?$")
EPOCH_LIMIT = 1e14  # epoch milliseconds reach year 5138; anything larger is not a date


def lenient_datetime(value: Any) -> datetime | None:
    """CloudTrail's dates: ISO, epoch seconds or milliseconds, or "Apr 12, 2021 18:58:30 PM".

    Leniently: a date in a shape not seen before is absent (None), never a lost event. Dates in
    records are only context; DescribeKey reports the real ones.
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if abs(value) > EPOCH_LIMIT or (isinstance(value, float) and not math.isfinite(value)):
            return None  # (an int is compared as an int: float() of a 5,000-digit one overflows)
        seconds = value / 1000 if abs(value) >= 1e11 else value  # epoch milliseconds, as Java writes them
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (ValueError, OverflowError, OSError):
            return None
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        pass
    # "Apr 12, 2021 18:58:30 PM": a 24-hour clock with a meaningless AM/PM suffix, or a real 12-hour one.
    m = _CLOCK.fullmatch(text)
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


def _mapping(value: Any) -> Any:
    """A nested object that only informs: anything but an object reads as an empty one."""
    return value if isinstance(value, dict) else {}


# --- strict checks for fields that place the key -------------------------------------------------------


def _account(value: str) -> str:
    if value and not is_account(value):
        raise ValueError("not a 12-digit AWS account ID")
    return value


def _region(value: str) -> str:
    if not is_region(value):
        raise ValueError("not an AWS Region")
    return value


Account = Annotated[str, AfterValidator(_account)]
Region = Annotated[str, AfterValidator(_region)]
EventId = Annotated[str, Field(min_length=1, max_length=IDENTIFIER_CHARS)]


# --- the CloudTrail record ---------------------------------------------------------------------------------


class _Lenient(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


def _issuer_arn(value: Any) -> str | None:
    """``sessionContext.sessionIssuer.arn``: the role behind an assumed-role session, when it is text."""
    issuer = value.get("sessionIssuer") if isinstance(value, dict) else None
    arn = issuer.get("arn") if isinstance(issuer, dict) else None
    return cap(arn, PRINCIPAL_CHARS) if isinstance(arn, str) else None


class CloudTrailIdentity(_Lenient):
    type: Identifier = None
    arn: Principal = None
    account_id: Annotated[str | None, BeforeValidator(_account_or_none)] = Field(default=None, alias="accountId")
    invoked_by: Identifier = Field(default=None, alias="invokedBy")
    role_arn: Annotated[str | None, BeforeValidator(_issuer_arn)] = Field(default=None, alias="sessionContext")


def _read(mapping: dict[str, Any] | None, field: str, limit: int = IDENTIFIER_CHARS) -> str | None:
    """A text field of a record's parameters, capped; anything but text is absent."""
    value = (mapping or {}).get(field)
    return cap(value, limit) if isinstance(value, str) else None


class CloudTrailRecord(_Lenient):
    """The CloudTrail record EventBridge puts in ``detail``. Only what keywatch reads is typed."""

    event_id: EventId = Field(alias="eventID")
    event_name: EventId = Field(alias="eventName")
    event_source: Identifier = Field(default=None, alias="eventSource")
    event_time: datetime | None = Field(default=None, alias="eventTime")
    aws_region: Region | None = Field(default=None, alias="awsRegion")
    source_ip: Text = Field(default=None, alias="sourceIPAddress")
    user_agent: Text = Field(default=None, alias="userAgent")
    user_identity: Annotated[CloudTrailIdentity, BeforeValidator(_mapping)] = Field(
        default=CloudTrailIdentity(), alias="userIdentity"
    )
    error_code: Annotated[str | None, BeforeValidator(_flag)] = Field(default=None, alias="errorCode")
    error_message: Text = Field(default=None, alias="errorMessage")
    # Parameters differ by call: they are objects here, and read field by field, leniently, in key_event().
    request_parameters: dict[str, Any] | None = Field(default=None, alias="requestParameters")
    response_elements: dict[str, Any] | None = Field(default=None, alias="responseElements")
    additional_event_data: Annotated[dict[str, Any] | None, BeforeValidator(_mapping)] = Field(
        default=None, alias="additionalEventData"
    )
    resources: list[dict[str, Any]] | None = None
    recipient_account_id: Account | None = Field(default=None, alias="recipientAccountId")


class ServiceRecord(_Lenient):
    """Another AWS service's CloudTrail record (EFS's own calls, which keep the index current): the fields
    every record has, checked as for KMS, and its parameters as they were given (read by that service's code).
    Built on first use: a KMS event never needs it."""

    model_config = ConfigDict(defer_build=True)

    event_id: EventId = Field(alias="eventID")
    event_name: EventId = Field(alias="eventName")
    event_source: Identifier = Field(default=None, alias="eventSource")
    event_time: datetime | None = Field(default=None, alias="eventTime")
    aws_region: Identifier = Field(default=None, alias="awsRegion")
    error_code: Annotated[str | None, BeforeValidator(_flag)] = Field(default=None, alias="errorCode")
    request_parameters: dict[str, Any] | None = Field(default=None, alias="requestParameters")
    response_elements: dict[str, Any] | None = Field(default=None, alias="responseElements")
    recipient_account_id: Identifier = Field(default=None, alias="recipientAccountId")


class NativeDetail(_Lenient):
    key_id: Identifier = Field(default=None, alias="key-id")


# --- the envelope: a discriminated union ---------------------------------------------------------------------


class _Envelope(_Lenient):
    """What every EventBridge event carries. ``account`` is optional: events that reach SQS can lack it."""

    version: str | None = None
    id: EventId
    source: str = Field(max_length=IDENTIFIER_CHARS)
    account: Account = ""
    time: datetime
    region: Region
    resources: list[str] = []
    detail_type: str = Field(alias="detail-type", max_length=IDENTIFIER_CHARS)


class CloudTrailEvent(_Envelope):
    """A KMS call recorded by CloudTrail (``AWS API Call via CloudTrail`` or ``AWS Service Event via CloudTrail``)."""

    detail: CloudTrailRecord

    def key_event(self) -> KeyEvent:
        record = self.detail
        request, response = record.request_parameters or {}, record.response_elements or {}
        identity = record.user_identity
        account = record.recipient_account_id or self.account or identity.account_id
        region = record.aws_region or self.region

        key_resources = [
            _read(r, "ARN", PRINCIPAL_CHARS) for r in record.resources or [] if r.get("type") in (None, "AWS::KMS::Key")
        ]
        candidates = [
            _read(response, "keyId", PRINCIPAL_CHARS),
            *key_resources,
            _read(request, "keyId", PRINCIPAL_CHARS),
        ]
        key_arn, given = key_from([*candidates, *self.resources], account, region)
        ref = KeyRef.parse(key_arn) if key_arn else None

        reported = _state(response.get("keyState")) or STATE_AFTER.get(record.event_name)
        if record.error_code:
            reported = None  # a failed call changed nothing: it says nothing about the key's state
        return KeyEvent(
            event_id=record.event_id,
            event_name=record.event_name,
            kind="cloudtrail",
            event_time=record.event_time or self.time,
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
                role_arn=identity.role_arn,
                source_ip=record.source_ip,
                user_agent=record.user_agent,
            ),
            error_code=record.error_code,
            error_message=record.error_message,
            grant_id=_read(request, "grantId") or _read(record.additional_event_data, "grantId"),
            deletion_date=lenient_datetime(response.get("deletionDate")),
            pending_window_days=_window(request.get("pendingWindowInDays")),
            reported_key_state=reported,
            policy_document=request.get("policy") if isinstance(request.get("policy"), str) else None,
            import_type=_read(request, "importType"),
        )


class NativeKmsEvent(_Envelope):
    """An event KMS itself sends (``KMS CMK Deletion``, ``KMS Imported Key Material Expiration``, ...)."""

    detail: NativeDetail

    def key_event(self) -> KeyEvent:
        account = self.account or None
        key_arn, given = key_from([*self.resources, self.detail.key_id], account, self.region)
        ref = KeyRef.parse(key_arn) if key_arn else None
        return KeyEvent(
            event_id=self.id,
            event_name=self.detail_type,
            kind="native",
            event_time=self.time,
            key_arn=key_arn,
            key_ref=given,
            account=ref.account if ref else account,
            region=ref.region if ref else self.region,
            event_region=self.region,
            actor=Actor(type="AWSService", invoked_by=KMS_EVENT_SOURCE),
            reported_key_state=NATIVE_STATE.get(self.detail_type),
        )


class OtherEvent(_Envelope):
    """Any other event. Events are checked, not trusted: only KMS itself speaks for KMS keys."""

    detail: Any = None

    def key_event(self) -> KeyEvent:
        name = self.detail_type if self.source == "aws.kms" else f"{self.detail_type} from {self.source}"
        return KeyEvent(
            event_id=self.id,
            event_name=cap(name, IDENTIFIER_CHARS),
            kind="native",
            event_time=self.time,
            event_region=self.region,
            account=self.account or None,
        )


def _kind_of(raw: Any) -> str:
    """The union's discriminator: which of the three shapes an envelope claims to be."""
    if isinstance(raw, _Envelope):
        return {CloudTrailEvent: "cloudtrail", NativeKmsEvent: "native"}.get(type(raw), "other")
    if not isinstance(raw, dict) or raw.get("source") != "aws.kms":
        return "other"
    detail_type, detail = raw.get("detail-type"), raw.get("detail")
    if detail_type in CLOUDTRAIL_DETAIL_TYPES:
        if isinstance(detail, dict) and detail.get("eventSource") not in (None, KMS_EVENT_SOURCE):
            return "other"  # another service's record, under KMS's name
        return "cloudtrail"
    if isinstance(detail_type, str) and detail_type.startswith("KMS "):
        return "native"
    return "other"


KmsEvent = Annotated[
    Annotated[CloudTrailEvent, Tag("cloudtrail")]
    | Annotated[NativeKmsEvent, Tag("native")]
    | Annotated[OtherEvent, Tag("other")],
    Discriminator(_kind_of),
]
KmsEnvelope = CloudTrailEvent | NativeKmsEvent | OtherEvent  # what validating a KmsEvent gives
KMS_EVENT: TypeAdapter[KmsEnvelope] = TypeAdapter(KmsEvent)

_TAGS = frozenset({"cloudtrail", "native", "other"})
READ_ERRORS = (ValueError, TypeError, OverflowError, RecursionError)  # ValidationError is a ValueError


def _first_error(exc: ValidationError) -> str:
    """One line for the first problem, in words: where (the union's tag left out) and what; no input quoted."""
    return one_line(plain(exc, whole="the event", skip=_TAGS, show_input=False))


def key_from(candidates: list[str | None], account: str | None, region: str | None) -> tuple[str | None, str | None]:
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
        try:
            if ref.kind == "key_id" and account and region:
                return ref.located(account, region).arn, given
            if ref.is_alias and (ref.account or account) and (ref.region or region):
                return ref.located(account or "", region or "").arn, given
        except InvalidKeyIdentifier:
            continue
    return None, given


def parse_envelope(raw: Any) -> KmsEnvelope:
    """Validate the EventBridge envelope (one of :data:`KmsEvent`). Raises :class:`InvalidEvent`."""
    if not isinstance(raw, dict):
        raise InvalidEvent("an EventBridge event must be a JSON object")
    try:
        return KMS_EVENT.validate_python(raw)
    except ValidationError as exc:
        raise InvalidEvent(_first_error(exc)) from exc
    except READ_ERRORS as exc:
        raise InvalidEvent(f"cannot read the event ({type(exc).__name__})") from exc


def is_efs_envelope(envelope: KmsEnvelope) -> bool:
    """An EFS call (read by :mod:`keywatch.efs_events`), not a KMS event."""
    return envelope.source == EFS_SOURCE


def to_key_event(envelope: KmsEnvelope) -> KeyEvent:
    """The :class:`KeyEvent` an envelope stands for. Unwatched events still parse; the engine ignores them."""
    try:
        return envelope.key_event()
    except ValidationError as exc:
        raise InvalidEvent(_first_error(exc)) from exc
    except READ_ERRORS as exc:
        raise InvalidEvent(f"cannot read the event ({type(exc).__name__})") from exc


def parse_event(raw: Any) -> KeyEvent:
    """Raw EventBridge event (a dict) to :class:`KeyEvent`. Raises :class:`InvalidEvent`, nothing else."""
    return to_key_event(parse_envelope(raw))


def load_event_file(text: str) -> dict[str, Any]:
    """The JSON object in ``text``. Raises :class:`InvalidEvent` with a one-line reason."""
    if not text.strip():
        raise InvalidEvent("the file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    except RecursionError as exc:
        raise InvalidEvent("not an EventBridge event (its JSON is nested too deeply)") from exc
    except ValueError as exc:  # Python refuses to read an integer of more than 4,300 digits
        digits = "limit" in str(exc) and "digits" in str(exc)
        why = "a number in it has more digits than any event field can hold" if digits else "it could not be read"
        raise InvalidEvent(f"not an EventBridge event ({why})") from exc
    if not isinstance(data, dict):
        raise InvalidEvent("an EventBridge event must be a JSON object")
    return data


def load_event_path(path: str | Path) -> dict[str, Any]:
    """The JSON object in a file. Raises :class:`InvalidEvent` (one line) or ``OSError`` (it can't be read).

    At most 256 KB is read: a larger file is not an EventBridge event, whatever it holds.
    """
    with Path(path).open("rb") as handle:
        data = handle.read(MAX_EVENT_BYTES + 1)
    if len(data) > MAX_EVENT_BYTES:
        raise InvalidEvent("larger than 256 KB, the most an EventBridge event can be")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidEvent("not UTF-8 text") from exc
    return load_event_file(text)


def read_event_file(path: str | Path) -> KeyEvent:
    """The KMS event in a file (see :func:`load_event_path`). Raises :class:`InvalidEvent` or ``OSError``."""
    return parse_event(load_event_path(path))
