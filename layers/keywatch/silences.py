"""A key's silence: alerts on it are recorded but not sent until it ends (set from Slack, cleared with
``keywatch silences --clear``). Its own module, so that checking for one doesn't load approve mode."""

from __future__ import annotations

from pydantic import BaseModel


class Silence(BaseModel):
    """Alerts on a key are recorded but not sent until ``until`` (``sk="silence"``). Countdowns still are."""

    key_arn: str
    until: int
    set_by: str
    set_by_name: str | None = None
    set_at: int
    via: str = "slack"
