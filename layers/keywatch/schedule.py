"""How long an EventBridge schedule lets pass between two sweeps (the index's entries live two of these).

Read by the settings (a schedule keywatch can't read is a configuration error) and by the sweep's index.
"""

from __future__ import annotations

import re
from datetime import timedelta

DEFAULT_SWEEP_INTERVAL = timedelta(hours=6)  # the template's SweepSchedule default, rate(6 hours)
MIN_TTL = timedelta(hours=1)  # a sweep of a large estate can outlast a very short schedule

_RATE = re.compile(r"^rate\(\s*([0-9]+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


def sweep_interval(schedule: str | None) -> timedelta:
    """The longest time between two sweeps that an EventBridge schedule expression allows.

    ``rate(N unit)`` is exact. For ``cron(...)`` the widest field decides, erring long (an entry that lives
    too long costs one live confirmation that finds nothing; one that expires too soon hides a file system):
    a restricted month: a year; a day of the month: 31 days; a day of the week: 7 days; hours ``*``: an
    hour; hours ``*/N``: N hours; any other hours: a day. No schedule: the template's default, 6 hours.
    """
    text = (schedule or "").strip().lower()
    if not text:
        return DEFAULT_SWEEP_INTERVAL
    if rate := _RATE.fullmatch(text):
        return int(rate[1]) * _UNITS[rate[2].removesuffix("s")]
    if cron := _CRON.fullmatch(text):
        fields = cron[1].split()
        if len(fields) == 6:
            _, hours, day_of_month, month, day_of_week, _ = fields
            if month != "*":
                return timedelta(days=366)
            if day_of_month not in ("*", "?"):
                return timedelta(days=31)
            if day_of_week not in ("*", "?"):
                return timedelta(days=7)
            if hours == "*":
                return timedelta(hours=1)
            if step := re.fullmatch(r"(?:\*|[0-9]+)/([0-9]+)", hours):
                return timedelta(hours=max(1, int(step[1])))
            return timedelta(days=1)
    raise ValueError(f"{schedule!r} is not an EventBridge schedule expression (rate(...) or cron(...))")
