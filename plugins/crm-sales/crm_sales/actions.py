"""The record actions of sales: convert a lead, send a quote, make an order of it.

Each is declared once here; the core gives it its endpoint (``/api/v1/leads/<id>/convert``,
``/quotes/<id>/send``, ``/quotes/<id>/order``), its button and dialog, and its audit row.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import object_session

from crmcore import current_crm
from crmcore.actions import ActionResult, RecordAction

from .schemas import ConvertSchema, SendQuoteSchema


def _lead_converted(lead: Any) -> str | None:
    return str(_l("This lead was converted already.")) if lead.status == "converted" else None


def _convert(records: Any, lead: Any, data: dict[str, Any]) -> ActionResult:
    from .leads import convert

    result = convert(records, lead.id, data)
    deal_id, contact_id = result["deal_id"], result["contact_id"]
    if deal_id is not None:
        target = ("deals", deal_id)
        message = "Lead converted; here is the new deal."
    else:
        target = ("contacts", int(contact_id or 0))
        message = "Lead converted; here is the contact."
    return ActionResult(data=result, target=target, message=message)


def _send_quote(records: Any, quote: Any, data: dict[str, Any]) -> ActionResult:
    """E-mail the quote with its PDF (a background job) and mark it sent: to its contact or
    another contact the sender may read (422), within a per-user quota (429)."""
    from .quotemail import count_send, recipient

    to = recipient(records, quote, data.get("to"))
    count_send(current_crm(), records.access.user_id)
    subject = data.get("subject") or f"Quote {quote.number}"
    body = data.get("message") or f"Please find attached our quote {quote.number}."
    if quote.status == "draft":
        records.update("quotes", quote, {"status": "sent"})
    job = current_crm().jobs.enqueue(
        "crm_sales.jobs:send_quote",
        quote.id,
        to,
        subject,
        body,
        records.access.user_id,
        retries=3,
        retry_delay=60,
    )
    return ActionResult(
        data={"queued": True, "job_id": job.id, "to": to},
        message="The quote is on its way to %(to)s.",
        message_args={"to": to},
    )


def _quote_not_orderable(quote: Any) -> str | None:
    from .common import instance_today
    from .models import Order

    if quote.status == "rejected":
        return str(_l("A rejected quote cannot become an order."))
    session = object_session(quote)
    if session is None:
        return None
    if quote.valid_until is not None and quote.valid_until < instance_today(session):
        return str(
            _l(
                "This quote expired on %(date)s: extend its validity or make a new quote.",
                date=quote.valid_until.isoformat(),
            )
        )
    existing = session.scalar(select(Order.number).where(Order.quote_id == quote.id))
    if existing is not None:
        return str(_l("This quote already became order %(number)s.", number=existing))
    return None


def _order(records: Any, quote: Any, data: dict[str, Any]) -> ActionResult:
    from .documents import order_from_quote

    order = order_from_quote(records, quote.id)
    return ActionResult(
        data=records.entity("orders").dump_schema.dump(order),
        target=("orders", order.id),
        message="Order %(number)s created.",
        message_args={"number": order.number},
    )


def lead_actions() -> tuple[RecordAction, ...]:
    return (
        RecordAction(
            name="convert",
            label="Convert",
            handler=_convert,
            applies=_lead_converted,
            schema=ConvertSchema,
            field="status",
            value="converted",
            description="Convert a lead to a contact, a company and optionally a deal "
            "(409 if done).",
        ),
    )


def quote_actions() -> tuple[RecordAction, ...]:
    return (
        RecordAction(
            name="send",
            label="Send",
            handler=_send_quote,
            schema=SendQuoteSchema,
            bulk=True,
            status=202,
            description="E-mail the quote with its PDF (a background job) and mark it sent.",
        ),
        RecordAction(
            name="order",
            label="Make an order",
            handler=_order,
            permission="orders.create",
            applies=_quote_not_orderable,
            status=201,
            description="Make an order of the quote with its lines (409 when rejected, "
            "expired or ordered already).",
        ),
    )
