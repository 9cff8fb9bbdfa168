"""Reports pinned to the dashboard, each over a date range (this month, last quarter, custom
dates...) of one of its date fields, in the instance's time zone.

The dashboard widget shows the pinned reports its viewer owns or that are shared with them,
run with the viewer's rights.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from crmcore import ValidationError
from crmcore.api import listing
from crmcore.settings import time_zone
from sqlalchemy import or_
from werkzeug.datastructures import MultiDict

from . import present
from .buckets import bucket_range
from .definition import parse_definition
from .fields import DATE_KINDS, report_fields
from .models import Report
from .runner import run_definition
from .sharing import readable

#: Pinned reports the widget shows at most.
MAX_PINNED = 5
#: Rows of each pinned report's table on the dashboard.
MAX_ROWS = 10
NOT_A_DATE = "Choose a date field of the report's records."
NEEDS_DATES = "A custom range needs both dates, the first one not after the second."


def date_range(
    name: str, today: dt.date, start: dt.date | None = None, end: dt.date | None = None
) -> tuple[dt.date, dt.date]:
    """The first day of ``name``'s range and the first day after it."""
    month = today.replace(day=1)
    quarter = dt.date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    if name == "this_month":
        return month, bucket_range(month, "month")
    if name == "last_month":
        first = (month - dt.timedelta(days=1)).replace(day=1)
        return first, month
    if name == "this_quarter":
        return quarter, bucket_range(quarter, "quarter")
    if name == "last_quarter":
        last = (quarter - dt.timedelta(days=1)).replace(day=1)
        first = dt.date(last.year, (last.month - 1) // 3 * 3 + 1, 1)
        return first, quarter
    if name == "this_year":
        return dt.date(today.year, 1, 1), dt.date(today.year + 1, 1, 1)
    assert start is not None and end is not None
    return start, end + dt.timedelta(days=1)


def check_pin(service: Any, data: dict[str, Any], record: Any) -> None:
    """Refuse a pin whose field is not a date of the report's entity, or a custom range
    without its dates."""

    def value(name: str) -> Any:
        return data.get(name, getattr(record, name, None))

    if not value("pinned") or not value("pin_range"):
        return
    definition = value("definition") or {}
    field = value("pin_field") or "created_at"
    try:
        entity = service.entity(str(definition.get("entity", "")))
    except Exception:  # the definition's own check names the entity
        return
    info = report_fields(service, entity).get(field)
    if info is None or info.kind not in DATE_KINDS:
        raise ValidationError({"pin_field": [NOT_A_DATE]})
    if value("pin_range") == "custom":
        start, end = value("pin_from"), value("pin_to")
        if start is None or end is None or start > end:
            raise ValidationError({"pin_from": [NEEDS_DATES]})


def range_filters(service: Any, report: Report, definition: Any) -> dict[Any, Any]:
    """The pinned range as list filters on the report's entity (``None`` key)."""
    if not report.pin_range:
        return {}
    zone = ZoneInfo(time_zone(service.crm))
    today = dt.datetime.now(zone).date()
    start, end = date_range(report.pin_range, today, report.pin_from, report.pin_to)
    field = report.pin_field or "created_at"
    info = report_fields(service, definition.entity)[field]
    if info.kind == "datetime":
        low = dt.datetime.combine(start, dt.time(), zone).astimezone(dt.UTC).isoformat()
        high = dt.datetime.combine(end, dt.time(), zone).astimezone(dt.UTC).isoformat()
    else:
        low, high = start.isoformat(), end.isoformat()
    args = MultiDict([(f"{field}__gte", low), (f"{field}__lt", high)])
    params = listing.parse(
        definition.entity,
        args,
        service.crm.settings.secret_key,
        lambda: service.crm.custom_field_defs(service.session, definition.entity),
    )
    return {None: params}


def pinned_for(service: Any) -> list[Report]:
    """Pinned reports the viewer owns or that are shared with them."""
    user_id = service.access.user_id
    stmt = readable(service).where(Report.pinned.is_(True))
    if not service.access.is_system:
        stmt = stmt.where(or_(Report.owner_id == user_id, Report.visibility != "private"))
    return list(service.session.scalars(stmt.order_by(Report.name).limit(MAX_PINNED)))


def widget(user: Any, records: Any) -> dict[str, Any]:
    """The dashboard widget: a chart of the first pinned report, the tables of each."""
    out: dict[str, Any] = {}
    for report in pinned_for(records):
        try:
            definition = parse_definition(records, report.definition)
            filters = range_filters(records, report, definition)
            result = run_definition(records, definition, filters, cached=True)
        except ValidationError:
            continue
        if "chart" not in out and report.chart in present.CHART_TYPES:
            config = present.chart(result, report.chart)
            if config is not None:
                out["chart_title"] = report.name
                out["chart"] = {
                    "type": config["type"],
                    "labels": config["data"]["labels"],
                    "series": config["data"]["datasets"],
                }
        head, body = present.table(result)
        out[report.name] = [dict(zip(head, row, strict=True)) for row in body[:MAX_ROWS]]
    return out
