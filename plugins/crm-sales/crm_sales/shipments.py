"""Shipments of an order: which lines and how many, never more than ordered, the ``ship`` and
``deliver`` actions that stamp ``shipped_at``/``delivered_at``, and carrier tracking links.

A shipment's lines point at the order's lines by position (``{"line": 1, "quantity": "2"}``).
Every shipment of an order that is not trashed or returned counts against the ordered
quantities, so an order ships in as many parcels as needed and what is left to ship is always
``ordered - shipped``.

Tracking links come from a URL pattern per carrier, ``{"ups": "https://.../track?num={number}"}``,
kept in the instance setting ``sales_tracking_urls`` (edited on ``/sales/settings``) or in
``[sales] tracking_urls`` of ``crm.toml``; the carrier is matched without regard to case.

The order follows its shipments: once goods of it are on their way it is ``partially_shipped``,
``shipped`` when every line has left in full and ``delivered`` when every line has arrived in
full (:func:`sync_order_status`, run after each shipment write). It only moves forward: a
returned parcel does not take a delivered order back.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlsplit

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crmcore import CRMError, ValidationError
from crmcore.actions import ActionResult, RecordAction

from .common import check_links, instance_today
from .models import Order, Shipment

#: the instance setting holding the carriers' tracking URL patterns
TRACKING_SETTING = "sales_tracking_urls"
#: shipments that no longer carry goods to the customer
NOT_COUNTED = ("returned",)
#: orders that cannot ship
UNSHIPPABLE = ("draft", "cancelled")
#: shipment statuses whose goods have left, and the one whose goods have arrived
LEFT = ("shipped", "in_transit", "delivered")
ARRIVED = ("delivered",)
#: the order statuses its shipments move it through, in order; an order elsewhere (a draft,
#: a cancelled one) is left alone
FULFILMENT = ("confirmed", "paid", "partially_shipped", "shipped", "delivered")


def _number(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def shipped_quantities(
    session: Any, order_id: int, exclude_id: int | None = None
) -> dict[int, Decimal]:
    """Quantities shipped so far per order line position, over the order's live shipments."""
    stmt = select(Shipment.lines).where(
        Shipment.order_id == order_id,
        Shipment.deleted_at.is_(None),
        Shipment.status.not_in(NOT_COUNTED),
    )
    if exclude_id is not None:
        stmt = stmt.where(Shipment.id != exclude_id)
    out: dict[int, Decimal] = {}
    for lines in session.scalars(stmt):
        for line in lines or ():
            position = int(line.get("line") or 0)
            out[position] = out.get(position, Decimal(0)) + _number(line.get("quantity"))
    return out


def _quantities(session: Any, order_id: int, statuses: tuple[str, ...]) -> dict[int, Decimal]:
    """Quantities per order line position in the order's live shipments of ``statuses``."""
    stmt = select(Shipment.lines).where(
        Shipment.order_id == order_id,
        Shipment.deleted_at.is_(None),
        Shipment.status.in_(statuses),
    )
    out: dict[int, Decimal] = {}
    for lines in session.scalars(stmt):
        for line in lines or ():
            position = int(line.get("line") or 0)
            out[position] = out.get(position, Decimal(0)) + _number(line.get("quantity"))
    return out


def fulfilment_status(session: Any, order: Order) -> str | None:
    """The status the order's shipments give it: ``delivered`` when every line arrived in full,
    ``shipped`` when every line left in full, ``partially_shipped`` when something left;
    ``None`` when nothing has left yet."""
    ordered = {
        position: _number(line.get("quantity"))
        for position, line in enumerate(order.lines or (), start=1)
    }
    ordered = {k: v for k, v in ordered.items() if v > 0}
    left = _quantities(session, order.id, LEFT)
    if not ordered or not any(v > 0 for v in left.values()):
        return None
    arrived = _quantities(session, order.id, ARRIVED)
    if all(arrived.get(k, Decimal(0)) >= v for k, v in ordered.items()):
        return "delivered"
    if all(left.get(k, Decimal(0)) >= v for k, v in ordered.items()):
        return "shipped"
    return "partially_shipped"


def sync_order_status(records: Any, order_id: int) -> Any:
    """Move the order forward to what its shipments say (see :func:`fulfilment_status`).

    ``records`` is a system record service: the move follows from a shipment the user was
    allowed to write, whoever owns the order. Returns the order, or ``None`` when gone."""
    order = records.session.get(Order, order_id)
    if order is None or order.deleted_at is not None or order.status not in FULFILMENT:
        return order
    target = fulfilment_status(records.session, order)
    if target is None or FULFILMENT.index(target) <= FULFILMENT.index(order.status):
        return order
    return records.update("orders", order, {"status": target})


def to_ship(session: Any, order: Order, exclude_id: int | None = None) -> list[dict[str, Any]]:
    """Each line of ``order``: position, description, ordered, shipped and remaining."""
    shipped = shipped_quantities(session, order.id, exclude_id)
    rows = []
    for position, line in enumerate(order.lines or (), start=1):
        ordered = _number(line.get("quantity"))
        done = shipped.get(position, Decimal(0))
        rows.append(
            {
                "line": position,
                "description": str(line.get("description") or line.get("sku") or ""),
                "ordered": ordered,
                "shipped": done,
                "remaining": max(ordered - done, Decimal(0)),
            }
        )
    return rows


def _check_lines(
    session: Any, order: Order, lines: list[dict[str, Any]], exclude_id: int | None
) -> list[dict[str, Any]]:
    """The lines with their descriptions; 422 on the row that asks for more than is left.

    The messages are fixed sentences so that pages show them translated (the *Shipping* panel
    of the order says how many are left)."""
    rows = {row["line"]: row for row in to_ship(session, order, exclude_id)}
    errors: dict[int, dict[str, list[str]]] = {}
    asked: dict[int, Decimal] = {}
    out = []
    for index, line in enumerate(lines):
        position = int(line["line"])
        row = rows.get(position)
        if row is None:
            errors[index] = {"line": ["The order has no such line."]}
            continue
        quantity = _number(line["quantity"])
        asked[position] = asked.get(position, Decimal(0)) + quantity
        if asked[position] > row["remaining"]:
            errors[index] = {"quantity": ["More than is left to ship on this line."]}
            continue
        out.append(
            {"line": position, "description": row["description"], "quantity": f"{quantity:f}"}
        )
    if errors:
        raise ValidationError({"lines": errors})
    return out


def prepare_shipment(values: dict[str, Any], record: Any, service: Any) -> None:
    """Check the order and the quantities; stamp the dates of a shipped or delivered status."""
    if record is not None and "order_id" in values and values["order_id"] != record.order_id:
        raise ValidationError({"order_id": ["A shipment stays with its order."]})
    check_links(service, values, {"order_id": "orders"})
    order_id = values.get("order_id", record.order_id if record is not None else None)
    order = service.session.get(Order, order_id) if order_id is not None else None
    if record is None and order is not None and order.status in UNSHIPPABLE:
        raise ValidationError({"order_id": ["A draft or cancelled order cannot ship."]})
    if "lines" in values and order is not None:
        if record is not None and record.status != "pending" and not _same(values["lines"], record):
            raise ValidationError({"lines": ["The lines of a shipment on its way cannot change."]})
        values["lines"] = _check_lines(
            service.session, order, values["lines"], record.id if record is not None else None
        )
    elif record is None:
        values["lines"] = []
    status = values.get("status")
    today = instance_today(service.session)
    if status in ("shipped", "in_transit", "delivered"):
        if (record is None or record.shipped_at is None) and not values.get("shipped_at"):
            values["shipped_at"] = today
    if status == "delivered" and (record is None or record.delivered_at is None):
        if not values.get("delivered_at"):
            values["delivered_at"] = today


def _same(lines: list[dict[str, Any]], record: Any) -> bool:
    """Whether ``lines`` say what the shipment's stored lines say (a form sends them back)."""

    def key(items: Any) -> list[tuple[int, Decimal]]:
        return [(int(x.get("line") or 0), _number(x.get("quantity"))) for x in items or ()]

    return key(lines) == key(record.lines)


def tracking_patterns(crm: Any = None) -> dict[str, str]:
    """The carriers' URL patterns, lower-cased carrier names: settings over ``crm.toml``."""
    from crmcore.settings import _crm, current_settings

    crm = _crm(crm)
    found: dict[str, str] = {}
    if crm is not None:
        toml = (crm.settings.extra.get("sales") or {}).get("tracking_urls")
        stored = current_settings(crm).get(TRACKING_SETTING)
        for source in (toml, stored):
            if isinstance(source, Mapping):
                found.update({str(k).strip().lower(): str(v) for k, v in source.items()})
    return found


def pattern_error(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable tracking URL pattern, or ``None``."""
    parts = urlsplit(pattern.replace("{number}", "0"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return str(_l("Use an http or https address."))
    if "{number}" not in pattern:
        return str(
            _l("Put %(placeholder)s where the tracking number goes.", placeholder="{number}")
        )
    return None


def tracking_url(carrier: str | None, number: str | None, crm: Any = None) -> str | None:
    """The carrier's tracking page for ``number``, or ``None`` without a pattern or number."""
    if not carrier or not number:
        return None
    pattern = tracking_patterns(crm).get(carrier.strip().lower())
    if not pattern or pattern_error(pattern):
        return None
    return pattern.replace("{number}", quote(number.strip(), safe=""))


def shipment_prefill(args: dict[str, str], records: Any) -> dict[str, Any]:
    """A shipment opened from an order: every line still to ship, with what is left of it."""
    from .prefill import _id

    order_id = _id(args, "order_id")
    if order_id is None:
        return {}
    order = records.get("orders", order_id)
    lines = [
        {"line": row["line"], "quantity": f"{row['remaining'].normalize():f}"}
        for row in to_ship(records.session, order)
        if row["remaining"] > 0
    ]
    return {"order_id": order.id, "lines": lines}


def line_options(
    records: Any, values: Mapping[str, Any], record: Any
) -> list[tuple[str, str]] | None:
    """The order's lines as the options of a shipment line's input: position, description and
    what is left of it; ``None`` (a plain input) until the form names an order the user may
    read."""
    order_id = record.order_id if record is not None else values.get("order_id")
    text = str(order_id or "").strip()
    if not (text.isascii() and text.isdigit()) or int(text) >= 2**63:
        return None
    try:
        order = records.get("orders", int(text))
    except CRMError:
        return None
    exclude = record.id if record is not None else None
    return [(str(row["line"]), _line_text(row)) for row in to_ship(records.session, order, exclude)]


def _line_text(row: dict[str, Any]) -> str:
    remaining = format(row["remaining"].normalize(), "f")
    ordered = format(row["ordered"].normalize(), "f")
    return str(
        _l(
            "%(line)s · %(description)s (%(remaining)s of %(ordered)s left)",
            line=row["line"],
            description=row["description"] or "—",
            remaining=remaining,
            ordered=ordered,
        )
    )


def _not_pending(shipment: Any) -> str | None:
    if shipment.status != "pending":
        return str(_l("This shipment left already."))
    return None


def _not_deliverable(shipment: Any) -> str | None:
    if shipment.status in ("delivered", "returned"):
        return str(_l("This shipment is delivered or returned."))
    return None


def _ship(records: Any, shipment: Any, data: dict[str, Any]) -> ActionResult:
    records.update("shipments", shipment, {"status": "shipped"})
    return ActionResult(message="Marked as shipped.")


def _deliver(records: Any, shipment: Any, data: dict[str, Any]) -> ActionResult:
    records.update("shipments", shipment, {"status": "delivered"})
    return ActionResult(message="Marked as delivered.")


def shipment_actions() -> tuple[RecordAction, ...]:
    """``ship`` and ``deliver``: the status moves that stamp the shipment's dates."""
    return (
        RecordAction(
            name="ship",
            label="Mark shipped",
            handler=_ship,
            applies=_not_pending,
            bulk=True,
            description="Mark the shipment shipped and stamp shipped_at (409 unless pending).",
        ),
        RecordAction(
            name="deliver",
            label="Mark delivered",
            handler=_deliver,
            applies=_not_deliverable,
            bulk=True,
            description="Mark the shipment delivered and stamp delivered_at (and shipped_at "
            "when missing); 409 when delivered or returned.",
        ),
    )
