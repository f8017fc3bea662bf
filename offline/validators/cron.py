"""How often a cron schedule runs: the gaps between its runs over a day, for the schedules the
platform uses (minute and hour fields; the day, month and weekday fields `*`), read as
Kubernetes' CronJob controller and Velero read them (robfig/cron's standard five fields)."""

from __future__ import annotations

from itertools import pairwise

DAY_MINUTES = 24 * 60
MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *"}
"""The shorthands Kubernetes' CronJob and Velero's Schedule accept (robfig/cron `parser.go`)."""


class CronError(ValueError):
    """A schedule this reader does not judge: it says which and why."""


def _values(field: str, low: int, high: int) -> list[int]:
    values: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = int(first), int(last)
        else:
            start = int(base)
            end = high if step_text else start
        if not (low <= start <= end <= high) or step < 1:
            raise CronError(f"{field!r}: outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return sorted(values)


def gaps(expression: str) -> tuple[int, int]:
    """The shortest and the longest time between two runs, in minutes (the longest is what
    bounds the recovery point). CronError for anything but `<minutes> <hours> * * *`."""
    fields = MACROS.get(expression.strip(), expression).split()
    if len(fields) != 5 or fields[2:] != ["*", "*", "*"]:
        raise CronError(f"{expression!r}: expected '<minutes> <hours> * * *'")
    try:
        minutes = _values(fields[0], 0, 59)
        hours = _values(fields[1], 0, 23)
    except ValueError as exc:
        raise CronError(f"{expression!r}: {exc}") from exc
    runs = sorted(h * 60 + m for h in hours for m in minutes)
    between = [b - a for a, b in pairwise(runs)]
    between.append(runs[0] + DAY_MINUTES - runs[-1])
    return min(between), max(between)
