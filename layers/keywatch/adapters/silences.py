"""Where a key's silence is kept (``sk="silence"`` in the incidents table, or memory when there is none).

Apart from the approval store (:mod:`keywatch.adapters.approvals`, which is a silence store too) so that
every alert can check for a silence without loading approve mode.
"""

from __future__ import annotations

import threading
from typing import Protocol

from keywatch.adapters.records import KEEP_SECONDS, Records, encode
from keywatch.iam import needs
from keywatch.silences import Silence

SILENCE = "silence"


class SilenceStore(Protocol):
    def silence(self, silence: Silence) -> None: ...
    def silence_of(self, key_arn: str) -> Silence | None: ...
    def silences(self) -> list[Silence]: ...
    def clear_silence(self, key_arn: str) -> bool: ...


class MemorySilences:
    """Silences in memory: for a CLI run with no table, and for tests."""

    def __init__(self) -> None:
        self._silences: dict[str, Silence] = {}
        self._lock = threading.Lock()

    def silence(self, silence: Silence) -> None:
        with self._lock:
            self._silences[silence.key_arn] = silence

    def silence_of(self, key_arn: str) -> Silence | None:
        return self._silences.get(key_arn)

    def silences(self) -> list[Silence]:
        return sorted(self._silences.values(), key=lambda s: s.key_arn)

    def clear_silence(self, key_arn: str) -> bool:
        with self._lock:
            return self._silences.pop(key_arn, None) is not None


class DynamoSilences(Records):
    """Silences in the incidents table: one item per key, replaced by a new one."""

    def silence(self, silence: Silence) -> None:
        self._put(encode(silence.key_arn, SILENCE, silence, silence.until + KEEP_SECONDS))

    def silence_of(self, key_arn: str) -> Silence | None:
        raw = self._get(key_arn, SILENCE)
        return Silence.model_validate(raw) if raw else None

    def silences(self) -> list[Silence]:
        found = self._scan("sk = :silence", {":silence": SILENCE})
        return sorted((Silence.model_validate(raw) for raw in found), key=lambda s: s.key_arn)

    @needs("dynamodb:DeleteItem", scope="state")
    def clear_silence(self, key_arn: str) -> bool:
        response = self._db.delete_item(
            TableName=self.table_name, Key=self._key(key_arn, SILENCE), ReturnValues="ALL_OLD"
        )
        return bool(response.get("Attributes"))
