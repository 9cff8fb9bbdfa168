"""RFM scores, segments and lifetime value of customers, from their sales orders.

One aggregate query over the counted orders (status confirmed, paid, shipped or delivered, with
an order date, not in the trash) gives, per contact, the first and last order date, the number of
orders and the total in the instance currency. Each of recency (the last order date), frequency
and monetary value is scored 1 to 5 by quintile among all customers:
``score = 1 + 5 * (customers with a worse value) // customers``, so equal values get equal
scores and the best fifth scores 5. Orders in another currency count for recency and frequency,
not for the monetary value (amounts are never mixed across currencies).

The figures replace the rows of ``insights_customer_score`` in bulk; the segment, the score code
and the lifetime value are then copied to the contact's fields ``rfm_segment``, ``rfm_score``
and ``lifetime_value`` through the record service, only where they changed, so the list filter
language and marketing segments can use them (``custom.rfm_segment=champions``).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from crmcore.db import utcnow
from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.orm import Session

from .models import CustomerScore

#: order statuses that count as a purchase
COUNTED_STATUSES = ("confirmed", "paid", "shipped", "delivered")
#: segments, best first (choices of the ``rfm_segment`` field)
SEGMENTS = (
    "champions",
    "loyal",
    "new",
    "promising",
    "need_attention",
    "at_risk",
    "hibernating",
    "lost",
)
FIELDS = ("rfm_segment", "rfm_score", "lifetime_value")
CENTS = Decimal("0.01")
BATCH = 500


@dataclass(frozen=True)
class Totals:
    """One customer's order figures before scoring."""

    contact_id: int
    first: dt.date
    last: dt.date
    orders: int
    monetary: Decimal


def orders_entity(crm: Any) -> Any | None:
    """The registry's ``orders`` entity when the plugin providing it is enabled, else ``None``."""
    try:
        entity = crm.registry.get("orders")
    except KeyError:
        return None
    if entity.plugin not in crm.enabled_plugins():
        return None
    return entity


def counted(model: Any) -> list[Any]:
    """Conditions of the orders that count as purchases."""
    return [
        model.deleted_at.is_(None),
        model.contact_id.is_not(None),
        model.status.in_(COUNTED_STATUSES),
        model.order_date.is_not(None),
    ]


def quintile_scores(values: Sequence[Any]) -> list[int]:
    """Score each value 1-5 by quintile, higher values scoring higher; ties score alike."""
    ordered = sorted(values)
    n = len(ordered)
    return [1 + 5 * bisect_left(ordered, v) // n for v in values]


def segment_of(r: int, f: int, m: int, orders: int) -> str:
    """The named segment of a customer from the R, F and M scores and the number of orders."""
    fm = (f + m) / 2
    if r >= 4:
        if orders == 1:
            return "new"
        if fm >= 4:
            return "champions"
        return "loyal" if fm >= 3 else "promising"
    if r == 3:
        return "loyal" if fm >= 3 else "need_attention"
    if fm >= 3:
        return "at_risk"
    return "hibernating" if r == 2 else "lost"


def totals(session: Session, model: Any, contact_model: Any, currency: str,
           today: dt.date) -> list[Totals]:  # fmt: skip
    """Per contact (not in the trash) with counted orders up to ``today``: the figures."""
    money = func.sum(case((model.currency == currency, model.total), else_=0))
    stmt = (
        select(
            model.contact_id,
            func.min(model.order_date),
            func.max(model.order_date),
            func.count(),
            money,
        )
        .where(*counted(model), model.order_date <= today)
        .group_by(model.contact_id)
    )
    # trashed contacts are few: leaving them out afterwards spares a join per order
    trashed = set(
        session.scalars(select(contact_model.id).where(contact_model.deleted_at.is_not(None)))
    )
    return [
        Totals(int(cid), _date(first), _date(last), int(n), _money(total))
        for cid, first, last, n, total in session.execute(stmt)
        if cid not in trashed
    ]


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENTS)


def _date(value: Any) -> dt.date:
    # SQLite hands back an aggregate of a DATE column as text
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def score(rows: Sequence[Totals], currency: str, today: dt.date) -> list[dict[str, Any]]:
    """The ``insights_customer_score`` rows of ``rows``."""
    if not rows:
        return []
    r = quintile_scores([t.last for t in rows])
    f = quintile_scores([t.orders for t in rows])
    m = quintile_scores([t.monetary for t in rows])
    now = utcnow()
    return [
        {
            "contact_id": t.contact_id,
            "first_order_on": t.first,
            "last_order_on": t.last,
            "orders": t.orders,
            "monetary": t.monetary,
            "currency": currency,
            "recency_days": (today - t.last).days,
            "r": r[i],
            "f": f[i],
            "m": m[i],
            "segment": segment_of(r[i], f[i], m[i], t.orders),
            "computed_at": now,
        }
        for i, t in enumerate(rows)
    ]


def compute(crm: Any, session: Session, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Recompute every customer's score and replace the stored ones (not committed).

    Returns the new rows; none (and the table emptied) when no plugin providing orders is
    enabled.
    """
    from crmcore.settings import get_settings

    settings = get_settings(session)
    currency = str(settings["default_currency"])
    today = today or instance_today(settings)
    entity = orders_entity(crm)
    rows: list[dict[str, Any]] = []
    if entity is not None:
        contact_model = crm.registry.get("contacts").model
        rows = score(totals(session, entity.model, contact_model, currency, today), currency, today)
    session.execute(delete(CustomerScore))
    if rows:
        session.execute(insert(CustomerScore), rows)
    return rows


def instance_today(settings: dict[str, Any]) -> dt.date:
    """Today in the instance's time zone."""
    from zoneinfo import ZoneInfo

    try:
        zone = ZoneInfo(str(settings.get("time_zone") or "UTC"))
    except (ValueError, KeyError):
        zone = ZoneInfo("UTC")
    return utcnow().astimezone(zone).date()


def field_values(row: CustomerScore | None) -> dict[str, Any]:
    """What the contact's fields should hold for a score row (all empty without one)."""
    if row is None:
        return dict.fromkeys(FIELDS)
    monetary = Decimal(row.monetary)
    return {
        "rfm_segment": row.segment,
        "rfm_score": row.score,
        "lifetime_value": int(monetary) if monetary == monetary.to_integral() else float(monetary),
    }


def sync_fields(crm: Any, session: Session, previous: Iterable[int]) -> int:
    """Copy the stored scores to the contacts' fields through the record service (as the
    system), writing only contacts whose values changed; ``previous`` are contacts scored
    before, whose fields are emptied when they no longer have a score. Returns the number of
    contacts written."""
    records = crm.records(session=session)
    contacts = records.entity("contacts")
    model = contacts.model
    wanted: dict[int, dict[str, Any]] = {
        row.contact_id: field_values(row) for row in session.scalars(select(CustomerScore))
    }
    for contact_id in previous:
        wanted.setdefault(contact_id, field_values(None))
    ids = sorted(wanted)
    written = 0
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        stmt = select(model).where(model.id.in_(chunk), model.deleted_at.is_(None))
        for contact in session.scalars(stmt).all():
            values = wanted[contact.id]
            current = contact.custom_fields or {}
            if all(current.get(k) == v for k, v in values.items()):
                continue
            records.update(contacts, contact, {"custom_fields": values}, commit=False)
            written += 1
        records.commit()
    return written


def run(crm: Any, session: Session, today: dt.date | None = None) -> int:
    """The periodic job's work: recompute, commit, copy to the contacts' fields. Returns the
    number of customers scored."""
    previous = list(session.scalars(select(CustomerScore.contact_id)))
    rows = compute(crm, session, today)
    session.commit()
    sync_fields(crm, session, previous)
    return len(rows)
