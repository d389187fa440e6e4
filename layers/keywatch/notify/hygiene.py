"""Text hygiene: untrusted text made safe to show, in one place, for every channel.

Names, tags, principals, user agents, error messages and event fields come from AWS resources or
from whoever made a KMS call: they are untrusted. Before they reach a person (the SNS subject and
body, Slack, the CLI's one-line errors) they go through :func:`one_line`, which neutralises

- C0 and C1 control characters (NUL, ESC, BEL, backspace, carriage return, newline, NEL, ...);
- U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR, which start a new line in many clients;
- U+061C ARABIC LETTER MARK and every bidirectional mark, embedding, override and isolate
  (U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), which can make ``evil.exe`` read ``exe.live``;
- U+FEFF (a byte-order mark in the middle of text is invisible).

Each run of them becomes one space, so a field can never break a line or reorder what follows it.
:func:`cap` bounds a text's length, so that no field can push a message past SNS's 256 KB or
Slack's Block Kit limits. Pure functions, no imports beyond ``re``.
"""

from __future__ import annotations

import re

# Each character class named in the module docstring, and nothing else.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]+")
ELLIPSIS = "\u2026"

# Caps for the untrusted fields of an event, in characters. An EventBridge event is at most 256 KB;
# these keep every field to what a person can read, whatever the event carried.
IDENTIFIER_CHARS = 256  # event IDs, event names, grant IDs, key references
PRINCIPAL_CHARS = 2048  # ARNs (an assumed-role session ARN can be long)
AGENT_CHARS = 1024  # user agents, source IP addresses, error codes and messages
REASON_CHARS = 4000  # a result's reason: keywatch's own sentence, plus names it quotes
LINE_CHARS = 4096  # one line of the SNS e-mail text


def one_line(value: object, limit: int | None = None) -> str:
    """``value`` as one line of plain text: unsafe characters neutralised, trimmed, at most ``limit`` long."""
    text = UNSAFE.sub(" ", "" if value is None else str(value)).strip()
    return cap(text, limit) if limit is not None else text


def neutral(value: object, limit: int | None = None) -> str:
    """Like :func:`one_line`, but keeps the text's own leading and trailing spaces (for indented lines)."""
    text = UNSAFE.sub(" ", "" if value is None else str(value))
    return cap(text, limit) if limit is not None else text


def cap(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending with an ellipsis when something was cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + ELLIPSIS if limit > 0 else ""


def cap_bytes(text: str, limit: int) -> str:
    """At most ``limit`` bytes of UTF-8, cut on a character boundary, with an ellipsis when cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = max(0, limit - len(ELLIPSIS.encode("utf-8")))
    return data[:room].decode("utf-8", "ignore").rstrip() + ELLIPSIS


def is_clean(text: str) -> bool:
    """True when ``text`` holds none of the characters :func:`one_line` neutralises."""
    return UNSAFE.search(text) is None
