"""The staff's business hours: whether a person is at work now, and when they are back.

Written compactly in the settings (`staff_hours`), in the staff's time zone: days, then a
time range, several spans separated by commas: "mon-fri 09:00-18:00" or
"mon-fri 09:00-18:00, sat 09:00-13:00".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(
    r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+"
    r"(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$"
)


@dataclass(frozen=True)
class Span:
    weekdays: frozenset[int]  # Monday is 0
    start: time
    end: time


def parse(spec: str) -> tuple[Span, ...]:
    """The spans of a compact hours string; a ValueError says what could not be read."""
    spans = []
    for part in (p.strip().lower() for p in spec.split(",")):
        found = _SPAN.match(part)
        if found is None or found["first"] not in DAYS or (found["last"] or "mon") not in DAYS:
            raise ValueError(f"cannot read business hours {part!r}; e.g. 'mon-fri 09:00-18:00'")
        first = DAYS.index(found["first"])
        last = DAYS.index(found["last"]) if found["last"] else first
        weekdays = {(first + i) % 7 for i in range((last - first) % 7 + 1)}
        start, end = (
            time.fromisoformat(f"{found['start']:0>5}"),
            time.fromisoformat(f"{found['end']:0>5}"),
        )
        if end <= start:
            raise ValueError(f"business hours {part!r} end before they start")
        spans.append(Span(frozenset(weekdays), start, end))
    return tuple(spans)


def is_open(spec: str, zone: str, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(zone))
    return any(
        local.weekday() in span.weekdays and span.start <= local.time() < span.end
        for span in parse(spec)
    )


def next_opening(spec: str, zone: str, now: datetime) -> datetime:
    """When staff are next at work after `now` (aware, in the staff's time zone)."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    spans = parse(spec)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        starts = sorted(
            datetime.combine(day, span.start, tzinfo=tz)
            for span in spans
            if day.weekday() in span.weekdays
        )
        for start in starts:
            if start > local:
                return start
    raise ValueError("business hours have no opening in a week")  # parse refuses empty specs
