"""Validation errors in plain words: what is wrong and where, for a person fixing a file or a setting.

pydantic says ``detail.eventID: Field required``; a person should read ``detail.eventID is missing``.
Used wherever input is checked at the edge (events, the fleet file, settings).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from keywatch.keys import ACCOUNT

# What a pattern means, in words, for the patterns keywatch's models use (a person shouldn't have to read a regex).
FORMS = {
    ACCOUNT.pattern: "a 12-digit AWS account ID",
    r"^[a-z]{2}(-[a-z]+)+-[0-9]+$": "an AWS Region name (us-east-1)",
    r"^fs-[0-9a-f]{8,40}$": "an EFS file system ID (fs- and 8 to 40 hex digits)",
    r"^[A-Za-z0-9_-]{1,128}$": "an ID of letters, digits, - and _ (at most 128)",
    r"^S[A-Z0-9]{2,30}$": "a Slack user group ID (S0123ABCD)",
    r"^[UW][A-Z0-9]{2,31}$": "a Slack user ID (U0123ABCD)",
    r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$": "a KMS key ARN",
}


def where(loc: Sequence[int | str]) -> str:
    """``("accounts", 0, "id")`` -> ``accounts[0].id``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _words(error: Any, show_input: bool = True) -> str:
    """One pydantic error detail (an ``ErrorDetails``) as a phrase that follows the field's name.

    With ``show_input`` false the offending value is never quoted (it may be hostile text)."""
    kind, ctx, given = error["type"], error.get("ctx") or {}, error.get("input")
    got = f", not {_shown(given)}" if show_input else ""
    fixed = {
        "missing": "is missing",
        "extra_forbidden": "is not a field keywatch knows (check its spelling)",
        "string_type": "must be text",
        "int_type": "must be a whole number",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "dict_type": "must be a mapping (name: value)",
        "model_type": "must be a mapping (name: value)",
        "model_attributes_type": "must be a mapping (name: value)",
        "list_type": "must be a list",
        "datetime_type": "must be a date and time",
        "datetime_parsing": "must be a date and time",
        "datetime_from_date_parsing": "must be a date and time",
    }
    if kind in fixed:
        return fixed[kind]
    if kind == "literal_error" or kind == "enum":
        return f"must be {ctx.get('expected', 'one of the allowed values')}{got}"
    if kind == "string_pattern_mismatch":
        value = f"{_shown(given)} is" if show_input else "is"
        form = FORMS.get(str(ctx.get("pattern")))
        return f"{value} not {form}" if form else f"{value} not in the expected form (pattern {ctx.get('pattern')})"
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {ctx.get('ge', ctx.get('gt'))}{got}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {ctx.get('le', ctx.get('lt'))}{got}"
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        return f"must have at least {n} item{'s' if n != 1 else ''}"
    if kind == "too_long":
        n = ctx.get("max_length")
        return f"must have at most {n} item{'s' if n != 1 else ''}"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return ": " + message[len(prefix) :]  # a sentence of our own validators: after a colon
    return message.replace("Input should be", "should be")


def plain(
    exc: ValidationError,
    prefix: str = "",
    whole: str = "the file",
    skip: frozenset[str] = frozenset(),
    show_input: bool = True,
) -> str:
    """The first problem in words, naming the field, and how many more there are.

    ``prefix`` is put before the field's path (for example ``"detail"``, when the model was a part);
    ``whole`` names what was checked when the problem is with all of it (``the file must be a mapping``);
    ``skip`` leaves out path parts that name no field (a tagged union's tags); with ``show_input`` false
    no input value is quoted.
    """
    errors = exc.errors(include_url=False, include_input=show_input)
    if not errors:
        return str(exc)
    first = errors[0]
    loc = [part for part in first["loc"] if str(part) not in skip]
    path = where([*([prefix] if prefix else []), *loc])
    words = _words(first, show_input)
    if words.startswith(": "):
        text = f"{path}{words}" if path else words[2:]
    else:
        text = f"{path} {words}" if path else f"{whole} {words}"
    more = len(errors) - 1
    return text + (f" (and {more} more problem{'s' if more != 1 else ''})" if more else "")
