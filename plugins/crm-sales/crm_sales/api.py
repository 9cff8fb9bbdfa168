"""REST endpoints beyond the generic ones: conversion, stage history, quote PDF, sending and
ordering, purchase history and the forecast. Every read and write goes through the caller's
record service, so their permission scope applies."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, g, url_for
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from crmcore import ValidationError, current_crm, parsing

from .models import Order
from .schemas import ConvertSchema, SendQuoteSchema

PURCHASED = ("confirmed", "paid", "shipped", "delivered")


def _records() -> Any:
    return current_crm().records(g.crm_access)


def _dump(entity: str, record: Any, status: int = 200) -> Response:
    records = _records()
    response = current_app.json.response(records.entity(entity).dump_schema.dump(record))
    response.status_code = status
    response.headers["ETag"] = f'"{record.version}"'
    return response


class ConvertResult(Schema):
    contact_id = fields.Integer()
    company_id = fields.Integer(allow_none=True)
    deal_id = fields.Integer(allow_none=True)


class ForecastArgs(Schema):
    period = fields.String(load_default="month", validate=validate.OneOf(["month", "quarter"]))
    owner = fields.String(
        load_default=None, metadata={"description": "A user id, or `me`; default: everyone."}
    )


def purchases(records: Any, column: str, record_id: int) -> list[dict[str, Any]]:
    """Orders (confirmed or later) of one contact or company that the reader may see."""
    stmt = (
        records.query("orders")
        .where(getattr(Order, column) == record_id, Order.status.in_(PURCHASED))
        .order_by(Order.order_date.desc(), Order.id.desc())
        .limit(500)
    )
    out = []
    for order in records.session.scalars(stmt):
        out.append(
            {
                "order_id": order.id,
                "number": order.number,
                "date": order.order_date.isoformat() if order.order_date else None,
                "status": order.status,
                "currency": order.currency,
                "total": str(order.total),
                "lines": [
                    {
                        k: line.get(k)
                        for k in (
                            "product_id",
                            "sku",
                            "description",
                            "quantity",
                            "unit_price",
                            "total",
                        )
                    }
                    for line in order.lines or ()
                ],
            }
        )
    return out


def make_blueprint() -> Blueprint:
    """The ``sales_api`` blueprint, mounted under ``/api/v1``."""
    blp = Blueprint("sales_api", __name__, url_prefix="/api/v1", description="Sales (sales plugin)")

    @blp.route("/leads/<int:lead_id>/convert", methods=["POST"])
    @blp.arguments(ConvertSchema)
    @blp.response(200, ConvertResult)
    def convert_lead(options: dict[str, Any], lead_id: int) -> Any:
        """Convert a lead to a contact, a company and optionally a deal (409 if done)."""
        from .leads import convert

        return convert(_records(), lead_id, options)

    @blp.route("/deals/<int:deal_id>/stages")
    @blp.response(200)
    def deal_stages(deal_id: int) -> Any:
        """The deal's stage history with the time spent in each stage."""
        from .deals import stage_history

        records = _records()
        records.get("deals", deal_id)
        return {"data": stage_history(records.session, deal_id)}

    @blp.route("/quotes/<int:quote_id>/pdf")
    @blp.response(200, content_type="application/pdf")
    def quote_pdf(quote_id: int) -> Any:
        """The quote as a PDF document."""
        from .pdf import quote_pdf as render

        records = _records()
        quote = records.get("quotes", quote_id)
        pdf = render(current_app, current_crm().records(), quote)
        return Response(
            pdf,
            mimetype="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{quote.number}.pdf"'},
        )

    @blp.route("/quotes/<int:quote_id>/send", methods=["POST"])
    @blp.arguments(SendQuoteSchema)
    @blp.response(202)
    def send_quote(options: dict[str, Any], quote_id: int) -> Any:
        """E-mail the quote with its PDF (a background job) and mark it sent: to its contact
        or another contact the sender may read (422), within a per-user quota (429)."""
        from .quotemail import count_send, recipient

        records = _records()
        quote = records.get("quotes", quote_id, "update")
        to = recipient(records, quote, options.get("to"))
        count_send(current_crm(), records.access.user_id)
        subject = options.get("subject") or f"Quote {quote.number}"
        body = options.get("message") or f"Please find attached our quote {quote.number}."
        if quote.status == "draft":
            records.update("quotes", quote, {"status": "sent"})
        job = current_crm().jobs.enqueue(
            "crm_sales.jobs:send_quote", quote.id, to, subject, body, retries=3, retry_delay=60
        )
        return {"queued": True, "job_id": job.id, "to": to}

    @blp.route("/quotes/<int:quote_id>/order", methods=["POST"])
    @blp.response(201)
    def order_quote(quote_id: int) -> Any:
        """Make an order of the quote (409 when rejected or ordered already)."""
        from .documents import order_from_quote

        order = order_from_quote(_records(), quote_id)
        response = _dump("orders", order, 201)
        response.headers["Location"] = url_for("api_orders.Item", record_id=order.id)
        return response

    @blp.route("/contacts/<int:contact_id>/purchases")
    @blp.response(200)
    def contact_purchases(contact_id: int) -> Any:
        """What the contact bought: orders with their lines, newest first."""
        records = _records()
        records.get("contacts", contact_id)
        return {"data": purchases(records, "contact_id", contact_id)}

    @blp.route("/companies/<int:company_id>/purchases")
    @blp.response(200)
    def company_purchases(company_id: int) -> Any:
        """What the company bought: orders with their lines, newest first."""
        records = _records()
        records.get("companies", company_id)
        return {"data": purchases(records, "company_id", company_id)}

    @blp.route("/forecast")
    @blp.arguments(ForecastArgs, location="query")
    @blp.response(200)
    def sales_forecast(args: dict[str, Any]) -> Any:
        """Open pipeline, weighted, committed, best case and won per period."""
        from .forecast import forecast

        owner = args.get("owner")
        owner_id: int | None = None
        if owner == "me":
            owner_id = g.crm_user.id
        elif owner:
            owner_id = parsing.record_id(owner)
            if owner_id is None:
                raise ValidationError({"owner": ["A user id or `me`."]})
        return forecast(_records(), args["period"], owner_id)

    return blp
