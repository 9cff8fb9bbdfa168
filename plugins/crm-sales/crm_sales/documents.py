"""Quotes and orders: numbering, server-side totals, status rules, a quote becoming an order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore import Conflict, ValidationError
from crmcore.db import utcnow

from .common import check_links, default_currency, next_number
from .models import Order, Quote
from .pricing import compute_lines

#: Keys of a stored line that are input (the rest is computed).
LINE_INPUT = ("product_id", "description", "quantity", "unit_price", "discount_percent", "tax_rate")

#: Where an order may go from each status.
ORDER_FLOW: dict[str, frozenset[str]] = {
    "draft": frozenset({"confirmed", "cancelled"}),
    "confirmed": frozenset({"draft", "paid", "shipped", "cancelled"}),
    "paid": frozenset({"shipped", "delivered", "cancelled"}),
    "shipped": frozenset({"delivered"}),
    "delivered": frozenset(),
    "cancelled": frozenset(),
}
_LINKS = {"contact_id": "contacts", "company_id": "companies", "deal_id": "deals"}


def line_input(line: dict[str, Any]) -> dict[str, Any]:
    """The input part of a stored line, to price it again or copy it."""
    return {k: line[k] for k in LINE_INPUT if line.get(k) is not None}


def _price(values: dict[str, Any], record: Any, service: Any, editable: tuple[str, ...]) -> None:
    """Recompute lines and totals when lines, currency or price list change."""
    touched = {"lines", "currency", "price_list_id"} & set(values)
    if record is not None:
        touched = {k for k in touched if values[k] != getattr(record, k, None)}
    if record is not None and not touched:
        return
    if record is not None and record.status not in editable:
        raise ValidationError(
            {"lines": [f"The lines of a {record.status} document cannot change."]}
        )
    currency = values.get("currency") or (record.currency if record is not None else None)
    if record is not None and "currency" in touched and "lines" not in values and record.lines:
        raise ValidationError({"lines": ["Send the lines again when changing the currency."]})
    lines = values["lines"] if "lines" in values else [line_input(x) for x in record.lines or ()]
    price_list_id = values.get(
        "price_list_id", getattr(record, "price_list_id", None) if record is not None else None
    )
    priced, totals = compute_lines(service.session, lines, currency, price_list_id)
    values["lines"] = priced
    values.update(totals)


def prepare_quote(values: dict[str, Any], record: Any, service: Any) -> None:
    """Number new quotes, check links, compute totals, stamp the sending date."""
    if record is None:
        values.setdefault("currency", default_currency(service.session))
        values.setdefault("lines", [])
        values["number"] = next_number(service.session, Quote, "Q")
    check_links(service, values, _LINKS)
    _price(values, record, service, editable=("draft",))
    if values.get("status") == "sent" and (record is None or record.sent_at is None):
        values["sent_at"] = utcnow()


def prepare_order(values: dict[str, Any], record: Any, service: Any) -> None:
    """Number new orders, check status moves and links, compute totals."""
    if record is None:
        values.setdefault("currency", default_currency(service.session))
        values.setdefault("lines", [])
        values["number"] = next_number(service.session, Order, "O")
        values.setdefault("order_date", utcnow().date())
    elif "status" in values and values["status"] != record.status:
        if values["status"] not in ORDER_FLOW[record.status]:
            raise ValidationError(
                {"status": [f"An order cannot go from {record.status} to {values['status']}."]}
            )
    check_links(service, values, _LINKS)
    _price(values, record, service, editable=("draft", "confirmed"))


def order_from_quote(records: Any, quote_id: int) -> Order:
    """Create the order of a quote and mark the quote accepted; 409 if refused or ordered."""
    quote = records.get("quotes", quote_id)
    if quote.status == "rejected":
        raise Conflict("A rejected quote cannot become an order.")
    existing = records.session.scalar(select(Order.id).where(Order.quote_id == quote.id))
    if existing is not None:
        raise Conflict(f"This quote already became order {existing}.")
    data = {
        "currency": quote.currency,
        "contact_id": quote.contact_id,
        "company_id": quote.company_id,
        "deal_id": quote.deal_id,
        "status": "confirmed",
        "lines": [line_input(line) for line in quote.lines or ()],
    }
    order = records.create("orders", data, internal={"quote_id": quote.id}, commit=False)
    if quote.status != "accepted":
        records.update("quotes", quote, {"status": "accepted"}, commit=False)
    records.commit()
    return order
