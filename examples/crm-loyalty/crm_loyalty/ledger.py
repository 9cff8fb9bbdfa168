"""Balances, awards for paid sales orders, the contact panel and the dashboard widget."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from markupsafe import Markup
from sqlalchemy import func, select

from crmcore import ValidationError

from .models import LoyaltyEntry

PAID = "paid"
PLURAL = "loyalty_entries"


def points_per_unit(crm: Any) -> Decimal:
    """Points per currency unit: ``[loyalty] points_per_unit`` in crm.toml, 1 by default."""
    value = (crm.settings.extra.get("loyalty") or {}).get("points_per_unit", 1)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(1)


def points_for(total: Any, rate: Decimal = Decimal(1)) -> int:
    """Whole points for an order total: ``floor(total * rate)``, never negative."""
    try:
        amount = Decimal(str(total)) * rate
    except (InvalidOperation, TypeError):
        return 0
    return max(0, int(amount.to_integral_value(rounding=ROUND_FLOOR)))


def balance(session: Any, contact_id: int) -> int:
    """The sum of a contact's entries (the trash excluded)."""
    stmt = select(func.coalesce(func.sum(LoyaltyEntry.points), 0)).where(
        LoyaltyEntry.contact_id == contact_id, LoyaltyEntry.deleted_at.is_(None)
    )
    return int(session.scalar(stmt) or 0)


def prepare(values: dict[str, Any], record: Any, service: Any) -> None:
    """``Entity.prepare``: a redemption may not take the balance below zero."""
    contact_id = values.get("contact_id", record.contact_id if record else None)
    points = values.get("points", record.points if record else 0)
    if contact_id is None or points >= 0:
        return
    current = balance(service.session, contact_id) - (record.points if record else 0)
    if current + points < 0:
        raise ValidationError(
            {"points": [f"The contact has {current} points; cannot redeem {-points}."]}
        )


def award_for_order(event: Any) -> LoyaltyEntry | None:
    """Give points when a sales order becomes paid; once per order, only with sales enabled."""
    crm = event.records.crm
    if event.entity.name != "order" or "sales" not in crm.enabled_plugins():
        return None
    order = event.record
    if getattr(order, "status", None) != PAID or not getattr(order, "contact_id", None):
        return None
    if event.action == "update" and "status" not in event.changes:
        return None
    session = event.records.session
    already = session.scalar(select(LoyaltyEntry.id).where(LoyaltyEntry.order_id == order.id))
    if already is not None:
        return None
    points = points_for(getattr(order, "total", 0), points_per_unit(crm))
    if points <= 0:
        return None
    currency = getattr(order, "currency", "") or ""
    # the system awards points, whatever the acting user may do with the ledger
    return crm.records(
        session=session
    ).create(  # type: ignore[no-any-return]
        PLURAL,
        {
            "contact_id": order.contact_id,
            "points": points,
            "reason": f"Order {order.id} paid ({order.total} {currency})".strip()[:200],
        },
        internal={"order_id": order.id},  # the event's own order: trusted, not input
    )


def contact_panel(contact: Any, user: Any, records: Any) -> Markup:
    """The balance and the last entries, for the contact page. User text is escaped."""
    entity = records.entity(PLURAL)
    stmt = (
        records.query(entity)
        .where(LoyaltyEntry.contact_id == contact.id)
        .order_by(LoyaltyEntry.id.desc())
        .limit(5)
    )
    recent = records.session.scalars(stmt).all()
    total = balance(records.session, contact.id)
    items = Markup("").join(
        Markup("<li>{points:+d} &middot; {reason}</li>").format(
            points=entry.points, reason=entry.reason
        )
        for entry in recent
    )
    html = Markup('<p class="loyalty-balance"><strong>{}</strong> points</p>').format(total)
    if items:
        html += Markup('<ul class="loyalty-entries">{}</ul>').format(items)
    return html


def top_contacts(user: Any, records: Any, limit: int = 5) -> dict[str, Any]:
    """The dashboard widget: contacts the user may read, with the most points."""
    from crmcore.contacts.models import Contact

    visible = records.query("contacts").with_only_columns(Contact.id).scalar_subquery()
    points = func.sum(LoyaltyEntry.points).label("points")
    stmt = (
        select(Contact.first_name, Contact.last_name, points)
        .join(LoyaltyEntry, LoyaltyEntry.contact_id == Contact.id)
        .where(Contact.id.in_(visible), LoyaltyEntry.deleted_at.is_(None))
        .group_by(Contact.id, Contact.first_name, Contact.last_name)
        .order_by(points.desc(), Contact.id)
        .limit(limit)
    )
    rows = records.session.execute(stmt).all()
    return {
        "top contacts": [
            {"contact": " ".join(filter(None, (first, last))), "points": int(total)}
            for first, last, total in rows
        ]
    }


def demo(ctx: Any, contacts: int = 8) -> None:
    """Demo data: a welcome bonus for the first contacts, so the widget has something to show."""
    records = ctx.records
    entity = records.entity("contacts")
    stmt = records.query(entity).order_by(entity.model.id).limit(contacts)
    for contact in records.session.scalars(stmt).all():
        records.create(
            PLURAL,
            {"contact_id": contact.id, "points": ctx.random.randint(5, 400), "reason": "Welcome"},
            commit=False,
        )
    records.commit()
