"""When an alert is sent in approve mode: a durable approval record per button, then the buttons.

The records are written before the message is posted, so that a click always finds its record. A
button's value holds only its record's token (random, 128 bits) and the key's ARN.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keywatch.adapters.approvals import ApprovalStore
from keywatch.approvals.models import Approval, ApprovalSet
from keywatch.approvals.offer import offers
from keywatch.models import EventResult
from keywatch.notify import buttons


def new_token() -> str:
    return secrets.token_urlsafe(16)


@dataclass(frozen=True)
class Issued:
    key_arn: str
    set_id: str
    buttons: int


class ButtonIssuer:
    def __init__(self, store: ApprovalStore, valid_hours: int = 72, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._valid_seconds = valid_hours * 3600
        self._clock = clock

    def attach(self, result: EventResult, payload: dict[str, Any]) -> tuple[dict[str, Any], Issued | None]:
        """The payload with its buttons, their records written; unchanged when the result offers none."""
        offered = offers(result)
        if not offered or not result.key_arn:
            return payload, None
        now = int(self._clock())
        set_id = new_token()
        approvals = [
            Approval(
                token=new_token(),
                key_arn=result.key_arn,
                choice=offer.choice,
                set_id=set_id,
                event_id=result.event_id,
                event_name=result.event_name,
                targets=list(offer.targets),
                offered=[o.choice for o in offered],
                created_at=now,
                valid_until=now + self._valid_seconds,
            )
            for offer in offered
        ]
        final = buttons.with_buttons(payload, approvals)
        self._store.issue(
            ApprovalSet(
                set_id=set_id,
                key_arn=result.key_arn,
                event_id=result.event_id,
                payload=buttons.dumps(final),
                tokens=[a.token for a in approvals],
                created_at=now,
            ),
            approvals,
        )
        return final, Issued(result.key_arn, set_id, len(approvals))

    def posted(self, issued: Issued, channel: str | None, ts: str | None) -> None:
        """Where the message went (bot token only), so that it can be rewritten with chat.update later."""
        if channel and ts:
            self._store.set_posted(issued.key_arn, issued.set_id, channel, ts)
