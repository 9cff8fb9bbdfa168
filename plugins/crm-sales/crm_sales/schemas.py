"""Marshmallow schemas of the sales entities: what the API accepts and returns.

Money is dumped as decimal strings (``"1234.50"``) so no client parses it as a float. Totals,
numbers and conversion data are ``dump_only``: sending them is refused as an unknown field.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from babel.numbers import list_currencies
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crmcore import RecordSchema

from .models import LEAD_STATUSES, ORDER_STATUSES, QUOTE_STATUSES, SHIPMENT_STATUSES

MAX_MONEY = Decimal("999999999999.99")


def _has_two_decimals(value: Decimal) -> None:
    if value.normalize().as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValidationError("At most two decimals.")


def _currency(value: str) -> None:
    if value not in list_currencies():
        raise ValidationError("Not an ISO 4217 currency code (such as EUR or USD).")


def Currency(**kw: Any) -> fields.String:
    """An ISO 4217 currency code."""
    return fields.String(validate=_currency, **kw)


def _between(low: Decimal, high: Decimal, error: str, low_inclusive: bool = True) -> Any:
    """A range check. ``validate.Range`` would put Decimal bounds into the OpenAPI document as
    strings, which is invalid there; the bounds are documented as numbers instead."""

    def check(value: Decimal) -> None:
        if value < low or (value == low and not low_inclusive) or value > high:
            raise ValidationError(error)

    return check


def _decimal(validators: list[Any], low: Decimal, high: Decimal, **kw: Any) -> fields.Decimal:
    metadata = {"minimum": float(low), "maximum": float(high), **kw.pop("metadata", {})}
    return fields.Decimal(as_string=True, validate=validators, metadata=metadata, **kw)


def Money(**kw: Any) -> fields.Decimal:
    """A non-negative amount with at most two decimals, dumped as a string (shown on pages in
    the record's currency: ``metadata["money"]``)."""
    check = _between(Decimal(0), MAX_MONEY, f"Must be between 0 and {MAX_MONEY}.")
    kw["metadata"] = {"money": True, **kw.get("metadata", {})}
    return _decimal([check, _has_two_decimals], Decimal(0), MAX_MONEY, **kw)


def Percent(**kw: Any) -> fields.Decimal:
    """A percentage from 0 to 100."""
    check = _between(Decimal(0), Decimal(100), "Must be between 0 and 100 %.")
    return _decimal([check], Decimal(0), Decimal(100), **kw)


class LeadSchema(RecordSchema):
    first_name = fields.String(load_default="", validate=validate.Length(0, 100))
    last_name = fields.String(load_default="", validate=validate.Length(0, 100))
    email = fields.Email(allow_none=True)
    phone = fields.String(allow_none=True, validate=validate.Length(0, 40))
    title = fields.String(allow_none=True, validate=validate.Length(0, 100))
    company_name = fields.String(allow_none=True, validate=validate.Length(0, 200))
    website = fields.String(allow_none=True, validate=validate.Length(0, 300))
    source = fields.String(allow_none=True, validate=validate.Length(0, 100))
    status = fields.String(validate=validate.OneOf(LEAD_STATUSES))
    score = fields.Integer(validate=validate.Range(0, 100))
    description = fields.String(allow_none=True)
    converted_at = fields.AwareDateTime(dump_only=True)
    contact_id = fields.Integer(dump_only=True)
    company_id = fields.Integer(dump_only=True)
    deal_id = fields.Integer(dump_only=True)

    @validates_schema
    def _named(self, data: dict[str, Any], partial: Any = None, **_kw: Any) -> None:
        if partial:
            return
        if not (data.get("last_name") or data.get("email") or data.get("company_name")):
            raise ValidationError("Give a name, an e-mail or a company.", "last_name")


class PipelineSchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    description = fields.String(allow_none=True)
    position = fields.Integer(validate=validate.Range(0, 10_000))


class StageSchema(RecordSchema):
    pipeline_id = fields.Integer(required=True)
    name = fields.String(required=True, validate=validate.Length(1, 100))
    position = fields.Integer(validate=validate.Range(0, 10_000))
    probability = fields.Integer(validate=validate.Range(0, 100))
    is_won = fields.Boolean()
    is_lost = fields.Boolean()

    @validates_schema
    def _not_both(self, data: dict[str, Any], **_kw: Any) -> None:
        if data.get("is_won") and data.get("is_lost"):
            raise ValidationError("A stage is won or lost, not both.", "is_lost")


class DealSchema(RecordSchema):
    title = fields.String(required=True, validate=validate.Length(1, 200))
    amount = Money()
    currency = Currency()
    pipeline_id = fields.Integer(metadata={"description": "Default: the stage's pipeline."})
    stage_id = fields.Integer(
        metadata={"description": "Default: the first stage of the (first) pipeline."}
    )
    probability = fields.Integer(
        validate=validate.Range(0, 100),
        metadata={"description": "Percent; default: the stage's probability."},
    )
    close_date = fields.Date(allow_none=True)
    contact_id = fields.Integer(allow_none=True)
    company_id = fields.Integer(allow_none=True)
    lost_reason = fields.String(allow_none=True, validate=validate.Length(0, 300))
    description = fields.String(allow_none=True)
    stage_changed_at = fields.AwareDateTime(dump_only=True)


class ProductSchema(RecordSchema):
    sku = fields.String(required=True, validate=validate.Length(1, 64))
    name = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(allow_none=True)
    prices = fields.Dict(
        keys=Currency(),
        values=Money(),
        metadata={
            "description": 'Unit price per currency: {"EUR": "10.00"}',
            "key_label": "currency",
            "value_label": "unit_price",
        },
    )
    tax_rate = Percent()
    active = fields.Boolean()


class PriceListSchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    currency = Currency(required=True)
    customer_group = fields.String(allow_none=True, validate=validate.Length(0, 100))
    prices = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[1-9][0-9]{0,17}$", error="A product id.")),
        values=Money(),
        metadata={
            "description": 'Unit price per product id: {"12": "9.50"}',
            "key_label": "product",
            "value_label": "unit_price",
        },
    )
    active = fields.Boolean()


class LineSchema(Schema):
    """One line of a quote or an order; ``net``, ``tax`` and ``total`` are computed.

    The metadata drives the line editor of the forms: a line's description, unit price and tax
    rate are filled from its product (``fill_from``); a line that gets filled starts with a
    quantity of 1 (``form_default``).
    """

    product_id = fields.Integer(allow_none=True)
    sku = fields.String(dump_only=True)
    description = fields.String(
        validate=validate.Length(0, 500), metadata={"fill_from": "product_id"}
    )
    quantity = _decimal(
        [_between(Decimal(0), Decimal(10**9), "Must be more than 0.", low_inclusive=False)],
        Decimal(0),
        Decimal(10**9),
        required=True,
        metadata={"form_default": "1"},
    )
    unit_price = Money(allow_none=True, metadata={"fill_from": "product_id"})
    discount_percent = Percent()
    tax_rate = Percent(allow_none=True, metadata={"fill_from": "product_id"})
    currency = Currency(load_only=True)
    net = fields.Decimal(as_string=True, dump_only=True, metadata={"money": True})
    tax = fields.Decimal(as_string=True, dump_only=True, metadata={"money": True})
    total = fields.Decimal(as_string=True, dump_only=True, metadata={"money": True})


class _DocumentSchema(RecordSchema):
    number = fields.String(dump_only=True)
    currency = Currency()
    contact_id = fields.Integer(allow_none=True)
    company_id = fields.Integer(allow_none=True)
    deal_id = fields.Integer(allow_none=True)
    notes = fields.String(allow_none=True)
    lines = fields.List(fields.Nested(LineSchema), validate=validate.Length(0, 500))
    subtotal = fields.Decimal(as_string=True, dump_only=True)
    tax_total = fields.Decimal(as_string=True, dump_only=True)
    total = fields.Decimal(as_string=True, dump_only=True)


class QuoteSchema(_DocumentSchema):
    title = fields.String(allow_none=True, validate=validate.Length(0, 200))
    status = fields.String(validate=validate.OneOf(QUOTE_STATUSES))
    price_list_id = fields.Integer(allow_none=True)
    valid_until = fields.Date(allow_none=True)
    sent_at = fields.AwareDateTime(dump_only=True)


class OrderSchema(_DocumentSchema):
    status = fields.String(validate=validate.OneOf(ORDER_STATUSES))
    quote_id = fields.Integer(dump_only=True)
    order_date = fields.Date(allow_none=True)


def _order_lines(records: Any, values: Any, record: Any) -> Any:
    """The shipment form's order-line options (see ``shipments.line_options``)."""
    from .shipments import line_options

    return line_options(records, values, record)


class ShipmentLineSchema(Schema):
    """One line of a shipment: which line of the order (its position, from 1) and how many;
    the description is copied from the order line."""

    line = fields.Integer(
        required=True,
        validate=validate.Range(1, 500),
        metadata={
            "label": "Order line",
            "description": "The position of the order line (1, 2...).",
            "options": _order_lines,
        },
    )
    description = fields.String(dump_only=True)
    quantity = _decimal(
        [_between(Decimal(0), Decimal(10**9), "Must be more than 0.", low_inclusive=False)],
        Decimal(0),
        Decimal(10**9),
        required=True,
    )


class ShipmentSchema(RecordSchema):
    order_id = fields.Integer(required=True, metadata={"reference": "orders"})
    lines = fields.List(fields.Nested(ShipmentLineSchema), validate=validate.Length(0, 500))
    tracking_url = fields.Method("_tracking_url", dump_only=True)
    carrier = fields.String(required=True, validate=validate.Length(1, 100))
    tracking_number = fields.String(allow_none=True, validate=validate.Length(0, 100))
    status = fields.String(validate=validate.OneOf(SHIPMENT_STATUSES))
    shipped_at = fields.Date(allow_none=True)
    delivered_at = fields.Date(allow_none=True)

    def _tracking_url(self, shipment: Any) -> str | None:
        from .shipments import tracking_url

        return tracking_url(shipment.carrier, shipment.tracking_number)


# (?!\n)$: the end of the text in Python and in the ECMA regex of the OpenAPI document alike
PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2]|Q[1-4])(?!\n)$"


class QuotaSchema(RecordSchema):
    period = fields.String(
        required=True,
        validate=validate.Regexp(PERIOD_PATTERN, error="A month (2026-03) or a quarter (2026-Q1)."),
        metadata={"description": "A month (`2026-03`) or a quarter (`2026-Q1`)."},
    )
    amount = Money(required=True)


class ConvertSchema(Schema):
    """Body of ``POST /api/v1/leads/<id>/convert``."""

    create_deal = fields.Boolean(load_default=False)
    deal_title = fields.String(validate=validate.Length(1, 200))
    pipeline_id = fields.Integer(
        allow_none=True,
        metadata={"reference": "pipelines", "description": "Default: the first pipeline."},
    )
    amount = Money()
    currency = Currency()


def _one_line(value: str) -> None:
    """A mail header's text: no line break or other control character (header injection)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationError("The subject must be one line of text.")


class SendQuoteSchema(Schema):
    """Body of ``POST /api/v1/quotes/<id>/send``."""

    to = fields.Email(
        metadata={
            "description": "Default: the quote's contact; else the address of a contact the "
            "sender may read.",
            "label": "Recipient",
        }
    )
    subject = fields.String(
        validate=[
            validate.Length(1, 200),
            _one_line,
        ]
    )
    message = fields.String(validate=validate.Length(0, 5000))
