"""Reports pinned to the dashboard, each over a date range (this month, last quarter, custom
dates...) of one of its date fields, in the instance's time zone.

The dashboard widget shows the pinned reports its viewer owns or that are shared with them,
run with the viewer's rights, each with the range that applies. Its range picker (this month ...
custom dates) is a ``GET`` form of the dashboard (``?insights_range=last_quarter``, with
``insights_from``/``insights_to`` for custom dates): the reader's choice lives in their own
page address, and applies to each pinned report on its pin field (``created_at`` if none).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from crmcore import ValidationError
from crmcore.api import listing
from crmcore.settings import time_zone
from flask import has_request_context, request
from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import or_
from werkzeug.datastructures import MultiDict

from . import present
from .buckets import bucket_range
from .definition import parse_definition, source_of
from .fields import DATE_KINDS, report_fields
from .models import PIN_RANGES, Report
from .runner import run_definition
from .sharing import readable

#: Pinned reports the widget shows at most.
MAX_PINNED = 5
#: Rows of each pinned report's table on the dashboard.
MAX_ROWS = 10
NOT_A_DATE = "Choose a date field of the report's records."
NEEDS_DATES = "A custom range needs both dates, the first one not after the second."
#: The picker's query arguments on the dashboard.
RANGE_ARG, FROM_ARG, TO_ARG = "insights_range", "insights_from", "insights_to"


@dataclass(frozen=True)
class Picked:
    """A range chosen on the dashboard: ``name`` (one of ``PIN_RANGES``) and custom dates."""

    name: str
    start: dt.date | None = None
    end: dt.date | None = None


def range_names() -> dict[str, str]:
    """Each range's name in the reader's language."""
    return {
        "this_month": _("This month"),
        "last_month": _("Last month"),
        "this_quarter": _("This quarter"),
        "last_quarter": _("Last quarter"),
        "this_year": _("This year"),
        "custom": _("Custom dates"),
    }


def _day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def picked(args: Any) -> tuple[Picked | None, str | None]:
    """The range the dashboard's address asks for (``None``: each report's own), and an error
    message when the choice is not a valid one (then the reports keep their own)."""
    name = str(args.get(RANGE_ARG, ""))[:20]
    if not name:
        return None, None
    if name not in PIN_RANGES:
        return None, _("Choose one of the ranges.")
    if name != "custom":
        return Picked(name), None
    start, end = _day(str(args.get(FROM_ARG, ""))), _day(str(args.get(TO_ARG, "")))
    if start is None or end is None or start > end:
        return None, _(NEEDS_DATES)
    return Picked(name, start, end), None


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
        entity, _lines = source_of(service, str(definition.get("entity", "")))
    except Exception:  # the definition's own check names the entity
        return
    info = report_fields(service, entity).get(field)
    if info is None or info.kind not in DATE_KINDS:
        raise ValidationError({"pin_field": [NOT_A_DATE]})
    if value("pin_range") == "custom":
        start, end = value("pin_from"), value("pin_to")
        if start is None or end is None or start > end:
            raise ValidationError({"pin_from": [NEEDS_DATES]})


def applied_range(
    service: Any, report: Report, chosen: Picked | None = None
) -> tuple[dt.date, dt.date] | None:
    """The first day and the first day after the range that applies to ``report``: the
    reader's ``chosen`` one, else the report's own; ``None`` for all dates."""
    zone = ZoneInfo(time_zone(service.crm))
    today = dt.datetime.now(zone).date()
    if chosen is not None:
        return date_range(chosen.name, today, chosen.start, chosen.end)
    if not report.pin_range:
        return None
    if report.pin_range == "custom" and (report.pin_from is None or report.pin_to is None):
        return None
    return date_range(report.pin_range, today, report.pin_from, report.pin_to)


def range_filters(
    service: Any, report: Report, definition: Any, chosen: Picked | None = None
) -> dict[Any, Any]:
    """The range that applies (see :func:`applied_range`) as list filters on the report's
    entity (``None`` key); none when the pin field is not a date of it."""
    found = applied_range(service, report, chosen)
    if found is None:
        return {}
    start, end = found
    zone = ZoneInfo(time_zone(service.crm))
    field = report.pin_field or "created_at"
    info = report_fields(service, definition.entity).get(field)
    if info is None or info.kind not in DATE_KINDS:
        return {}
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


def range_label(service: Any, report: Report, chosen: Picked | None) -> str:
    """What the widget says of the range that applies to ``report``: its name and dates."""
    found = applied_range(service, report, chosen)
    if found is None:
        return str(_("All dates"))
    start, last = found[0], found[1] - dt.timedelta(days=1)
    name = range_names()[chosen.name if chosen is not None else str(report.pin_range)]
    return str(
        _(
            "%(range)s: %(start)s to %(end)s",
            range=name,
            start=format_date(start, "medium"),
            end=format_date(last, "medium"),
        )
    )


def controls(chosen: Picked | None, args: Any, error: str | None) -> dict[str, Any]:
    """The widget's range picker (see :mod:`crmcore.web.dashboard`)."""
    names = range_names()
    return {
        "label": _("Date range of the pinned reports"),
        "error": error,
        "fields": [
            {
                "name": RANGE_ARG,
                "label": _("Range"),
                "type": "select",
                "options": [["", _("As saved")], *[[r, names[r]] for r in PIN_RANGES]],
                "value": chosen.name if chosen else str(args.get(RANGE_ARG, ""))[:20],
            },
            {
                "name": FROM_ARG,
                "label": _("From"),
                "type": "date",
                "value": str(args.get(FROM_ARG, ""))[:10],
            },
            {
                "name": TO_ARG,
                "label": _("To"),
                "type": "date",
                "value": str(args.get(TO_ARG, ""))[:10],
            },
        ],
    }


def widget(user: Any, records: Any) -> dict[str, Any]:
    """The dashboard widget: the range picker, a chart of the first pinned report, the tables
    of each (named with the range that applies)."""
    args: Any = request.args if has_request_context() else {}
    chosen, error = picked(args)
    reports = pinned_for(records)
    out: dict[str, Any] = {"controls": controls(chosen, args, error)} if reports else {}
    for report in reports:
        try:
            definition = parse_definition(records, report.definition)
            filters = range_filters(records, report, definition, chosen)
            result = run_definition(records, definition, filters, cached=True)
        except ValidationError:
            continue
        applies = range_label(records, report, chosen) if filters else _("All dates")
        if "chart" not in out and report.chart in present.CHART_TYPES:
            config = present.chart(result, report.chart)
            if config is not None:
                out["chart_title"] = f"{report.name} ({applies})"
                out["chart"] = {
                    "type": config["type"],
                    "labels": config["data"]["labels"],
                    "series": config["data"]["datasets"],
                }
        head, body = present.table(result)
        title = f"{report.name} ({applies})"
        out[title] = [dict(zip(head, row, strict=True)) for row in body[:MAX_ROWS]]
    return out
