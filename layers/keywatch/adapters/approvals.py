"""Approvals, silences and the interaction log, in the incidents table (or in memory when there is none).

DynamoDB layout (partition key ``pk`` = the key ARN, sort key ``sk``), beside the incident's own items:
- ``sk="approval#<token>"``: one button's record. Written when the alert is sent; a click claims it
  with a conditional update (``pending`` -> ``approved``), so each button works once; a runner takes a
  lease on it (``running``) and ends it ``done`` or ``failed``.
- ``sk="approvalset#<set id>"``: the message the buttons are on (the payload as posted, channel and ts),
  so that the endpoint and the worker can both rewrite it with the decisions.
- ``sk="silence"``: the key's silence (until, who set it). One per key: a new one replaces it.
- ``sk="interaction#<epoch ns>#<id>"``: each click (approved, refused, repeated, expired), acknowledgement,
  silence and result, with the Slack user and the time. Written once, never changed.

Items carry ``expires_at`` (epoch seconds) for a TTL, should the table enable one.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Protocol

from keywatch.adapters.records import KEEP_SECONDS, encode
from keywatch.adapters.silences import DynamoSilences, MemorySilences, SilenceStore
from keywatch.approvals.models import Approval, ApprovalSet, Interaction, Status
from keywatch.models import ActionResult


def approval_sk(token: str) -> str:
    return f"approval#{token}"


def set_sk(set_id: str) -> str:
    return f"approvalset#{set_id}"


def interaction_sk(item: Interaction) -> str:
    """Sorted by when it was written (nanoseconds: two clicks in one second keep their order)."""
    return f"interaction#{time.time_ns():020d}#{uuid.uuid4().hex[:8]}"


class ApprovalStore(SilenceStore, Protocol):
    def issue(self, approval_set: ApprovalSet, approvals: list[Approval]) -> None: ...
    def set_posted(self, key_arn: str, set_id: str, channel: str | None, ts: str | None) -> None: ...
    def get(self, key_arn: str, token: str) -> Approval | None: ...
    def get_set(self, key_arn: str, set_id: str) -> ApprovalSet | None: ...
    def of_set(self, key_arn: str, set_id: str) -> list[Approval]: ...
    def claim(
        self, key_arn: str, token: str, user: str, name: str | None, now: int, response_url: str | None
    ) -> Approval | None: ...
    def release(self, key_arn: str, token: str) -> bool: ...
    def start(self, key_arn: str, token: str, now: int, lease_seconds: int) -> Approval | None: ...
    def progress(
        self, key_arn: str, token: str, status: Status, results: list[ActionResult], summary: str | None
    ) -> None: ...
    def log(self, item: Interaction) -> None: ...
    def interactions(self) -> list[Interaction]: ...


def _claimable(item: Approval, now: int) -> bool:
    return item.status == "pending" and item.valid_until > now


def _startable(item: Approval, now: int) -> bool:
    return item.status in ("approved", "queued") or (item.status == "running" and (item.lease_until or 0) < now)


class MemoryApprovalStore(MemorySilences):
    """The same store in memory: for a CLI run with no table, and for tests."""

    def __init__(self) -> None:
        super().__init__()
        self.approvals: dict[tuple[str, str], Approval] = {}
        self.sets: dict[tuple[str, str], ApprovalSet] = {}
        self.log_items: list[Interaction] = []  # guarded by the lock MemorySilences made

    def issue(self, approval_set: ApprovalSet, approvals: list[Approval]) -> None:
        with self._lock:
            self.sets[(approval_set.key_arn, approval_set.set_id)] = approval_set
            for item in approvals:
                self.approvals.setdefault((item.key_arn, item.token), item)

    def set_posted(self, key_arn: str, set_id: str, channel: str | None, ts: str | None) -> None:
        with self._lock:
            found = self.sets.get((key_arn, set_id))
            if found is not None:
                self.sets[(key_arn, set_id)] = found.model_copy(update={"channel": channel, "ts": ts})

    def get(self, key_arn: str, token: str) -> Approval | None:
        return self.approvals.get((key_arn, token))

    def get_set(self, key_arn: str, set_id: str) -> ApprovalSet | None:
        return self.sets.get((key_arn, set_id))

    def of_set(self, key_arn: str, set_id: str) -> list[Approval]:
        return [a for (k, _), a in self.approvals.items() if k == key_arn and a.set_id == set_id]

    def _swap(self, key_arn: str, token: str, test: Any, update: dict[str, Any]) -> Approval | None:
        with self._lock:
            item = self.approvals.get((key_arn, token))
            if item is None or not test(item):
                return None
            item = item.model_copy(update=update)
            self.approvals[(key_arn, token)] = item
            return item

    def claim(
        self, key_arn: str, token: str, user: str, name: str | None, now: int, response_url: str | None
    ) -> Approval | None:
        update = {"status": "approved", "by_user": user, "by_name": name, "approved_at": now}
        if response_url:
            update["response_url"] = response_url
        return self._swap(key_arn, token, lambda a: _claimable(a, now), update)

    def release(self, key_arn: str, token: str) -> bool:
        update = {"status": "pending", "by_user": None, "by_name": None, "approved_at": None}
        return self._swap(key_arn, token, lambda a: a.status == "approved", update) is not None

    def start(self, key_arn: str, token: str, now: int, lease_seconds: int) -> Approval | None:
        update = {"status": "running", "lease_until": now + lease_seconds}
        return self._swap(key_arn, token, lambda a: _startable(a, now), update)

    def progress(
        self, key_arn: str, token: str, status: Status, results: list[ActionResult], summary: str | None
    ) -> None:
        update = {"status": status, "results": list(results), "summary": summary, "lease_until": None}
        self._swap(key_arn, token, lambda a: True, update)

    def log(self, item: Interaction) -> None:
        with self._lock:
            self.log_items.append(item)

    def interactions(self) -> list[Interaction]:
        return sorted(self.log_items, key=lambda i: (i.key_arn, i.at))


class DynamoApprovalStore(DynamoSilences):
    """The store in the incidents table. Every change of an approval's status is a conditional update."""

    # --- approvals ---------------------------------------------------------------------------------

    def issue(self, approval_set: ApprovalSet, approvals: list[Approval]) -> None:
        keep = approval_set.created_at + KEEP_SECONDS
        for item in approvals:
            self._put(encode(item.key_arn, approval_sk(item.token), item, keep), "attribute_not_exists(pk)")
        self._put(encode(approval_set.key_arn, set_sk(approval_set.set_id), approval_set, keep))

    def set_posted(self, key_arn: str, set_id: str, channel: str | None, ts: str | None) -> None:
        self._update(key_arn, set_sk(set_id), {"channel": channel, "ts": ts}, "attribute_exists(pk)")

    def get(self, key_arn: str, token: str) -> Approval | None:
        raw = self._get(key_arn, approval_sk(token))
        return Approval.model_validate(raw) if raw else None

    def get_set(self, key_arn: str, set_id: str) -> ApprovalSet | None:
        raw = self._get(key_arn, set_sk(set_id))
        return ApprovalSet.model_validate(raw) if raw else None

    def of_set(self, key_arn: str, set_id: str) -> list[Approval]:
        found = [Approval.model_validate(raw) for raw in self._query(key_arn, "approval#")]
        return [a for a in found if a.set_id == set_id]

    def claim(
        self, key_arn: str, token: str, user: str, name: str | None, now: int, response_url: str | None
    ) -> Approval | None:
        values: dict[str, Any] = {"status": "approved", "by_user": user, "by_name": name, "approved_at": now}
        if response_url:
            values["response_url"] = response_url
        raw = self._update(
            key_arn,
            approval_sk(token),
            values,
            "#status = :pending AND valid_until > :now",
            {":pending": "pending", ":now": now},
        )
        return Approval.model_validate(raw) if raw else None

    def release(self, key_arn: str, token: str) -> bool:
        values: dict[str, Any] = {"status": "pending", "by_user": None, "by_name": None, "approved_at": None}
        return (
            self._update(key_arn, approval_sk(token), values, "#status = :approved", {":approved": "approved"})
            is not None
        )

    def start(self, key_arn: str, token: str, now: int, lease_seconds: int) -> Approval | None:
        raw = self._update(
            key_arn,
            approval_sk(token),
            {"status": "running", "lease_until": now + lease_seconds},
            "#status IN (:approved, :queued) OR (#status = :running AND lease_until < :now)",
            {":approved": "approved", ":queued": "queued", ":running": "running", ":now": now},
        )
        return Approval.model_validate(raw) if raw else None

    def progress(
        self, key_arn: str, token: str, status: Status, results: list[ActionResult], summary: str | None
    ) -> None:
        self._update(
            key_arn,
            approval_sk(token),
            {
                "status": status,
                "results": [r.model_dump(mode="json") for r in results],
                "summary": summary,
                "lease_until": None,
            },
            "attribute_exists(pk)",
        )

    # --- the record --------------------------------------------------------------------------------

    def log(self, item: Interaction) -> None:
        self._put(encode(item.key_arn, interaction_sk(item), item, item.at + KEEP_SECONDS))

    def interactions(self) -> list[Interaction]:
        found = self._scan("begins_with(sk, :i)", {":i": "interaction#"})
        return sorted((Interaction.model_validate(raw) for raw in found), key=lambda i: (i.key_arn, i.at))
