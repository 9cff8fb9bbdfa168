"""Panels on contact and company pages: their deals, quotes and orders (scoped, escaped)."""

from __future__ import annotations

from decimal import Decimal
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


def _document(record: Any, user: Any, records: Any) -> str:
    """The quote's PDF, one click away."""
    from flask_babel import gettext

    return Markup(
        "<p><a class='button secondary' id='quote-pdf' href='/sales/quotes/{}/pdf' download>"
        "{}</a></p>"
    ).format(int(record.id), gettext("Download the PDF"))


def _number(value: Any) -> str:
    return f"{value.normalize():f}"


def _to_ship(record: Any, user: Any, records: Any) -> str | None:
    """An order's lines with what is shipped and still to ship, then its shipments with their
    tracking links (the reader's scope)."""
    from .models import Shipment
    from .shipments import to_ship, tracking_url

    if not records.access.can("shipments", "read"):
        return None
    rows = to_ship(records.session, record)
    left = sum((row["remaining"] for row in rows), Decimal(0))
    head = Markup("").join(
        Markup("<th scope='col'>{}</th>").format(gettext(t))
        for t in ("Line", "Description", "Ordered", "Shipped", "To ship")
    )
    body = Markup("").join(
        Markup(
            "<tr><td>{}</td><td>{}</td><td class='num'>{}</td><td class='num'>{}</td>"
            "<td class='num'>{}</td></tr>"
        ).format(
            row["line"],
            row["description"],
            _number(row["ordered"]),
            _number(row["shipped"]),
            _number(row["remaining"]),
        )
        for row in rows
    )
    if not rows:
        status = gettext("The order has no lines.")
    elif left:
        status = gettext("Some lines are still to ship.")
    else:
        status = gettext("Everything is shipped.")
    out = Markup(
        "<p id='to-ship-status'>{}</p><div class='table-wrap'><table id='to-ship'><thead><tr>{}"
        "</tr></thead><tbody>{}</tbody></table></div>"
    ).format(status, head, body)
    shipments = list(
        records.session.scalars(
            records.query("shipments").where(Shipment.order_id == record.id).order_by(Shipment.id)
        )
    )
    if shipments:
        items = []
        for shipment in shipments:
            link = tracking_url(shipment.carrier, shipment.tracking_number)
            track = (
                Markup(" · <a href='{}' rel='noopener noreferrer' target='_blank'>{}</a>").format(
                    link, gettext("Track")
                )
                if link
                else Markup("")
            )
            items.append(
                Markup("<li><a href='/shipments/{}'>{} {}</a> · {}{}</li>").format(
                    int(shipment.id),
                    shipment.carrier,
                    shipment.tracking_number or "",
                    choice_text(shipment.status),
                    track,
                )
            )
        out += Markup("<ul class='sales-shipments'>{}</ul>").format(Markup("").join(items))
    return str(out)


def _tracking(record: Any, user: Any, records: Any) -> str | None:
    """The carrier's tracking page of a shipment, when a pattern for its carrier is set."""
    from .shipments import tracking_url

    link = tracking_url(record.carrier, record.tracking_number)
    if link is None:
        return None
    return str(
        Markup(
            "<p><a id='tracking-link' href='{}' rel='noopener noreferrer' target='_blank'>"
            "{}</a></p>"
        ).format(link, gettext("Track this shipment"))
    )


def panels() -> list[Panel]:
    """Deals, quotes and orders on contact pages and on company pages; the PDF on a quote's;
    what is left to ship on an order's; the tracking link on a shipment's."""
    out = [
        Panel("sales-quote-document", "Document", "quote", _document, "quotes.read", 10),
        Panel(
            "sales-order-shipping",
            "Shipping",
            "order",
            _to_ship,
            "shipments.read",
            20,
            replaces=("shipments.order_id",),
        ),
        Panel("sales-shipment-tracking", "Tracking", "shipment", _tracking, "shipments.read", 10),
    ]
    for entity, column in (("contact", "contact_id"), ("company", "company_id")):
        out += [
            Panel(
                f"sales-deals-{entity}",
                "Deals",
                entity,
                _render("deals", Deal, column, DEAL_COLUMNS),
                "deals.read",
                30,
                replaces=(f"deals.{column}",),
            ),
            Panel(
                f"sales-quotes-{entity}",
                "Quotes",
                entity,
                _render("quotes", Quote, column, QUOTE_COLUMNS),
                "quotes.read",
                31,
                replaces=(f"quotes.{column}",),
            ),
            Panel(
                f"sales-orders-{entity}",
                "Orders",
                entity,
                _render("orders", Order, column, ORDER_COLUMNS),
                "orders.read",
                32,
                replaces=(f"orders.{column}",),
            ),
        ]
    return out
