"""Line and document totals, computed on the server with ``Decimal`` and ``ROUND_HALF_UP``.

Each line: ``net = round(quantity x unit_price x (1 - discount_percent / 100))``,
``tax = round(net x tax_rate / 100)``, ``total = net + tax``; the document's ``subtotal``,
``tax_total`` and ``total`` are the sums of its rounded lines. Client-sent sums are never read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmcore import ValidationError

from .models import PriceList, Product

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def money(value: Decimal) -> Decimal:
    """``value`` rounded half-up to cents."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _price_of(product: Product, currency: str, price_list: PriceList | None) -> Decimal | None:
    if price_list is not None and price_list.currency == currency:
        special = (price_list.prices or {}).get(str(product.id))
        if special is not None:
            return Decimal(str(special))
    price = (product.prices or {}).get(currency)
    return Decimal(str(price)) if price is not None else None


def compute_lines(
    session: Session,
    lines: Sequence[Mapping[str, Any]],
    currency: str,
    price_list_id: int | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Decimal]]:
    """Validated, priced lines and the totals; ``ValidationError`` names each bad line.

    A line may name a ``product_id``: its name, unit price (from the price list, else the
    product's price in ``currency``) and tax rate fill what the line leaves out. A line with a
    ``currency`` other than the document's is refused: one document, one currency.
    """
    price_list = session.get(PriceList, price_list_id) if price_list_id else None
    if price_list is not None and price_list.currency != currency:
        raise ValidationError({"price_list_id": [f"The price list is in {price_list.currency}."]})
    ids = {int(line["product_id"]) for line in lines if line.get("product_id") is not None}
    products = (
        {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(ids)))}
        if ids
        else {}
    )
    errors: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    subtotal = tax_total = Decimal(0)
    for index, line in enumerate(lines):
        problems: dict[str, list[str]] = {}
        product = products.get(line.get("product_id")) if line.get("product_id") else None
        if line.get("product_id") is not None and product is None:
            problems["product_id"] = ["No such product."]
        if line.get("currency") not in (None, currency):
            problems["currency"] = [
                f"The quote is in {currency}; a line cannot be in {line['currency']}."
            ]
        unit_price = line.get("unit_price")
        if unit_price is None and product is not None:
            unit_price = _price_of(product, currency, price_list)
            if unit_price is None:
                problems["unit_price"] = [f"The product has no price in {currency}."]
        if unit_price is None and "unit_price" not in problems:
            problems["unit_price"] = ["Give a unit price or a product."]
        description = line.get("description") or (product.name if product else "")
        if not description:
            problems["description"] = ["Give a description or a product."]
        if problems:
            errors[str(index)] = problems
            continue
        quantity = Decimal(line["quantity"])
        discount = Decimal(line.get("discount_percent") or 0)
        rate = line.get("tax_rate")
        if rate is None:
            rate = product.tax_rate if product is not None else 0
        tax_rate = Decimal(rate)
        assert unit_price is not None
        net = money(quantity * Decimal(unit_price) * (HUNDRED - discount) / HUNDRED)
        tax = money(net * tax_rate / HUNDRED)
        subtotal += net
        tax_total += tax
        out.append(
            {
                "product_id": product.id if product else None,
                "sku": product.sku if product else None,
                "description": description,
                "quantity": str(quantity),
                "unit_price": str(money(Decimal(unit_price))),
                "discount_percent": str(discount),
                "tax_rate": str(tax_rate),
                "net": str(net),
                "tax": str(tax),
                "total": str(net + tax),
            }
        )
    if errors:
        raise ValidationError({"lines": errors})
    totals = {"subtotal": subtotal, "tax_total": tax_total, "total": subtotal + tax_total}
    return out, totals
