"""Business time: the instance's working hours, holidays and time zone (crmcore settings)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: How far ahead a due time is looked for before giving up (no working hours at all).
HORIZON_DAYS = 3 * 366


@dataclass(frozen=True)
class BusinessCalendar:
    """Working hours per weekday (0 = Monday), holidays and the zone they are meant in.

    A calendar without working hours counts every minute (a 24x7 desk).
    """

    zone: dt.tzinfo
    hours: dict[int, tuple[dt.time, dt.time]] = field(default_factory=dict)
    holidays: frozenset[dt.date] = frozenset()

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> BusinessCalendar:
        try:
            zone: dt.tzinfo = ZoneInfo(str(settings.get("time_zone") or "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            zone = dt.UTC
        hours: dict[int, tuple[dt.time, dt.time]] = {}
        for day, span in (settings.get("working_hours") or {}).items():
            if day not in DAYS or not isinstance(span, list | tuple) or len(span) != 2:
                continue
            try:
                start, end = (dt.time.fromisoformat(str(v)) for v in span)
            except ValueError:
                continue
            if end > start:
                hours[DAYS.index(day)] = (start, end)
        holidays = set()
        for item in settings.get("holidays") or ():
            value = item.get("date") if isinstance(item, dict) else item
            try:
                holidays.add(dt.date.fromisoformat(str(value)))
            except ValueError:
                continue
        return cls(zone=zone, hours=hours, holidays=frozenset(holidays))

    def windows(self, start: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Working periods (UTC) from ``start`` on, the first one clipped to ``start``."""
        local_day = start.astimezone(self.zone).date()
        for offset in range(HORIZON_DAYS):
            day = local_day + dt.timedelta(days=offset)
            span = self.hours.get(day.weekday())
            if span is None or day in self.holidays:
                continue
            begin = dt.datetime.combine(day, span[0], self.zone).astimezone(dt.UTC)
            end = dt.datetime.combine(day, span[1], self.zone).astimezone(dt.UTC)
            if end <= start:
                continue
            yield max(begin, start), end

    def add(self, start: dt.datetime, minutes: float) -> dt.datetime:
        """The moment ``minutes`` of business time after ``start``."""
        remaining = dt.timedelta(minutes=minutes)
        if not self.hours:
            return start + remaining
        for begin, end in self.windows(start):
            if end - begin >= remaining:
                return begin + remaining
            remaining -= end - begin
        return start + dt.timedelta(minutes=minutes)  # no working day within the horizon

    def minutes_between(self, start: dt.datetime, end: dt.datetime) -> float:
        """Business minutes from ``start`` to ``end`` (negative when ``end`` is earlier)."""
        if end < start:
            return -self.minutes_between(end, start)
        if not self.hours:
            return (end - start).total_seconds() / 60
        total = 0.0
        for begin, finish in self.windows(start):
            if begin >= end:
                break
            total += (min(finish, end) - begin).total_seconds() / 60
        return total
