"""Deals, quotes and orders on the timeline of their contact and company (a company's include
those of its contacts), each within the reader's scope."""

from __future__ import annotations

from typing import Any

from flask_babel import format_currency, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func

from crmcore import TimelineContext, TimelineItem
from crmcore.web.i18n import choice_text

from .models import Deal, Order, Quote

KINDS = {"deal": _l("Deals"), "quote": _l("Quotes"), "order": _l("Orders")}


def items(ctx: TimelineContext) -> list[TimelineItem]:
    """One query per kind the reader may read and asked for."""
    out: list[TimelineItem] = []
    access = ctx.records.access
    if ctx.about(Deal.contact_id) is None:
        return out
    if access.can("deals", "read") and ctx.wants("deal", KINDS["deal"]):
        for deal in _rows(ctx, "deals", Deal, Deal.created_at):
            out.append(
                TimelineItem(
                    "deal", deal.created_at, gettext("Deal: %(title)s", title=deal.title),
                    _money(deal.amount, deal.currency), ctx.link("deals", deal.id),
                    deal.owner_id, deal.id, {"amount": str(deal.amount), "currency": deal.currency},
                )
            )  # fmt: skip
    if access.can("quotes", "read") and ctx.wants("quote", KINDS["quote"]):
        when = func.coalesce(Quote.sent_at, Quote.created_at)
        for quote in _rows(ctx, "quotes", Quote, when):
            title = (
                gettext("Quote %(number)s sent", number=quote.number)
                if quote.sent_at
                else gettext("Quote %(number)s", number=quote.number)
            )
            out.append(
                TimelineItem(
                    "quote", quote.sent_at or quote.created_at, title,
                    f"{choice_text(quote.status)} · {_money(quote.total, quote.currency)}",
                    ctx.link("quotes", quote.id), quote.owner_id, quote.id,
                    {"status": quote.status, "total": str(quote.total)},
                )
            )  # fmt: skip
    if access.can("orders", "read") and ctx.wants("order", KINDS["order"]):
        for order in _rows(ctx, "orders", Order, Order.created_at):
            out.append(
                TimelineItem(
                    "order", order.created_at, gettext("Order %(number)s", number=order.number),
                    f"{choice_text(order.status)} · {_money(order.total, order.currency)}",
                    ctx.link("orders", order.id), order.owner_id, order.id,
                    {"status": order.status, "total": str(order.total)},
                )
            )  # fmt: skip
    return out


def _rows(ctx: TimelineContext, plural: str, model: Any, when: Any) -> Any:
    stmt = ctx.records.query(plural).where(ctx.about(model.contact_id, model.company_id))
    return ctx.records.session.scalars(stmt.order_by(when.desc(), model.id.desc()).limit(ctx.fetch))


def _money(amount: Any, currency: str) -> str:
    return format_currency(amount, currency)
