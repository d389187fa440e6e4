"""Secrets never leave: every Slack webhook URL or token keywatch has seen is scrubbed from text.

Kept apart from the Slack adapter so that code which only needs scrubbing never imports slack-sdk.
"""

from __future__ import annotations

import re
import threading

_SHAPES = re.compile(
    r"https?://[^\s\"'<>]*/(?:services|workflows|triggers)/[^\s\"'<>]+"  # webhook URLs
    r"|xox[a-z]-[A-Za-z0-9-]+"  # tokens
)


class _Secrets:
    def __init__(self) -> None:
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        if secret:
            with self._lock:
                self._known.add(secret)

    def redact(self, text: str) -> str:
        with self._lock:
            known = sorted(self._known, key=len, reverse=True)
        for secret in known:
            text = text.replace(secret, "[redacted]")
        return _SHAPES.sub("[redacted]", text)


_SECRETS = _Secrets()


def redact(text: object) -> str:
    """``text`` with every Slack secret keywatch has seen (and anything shaped like one) removed."""
    return _SECRETS.redact(str(text))
