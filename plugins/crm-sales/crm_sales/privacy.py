"""The sales plugin's part of a person's data (``crm_person_data``): leads with the person's
address or contact are theirs and erased; deals, quotes and orders count in pipeline and
revenue, so they are kept, detached from the contact and pseudonymised."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from .models import Lead, Shipment


def person_data(person: Any) -> list[Any]:
    from crmcore.privacy import PersonData

    session = person.session
    conditions = [func.lower(Lead.email) == person.email]
    if person.contact_ids:
        conditions.append(Lead.contact_id.in_(person.contact_ids))
    leads = list(session.scalars(select(Lead).where(or_(*conditions)).order_by(Lead.id)))
    lead_ids = [lead.id for lead in leads]
    deals = person.linked("deal")
    quotes = person.linked("quote")
    orders = person.linked("order")
    shipments = (
        list(
            session.scalars(
                select(Shipment)
                .where(Shipment.order_id.in_([o.id for o in orders]))
                .order_by(Shipment.id)
            )
        )
        if orders
        else []
    )
    return [
        PersonData(
            "sales.leads",
            [person.row(r) for r in leads],
            files=person.files("lead", lead_ids),
            erase=lambda: person.purge("lead", lead_ids),
        ),
        PersonData(
            "sales.deals",
            [person.row(r) for r in deals],
            erase=lambda: person.detach("deal", deals),
        ),
        PersonData(
            "sales.quotes",
            [person.row(r) for r in quotes],
            erase=lambda: person.detach("quote", quotes),
        ),
        PersonData(
            "sales.orders",
            [person.row(r) for r in orders],
            erase=lambda: person.detach("order", orders),
        ),
        PersonData(
            "sales.shipments",
            [person.row(r) for r in shipments],
            erase=lambda: person.detach("shipment", shipments, field=""),
        ),
    ]
