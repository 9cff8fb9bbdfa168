"""Quotes and orders: numbering, server-side totals, status rules, a quote becoming an order."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select

from crmcore import Conflict, ValidationError
from crmcore.contacts.models import Company, Contact
from crmcore.db import utcnow

from .common import check_links, default_currency, instance_today, next_number
from .models import Order, PriceList, Quote
from .pricing import compute_lines

#: Keys of a stored line that are input (the rest is computed).
LINE_INPUT = ("product_id", "description", "quantity", "unit_price", "discount_percent", "tax_rate")

#: Where an order may go from each status.
ORDER_FLOW: dict[str, frozenset[str]] = {
    "draft": frozenset({"confirmed", "cancelled"}),
    "confirmed": frozenset(
        {"draft", "paid", "partially_shipped", "shipped", "delivered", "cancelled"}
    ),
    "paid": frozenset({"partially_shipped", "shipped", "delivered", "cancelled"}),
    "partially_shipped": frozenset({"shipped", "delivered"}),
    "shipped": frozenset({"delivered"}),
    "delivered": frozenset(),
    "cancelled": frozenset(),
}
_LINKS = {"contact_id": "contacts", "company_id": "companies", "deal_id": "deals"}
#: the field this plugin adds to companies, matched against ``PriceList.customer_group``
GROUP_FIELD = "customer_group"


def line_input(line: dict[str, Any]) -> dict[str, Any]:
    """The input part of a stored line, to price it again or copy it."""
    return {k: line[k] for k in LINE_INPUT if line.get(k) is not None}


def _price(values: dict[str, Any], record: Any, service: Any, editable: tuple[str, ...]) -> None:
    """Recompute lines and totals when lines, currency or price list change."""
    touched = {"lines", "currency", "price_list_id"} & set(values)
    if record is not None:
        touched = {k for k in touched if values[k] != getattr(record, k, None)}
        if "lines" in touched and _same_lines(values["lines"], record.lines):
            touched.discard("lines")  # a form sends the lines back as they were
            if not touched:
                del values["lines"]
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


def _same_lines(given: list[Any], stored: list[Any] | None) -> bool:
    """Whether ``given`` input lines say what ``stored`` lines already do (numbers compared
    as numbers, values the server filled in compared only when given)."""
    stored = list(stored or ())
    if len(given) != len(stored):
        return False
    for new, old in zip(given, stored, strict=True):
        for key in LINE_INPUT:
            if new.get(key) is None:
                continue
            mine, theirs = new[key], old.get(key)
            if key != "description":
                try:
                    mine, theirs = Decimal(str(mine)), Decimal(str(theirs))
                except (InvalidOperation, ValueError):
                    return False
            if mine != theirs:
                return False
    return True


def customer_group(session: Any, values: dict[str, Any]) -> str | None:
    """The *Customer group* of the quote's company (or its contact's company)."""
    company_id = values.get("company_id")
    if company_id is None and values.get("contact_id") is not None:
        contact = session.get(Contact, values["contact_id"])
        company_id = contact.company_id if contact is not None else None
    company = session.get(Company, company_id) if company_id is not None else None
    group = (company.custom_fields or {}).get(GROUP_FIELD) if company is not None else None
    return str(group).strip() or None if group else None


def choose_price_list(session: Any, values: dict[str, Any], currency_given: bool) -> None:
    """A new quote without a price list takes the active list of its customer's group: in the
    quote's currency when one was given, else the group's first list and its currency."""
    if values.get("price_list_id") is not None:
        return
    group = customer_group(session, values)
    if group is None:
        return
    lists = session.scalars(
        select(PriceList)
        .where(
            PriceList.customer_group == group,
            PriceList.active.is_(True),
            PriceList.deleted_at.is_(None),
        )
        .order_by(PriceList.id)
    ).all()
    if currency_given:
        lists = [p for p in lists if p.currency == values["currency"]]
    if lists:
        values["price_list_id"] = lists[0].id
        values["currency"] = lists[0].currency


def prepare_quote(values: dict[str, Any], record: Any, service: Any) -> None:
    """Number new quotes, check links, pick the customer's price list, compute totals, stamp
    the sending date."""
    if record is None:
        currency_given = values.get("currency") is not None
        values.setdefault("currency", default_currency(service.session))
        values.setdefault("lines", [])
        values["number"] = next_number(service.session, Quote, "Q")
    check_links(service, values, _LINKS)
    if record is None:
        choose_price_list(service.session, values, currency_given)
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
    today = instance_today(records.session)
    if quote.valid_until is not None and quote.valid_until < today:
        raise Conflict(
            f"This quote expired on {quote.valid_until.isoformat()}: extend its validity or "
            "make a new quote."
        )
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
