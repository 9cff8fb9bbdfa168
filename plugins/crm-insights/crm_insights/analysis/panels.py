"""The "Customer value" panel on contact pages: RFM segment, scores and lifetime value."""

from __future__ import annotations

from typing import Any

from crmcore import Panel
from flask_babel import format_currency, format_date, format_decimal, format_percent, gettext
from markupsafe import Markup

from .affinity import Offer, also_bought, next_best_offers
from .models import CustomerScore
from .rfm import orders_entity

NUM = " class='num'"


def render_value(record: Any, user: Any, records: Any) -> str | None:
    """The contact's stored score; hidden without orders (or the sales plugin)."""
    if orders_entity(records.crm) is None:
        return None
    row = records.session.get(CustomerScore, record.id)
    if row is None:
        return str(Markup("<p class='empty'>{}</p>").format(gettext("No orders yet.")))
    items = [
        (gettext("Segment"), gettext(row.segment.replace("_", " ").capitalize())),
        (gettext("RFM score"), row.score),
        (gettext("Lifetime value"), format_currency(row.monetary, row.currency)),
        (gettext("Orders"), str(row.orders)),
        (gettext("Average order"), format_currency(row.average_order, row.currency)),
        (gettext("First order"), format_date(row.first_order_on)),
        (gettext("Last order"), format_date(row.last_order_on)),
    ]
    body = Markup("").join(
        Markup("<dt>{}</dt><dd>{}</dd>").format(term, value) for term, value in items
    )
    return str(Markup("<dl class='insights-value'>{}</dl>").format(body))


def _offers_table(offers: list[Offer]) -> str:
    """Offers as a table: the product (linked), the support, the confidence and the lift."""
    if not offers:
        return str(Markup("<p class='empty'>{}</p>").format(gettext("No suggestion yet.")))
    head = Markup("").join(
        Markup("<th scope='col'{}>{}</th>").format(Markup(cls), title)
        for title, cls in (
            (gettext("Product"), ""),
            (gettext("Support"), NUM),
            (gettext("Confidence"), NUM),
            (gettext("Lift"), NUM),
        )
    )
    rows = Markup("").join(
        Markup(
            "<tr><td><a href='/products/{}'>{}</a></td><td class='num'>{}</td>"
            "<td class='num'>{}</td><td class='num'>{}</td></tr>"
        ).format(
            int(o.product.id),
            o.product.name,
            format_percent(o.support, "#,##0 %"),
            format_percent(o.confidence, "#,##0 %"),
            format_decimal(round(o.lift, 2), "#,##0.00"),
        )
        for o in offers
    )
    return str(
        Markup(
            "<div class='table-wrap'><table><thead><tr>{}</tr></thead>"
            "<tbody>{}</tbody></table></div>"
        ).format(head, rows)
    )


def render_offers(record: Any, user: Any, records: Any) -> str | None:
    """Next best offers for the contact; hidden without sales or the right to read products."""
    if orders_entity(records.crm) is None or not records.access.can("products", "read"):
        return None
    return _offers_table(next_best_offers(records, record.id))


def render_also_bought(record: Any, user: Any, records: Any) -> str | None:
    """What buyers of the product also bought."""
    if orders_entity(records.crm) is None:
        return None
    return _offers_table(also_bought(records, record.id))


def panels() -> list[Panel]:
    """The customer value and next best offers panels (contacts), and "also bought"
    (products)."""
    return [
        Panel("insights_value", "Customer value", "contacts", render_value, order=40),
        Panel("insights_offers", "Next best offers", "contacts", render_offers, order=41),
        Panel(
            "insights_also_bought",
            "Customers who bought this also bought",
            "products",
            render_also_bought,
            order=40,
        ),
    ]
