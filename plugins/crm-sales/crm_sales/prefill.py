"""What a new quote's or order's form starts with when opened from a parent record's page
(``Entity.prefill``): ``/quotes/new?deal_id=5`` takes the deal's customer and currency,
``/orders/new?quote_id=7`` the quote's customer, currency and lines."""

from __future__ import annotations

from typing import Any

from .documents import line_input


def _id(args: dict[str, str], name: str) -> int | None:
    value = str(args.get(name, ""))
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


def _customer(records: Any, args: dict[str, str]) -> dict[str, Any]:
    """The deal's (or the contact's) customer: contact, company, currency."""
    out: dict[str, Any] = {}
    deal_id = _id(args, "deal_id")
    if deal_id is not None:
        deal = records.get("deals", deal_id)
        out.update(
            deal_id=deal.id,
            contact_id=deal.contact_id,
            company_id=deal.company_id,
            currency=deal.currency,
            title=deal.title,
        )
    contact_id = _id(args, "contact_id") or out.get("contact_id")
    if (
        contact_id is not None
        and out.get("company_id") is None
        and records.access.can("contacts", "read")
    ):
        contact = records.get("contacts", contact_id)
        if contact.company_id is not None:
            out["company_id"] = contact.company_id
    return out


def quote_prefill(args: dict[str, str], records: Any) -> dict[str, Any]:
    """A quote opened from a deal or a contact: the customer and the deal's currency."""
    return _customer(records, args)


def order_prefill(args: dict[str, str], records: Any) -> dict[str, Any]:
    """An order opened from a quote: its customer, currency and lines; or from a deal."""
    quote_id = _id(args, "quote_id")
    if quote_id is None:
        out = _customer(records, args)
        out.pop("title", None)
        return out
    quote = records.get("quotes", quote_id)
    return {
        "currency": quote.currency,
        "contact_id": quote.contact_id,
        "company_id": quote.company_id,
        "deal_id": quote.deal_id,
        "lines": [line_input(line) for line in quote.lines or ()],
    }
