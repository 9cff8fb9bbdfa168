"""The "Customer value" panel on contact pages: RFM segment, scores and lifetime value."""

from __future__ import annotations

from typing import Any

from crmcore import Panel
from flask_babel import format_currency, format_date, gettext
from markupsafe import Markup

from .models import CustomerScore
from .rfm import orders_entity


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


def panels() -> list[Panel]:
    """The customer value panel (contacts)."""
    return [Panel("insights_value", "Customer value", "contacts", render_value, order=40)]
