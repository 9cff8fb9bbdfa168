"""Pages of the customer analysis: segments and cohort retention, in the reader's scope."""

from __future__ import annotations

from typing import Any

from crmcore import PermissionDenied, current_crm
from flask import Blueprint, g, render_template, request
from flask_babel import gettext as _
from sqlalchemy import func, select

from .cohort_cache import cached_cohorts
from .cohorts import DEFAULT_MONTHS, MAX_MONTHS
from .models import CustomerScore
from .rfm import SEGMENTS, orders_entity


def _records() -> Any:
    return current_crm().records(g.crm_access)


def segment_counts(records: Any) -> dict[str, int]:
    """Customers per segment among the contacts the reader may read."""
    contacts = records.query("contacts").subquery()
    stmt = (
        select(CustomerScore.segment, func.count())
        .join(contacts, contacts.c.id == CustomerScore.contact_id)
        .group_by(CustomerScore.segment)
    )
    found = {segment: int(n) for segment, n in records.session.execute(stmt)}
    return {segment: found.get(segment, 0) for segment in SEGMENTS}


def segments_page() -> Any:
    """``GET /insights/customers``: how many readable customers each segment holds."""
    records = _records()
    if not records.access.can("contacts", "read"):
        raise PermissionDenied("You may not read contacts.")
    return render_template(
        "insights/analysis/segments.html",
        counts=segment_counts(records),
        sales=orders_entity(records.crm) is not None,
    )


def cohorts_page() -> Any:
    """``GET /insights/customers/cohorts?months=12``: the cohort retention table (cached per
    reader's scope until the orders change, :mod:`.cohort_cache`)."""
    records = _records()
    errors: dict[str, list[str]] = {}
    raw = str(request.args.get("months", DEFAULT_MONTHS)).strip()
    months = DEFAULT_MONTHS
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_MONTHS:
        months = int(raw)
    else:
        errors["months"] = [_("Enter a number from 1 to %(max)s.", max=MAX_MONTHS)]
    table = cached_cohorts(records, months)
    width = max((len(c.active) for c in table or ()), default=0)
    return render_template(
        "insights/analysis/cohorts.html",
        cohorts=table,
        width=width,
        months=months,
        max_months=MAX_MONTHS,
        errors=errors,
        value=raw,
    ), (422 if errors else 200)


def calls_page() -> Any:
    """``GET /insights/calls``: the reader's contacts due a call, best time first."""
    from crmcore.db import utcnow

    from .call_times import call_list

    records = _records()
    if not records.access.can("tasks", "read") or not records.access.can("contacts", "read"):
        raise PermissionDenied("You may not read tasks and contacts.")
    return render_template("insights/analysis/calls.html", due=call_list(records, utcnow()))


def make_calls_blueprint() -> Blueprint:
    """The ``insights_calls`` blueprint: the call list under ``/insights/calls``."""
    bp = Blueprint("insights_calls", __name__, url_prefix="/insights/calls")
    bp.add_url_rule("/", "calls", calls_page)
    return bp


def make_blueprint() -> Blueprint:
    """The ``insights_analysis`` blueprint under ``/insights/customers``."""
    bp = Blueprint(
        "insights_analysis",
        __name__,
        url_prefix="/insights/customers",
        template_folder="../templates",
    )
    bp.add_url_rule("/", "segments", segments_page)
    bp.add_url_rule("/cohorts", "cohorts", cohorts_page)
    return bp
