"""Panels on contact and company pages: their deals, quotes and orders (scoped, escaped)."""

from __future__ import annotations

from typing import Any

from flask_babel import format_currency, gettext
from markupsafe import Markup, escape

from crmcore import Panel
from crmcore.web.display import format_value
from crmcore.web.i18n import choice_text

from .models import Deal, Order, Quote

LIMIT = 20


def _table(plural: str, rows: list[Any], columns: list[tuple[str, Any]]) -> Markup:
    """A table of ``rows``; the first column links to the record. Every value is escaped."""
    head = Markup("").join(
        Markup("<th scope='col'>{}</th>").format(gettext(t)) for t, _get in columns
    )
    body = []
    for row in rows:
        link = Markup("<a href='/{}/{}'>{}</a>").format(plural, int(row.id), columns[0][1](row))
        cells = [link] + [escape(format_value(get(row))) for _title, get in columns[1:]]
        body.append(
            Markup("<tr>{}</tr>").format(
                Markup("").join(Markup("<td>{}</td>").format(c) for c in cells)
            )
        )
    return Markup(
        "<div class='table-wrap'><table><thead><tr>{}</tr></thead><tbody>{}</tbody></table></div>"
    ).format(head, Markup("").join(body))


def _render(plural: str, model: Any, column: str, columns: list[tuple[str, Any]]) -> Any:
    def render(record: Any, user: Any, records: Any) -> str | None:
        if not records.access.can(plural, "read"):
            return None
        stmt = (
            records.query(plural)
            .where(getattr(model, column) == record.id)
            .order_by(model.id.desc())
            .limit(LIMIT)
        )
        rows = list(records.session.scalars(stmt))
        if not rows:
            return str(Markup("<p class='empty'>{}</p>").format(gettext("None yet.")))
        return str(_table(plural, rows, columns))

    return render


def _money(row: Any, field: str = "total") -> str:
    value = getattr(row, field)
    return format_currency(value, row.currency) if value is not None and row.currency else ""


DEAL_COLUMNS = [
    ("Deal", lambda d: d.title),
    ("Amount", lambda d: _money(d, "amount")),
    ("Close date", lambda d: d.close_date or ""),
    ("Probability", lambda d: f"{d.probability} %"),
]
QUOTE_COLUMNS = [
    ("Quote", lambda q: q.number),
    ("Status", lambda q: choice_text(q.status)),
    ("Total", _money),
    ("Valid until", lambda q: q.valid_until or ""),
]
ORDER_COLUMNS = [
    ("Order", lambda o: o.number),
    ("Status", lambda o: choice_text(o.status)),
    ("Total", _money),
    ("Date", lambda o: o.order_date or ""),
    ("Products", lambda o: ", ".join(str(x.get("description", "")) for x in o.lines or ())),
]


def panels() -> list[Panel]:
    """Six panels: deals, quotes and orders on contact pages and on company pages."""
    out = []
    for entity, column in (("contact", "contact_id"), ("company", "company_id")):
        out += [
            Panel(
                f"sales-deals-{entity}",
                "Deals",
                entity,
                _render("deals", Deal, column, DEAL_COLUMNS),
                "deals.read",
                30,
            ),
            Panel(
                f"sales-quotes-{entity}",
                "Quotes",
                entity,
                _render("quotes", Quote, column, QUOTE_COLUMNS),
                "quotes.read",
                31,
            ),
            Panel(
                f"sales-orders-{entity}",
                "Orders",
                entity,
                _render("orders", Order, column, ORDER_COLUMNS),
                "orders.read",
                32,
            ),
        ]
    return out
