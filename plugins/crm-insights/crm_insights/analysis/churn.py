"""Churn risk per customer from the order history, stored in the contact's ``churn_risk`` field.

A customer's usual interval is the median number of days between their consecutive order dates
(counted orders as in ``rfm``); a customer with a single order date gets the median of the
repeat customers' usual intervals (no risk at all when nobody ordered twice). With ``d`` the
days since the last order and ``i`` the usual interval, the risk is ``100 x d / (d + i)``
rounded: 0 on the day of an order, 50 when one usual interval has gone by, 75 after three.

The values are copied through the record service (as the system) only to contacts whose value
changed; contacts no longer scored have the field emptied. A contact the record service refuses
(an instance's required field left empty) is logged and skipped, not the whole run.
"""

from __future__ import annotations

import datetime as dt
from itertools import pairwise
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .rfm import _date, counted, instance_today, orders_entity
from .score_fields import store_scores

FIELD = "churn_risk"


def risk(days_since: int, interval: float) -> int:
    """The churn risk 0-100 of a customer ``days_since`` days after the last order, who
    usually orders every ``interval`` days."""
    days = max(days_since, 0)
    return round(100 * days / (days + max(interval, 1.0)))


def risks(history: dict[int, list[dt.date]], today: dt.date) -> dict[int, int]:
    """Per contact, its risk from its sorted distinct order dates."""
    usual = {
        cid: float(median((b - a).days for a, b in pairwise(dates)))
        for cid, dates in history.items()
        if len(dates) > 1
    }
    fallback = median(usual.values()) if usual else None
    out = {}
    for cid, dates in history.items():
        interval = usual.get(cid, fallback)
        if interval is not None:
            out[cid] = risk((today - dates[-1]).days, interval)
    return out


def order_history(crm: Any, session: Session, today: dt.date) -> dict[int, list[dt.date]]:
    """Per contact (not in the trash) with counted orders up to ``today``: the distinct order
    dates, oldest first; empty without the plugin providing orders."""
    entity = orders_entity(crm)
    if entity is None:
        return {}
    order = entity.model
    contact = crm.registry.get("contacts").model
    stmt = (
        select(order.contact_id, order.order_date)
        .where(*counted(order), order.order_date <= today)
        .distinct()
        .order_by(order.contact_id, order.order_date)
    )
    trashed = set(session.scalars(select(contact.id).where(contact.deleted_at.is_not(None))))
    history: dict[int, list[dt.date]] = {}
    for cid, day in session.execute(stmt):
        if cid not in trashed:
            history.setdefault(int(cid), []).append(_date(day))
    return history


def run(crm: Any, session: Session, today: dt.date | None = None) -> int:
    """Recompute every customer's churn risk and store it on the contacts, writing only those
    whose value changed (emptied for contacts no longer scored). Returns the number written."""
    from crmcore.settings import get_settings

    today = today or instance_today(get_settings(session))
    return store_scores(crm, session, FIELD, dict(risks(order_history(crm, session, today), today)))
