"""Date buckets (day, week, month, quarter, year) in the instance's time zone, as SQL.

PostgreSQL converts with ``AT TIME ZONE`` and ``date_trunc``. SQLite has no time zone data, so
a timestamp is shifted by the zone's UTC offset, which changes only at the zone's transitions
(daylight saving time): the shift is a ``CASE`` over the transitions between the first and the
last timestamp the report reads - usually one or two branches. Weeks start on Monday. Every
bucket is named by its first day (``2026-04-01`` for April or the second quarter).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, String, case, cast, func, literal

#: Days between checks for a change of UTC offset; zones change it at most a few times a year.
_STEP = dt.timedelta(days=7)


def transitions(zone: ZoneInfo, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """UTC instants in ``[start, end]`` where ``zone``'s offset changes (to the second)."""
    found: list[dt.datetime] = []
    here = start
    offset = here.astimezone(zone).utcoffset()
    while here < end:
        step = min(here + _STEP, end)
        if step.astimezone(zone).utcoffset() != offset:
            low, high = here, step
            while high - low > dt.timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            high = high.replace(microsecond=0)
            found.append(high)
            offset = high.astimezone(zone).utcoffset()
        here = step
    return found


def _offset(zone: ZoneInfo, at: dt.datetime) -> str:
    delta = at.astimezone(zone).utcoffset() or dt.timedelta()
    return f"{int(delta.total_seconds()):+d} seconds"


def sqlite_local(column: Any, zone_name: str, bounds: tuple[Any, Any]) -> Any:
    """``column`` (UTC) as local time text in ``zone_name``, for SQLite."""
    zone = ZoneInfo(zone_name)
    low, high = bounds
    if low is None or high is None:
        return func.datetime(column, _offset(zone, dt.datetime.now(dt.UTC)))
    cuts = transitions(zone, low, high + dt.timedelta(seconds=1))
    if not cuts:
        return func.datetime(column, _offset(zone, low))
    whens = [(column < cut, _offset(zone, cut - dt.timedelta(seconds=1))) for cut in cuts]
    return func.datetime(column, case(*whens, else_=_offset(zone, cuts[-1])))


def sqlite_bucket(local: Any, bucket: str) -> Any:
    """The first day of ``local``'s bucket as ``YYYY-MM-DD`` text (SQLite)."""
    if bucket == "day":
        return func.date(local)
    if bucket == "week":
        return func.date(local, "weekday 0", "-6 days")
    if bucket == "month":
        return func.strftime("%Y-%m-01", local)
    if bucket == "year":
        return func.strftime("%Y-01-01", local)
    month = cast(func.strftime("%m", local), String)
    first = case(
        (month.in_(("01", "02", "03")), "01"),
        (month.in_(("04", "05", "06")), "04"),
        (month.in_(("07", "08", "09")), "07"),
        else_="10",
    )
    return func.strftime("%Y-", local) + first + literal("-01")


def sqlite_date_bucket(day: Any, bucket: str) -> Any:
    """The first day of the bucket of a ``Date`` column (SQLite): the stored ``YYYY-MM-DD``
    text cut and completed, which costs less than parsing it as a date (no time zone shift
    applies to a date)."""
    if bucket in ("day", "week"):
        return sqlite_bucket(day, bucket)
    if bucket == "year":
        return func.substr(day, 1, 5, type_=String) + literal("01-01")
    if bucket == "month":
        return func.substr(day, 1, 8, type_=String) + literal("01")
    month = func.substr(day, 6, 2, type_=String)
    first = case(
        (month.in_(("01", "02", "03")), "01-01"),
        (month.in_(("04", "05", "06")), "04-01"),
        (month.in_(("07", "08", "09")), "07-01"),
        else_="10-01",
    )
    return func.substr(day, 1, 5, type_=String) + first


def postgres_bucket(column: Any, bucket: str, zone_name: str | None) -> Any:
    """The first day of the column's bucket as a date (PostgreSQL); ``zone_name`` for
    timestamps (stored in UTC), ``None`` for dates."""
    local = func.timezone(zone_name, column) if zone_name else column
    return cast(func.date_trunc(bucket, local), Date)


def bucket_range(start: dt.date, bucket: str) -> dt.date:
    """The first day after the bucket starting on ``start``."""
    if bucket == "day":
        return start + dt.timedelta(days=1)
    if bucket == "week":
        return start + dt.timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[bucket]
    index = start.year * 12 + start.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def bucket_label(start: dt.date, bucket: str) -> str:
    """How a bucket is named in tables and charts (``2026-04``, ``2026 T2``, ``2026-W14``)."""
    if bucket == "day":
        return start.isoformat()
    if bucket == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if bucket == "month":
        return f"{start.year}-{start.month:02d}"
    if bucket == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return str(start.year)
