"""REST endpoints beyond the generic ones: stage history, quote PDF, purchase history and the
forecast (conversion, sending and ordering are record actions: ``actions.py``). Every read and
write goes through the caller's record service, so their permission scope applies."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from crmcore import NotFound, PermissionDenied, ValidationError, current_crm, parsing

from .models import Order

PURCHASED = ("confirmed", "paid", "partially_shipped", "shipped", "delivered")


def _records() -> Any:
    return current_crm().records(g.crm_access)


class ForecastArgs(Schema):
    period = fields.String(load_default="month", validate=validate.OneOf(["month", "quarter"]))
    owner = fields.String(
        load_default=None, metadata={"description": "A user id, or `me`; default: everyone."}
    )
    pipeline_id = fields.Integer(
        load_default=None,
        validate=validate.Range(1, 2**31 - 1),
        metadata={"description": "Only the deals of this pipeline."},
    )
    team_id = fields.Integer(
        load_default=None,
        validate=validate.Range(1, 2**31 - 1),
        metadata={"description": "Only the deals owned by this team's members."},
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


def owner_of(owner: str | None) -> int | None:
    """The owner filter of the forecast: a user id, ``me`` or nothing (422 otherwise)."""
    if owner == "me":
        return int(g.crm_user.id)
    if owner:
        owner_id = parsing.record_id(owner)
        if owner_id is None:
            raise ValidationError({"owner": ["A user id or `me`."]})
        return owner_id
    return None


def check_filters(records: Any, pipeline_id: int | None, team_id: int | None) -> None:
    """Refuse (422, naming the field) a pipeline or team the reader cannot see, rather than
    answer an empty forecast as if it were true."""
    errors: dict[str, list[str]] = {}
    for name, plural, value in (
        ("pipeline_id", "pipelines", pipeline_id),
        ("team_id", "teams", team_id),
    ):
        if value is None:
            continue
        try:
            records.get(plural, value)
        except (NotFound, PermissionDenied):
            errors[name] = [f"No such {plural[:-1]}."]
    if errors:
        raise ValidationError(errors)


def make_blueprint() -> Blueprint:
    """The ``sales_api`` blueprint, mounted under ``/api/v1``."""
    blp = Blueprint("sales_api", __name__, url_prefix="/api/v1", description="Sales (sales plugin)")

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

        records = _records()
        owner_id = owner_of(args.get("owner"))
        check_filters(records, args.get("pipeline_id"), args.get("team_id"))
        return forecast(
            records, args["period"], owner_id, args.get("pipeline_id"), args.get("team_id")
        )

    return blp
