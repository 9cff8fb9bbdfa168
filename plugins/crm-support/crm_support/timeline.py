"""Tickets, their messages and portal sign-ins on the timeline of their contact and company.

A message shows only on a ticket the reader may read; internal notes only to readers of ticket
messages (agents), public replies to anyone who may read the ticket.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crmcore import TimelineContext, TimelineItem
from crmcore.web.i18n import choice_text

from .models import PortalAccount, Ticket, TicketMessage

KINDS = {
    "ticket": _l("Tickets"),
    "ticket_message": _l("Ticket messages"),
    "portal": _l("Portal"),
}
_SUMMARY = 300


def items(ctx: TimelineContext) -> list[TimelineItem]:
    """One query per kind the reader may read and asked for."""
    out: list[TimelineItem] = []
    about = ctx.about(Ticket.contact_id, Ticket.company_id)
    access = ctx.records.access
    if about is None or not access.can("tickets", "read"):
        return out
    tickets = ctx.records.query("tickets").where(about)
    if ctx.wants("ticket", KINDS["ticket"]):
        rows = ctx.records.session.scalars(
            tickets.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(ctx.fetch)
        )
        for ticket in rows:
            out.append(
                TimelineItem(
                    "ticket", ticket.created_at,
                    gettext("Ticket %(number)s: %(subject)s", number=ticket.number,
                            subject=ticket.subject),
                    choice_text(ticket.status), ctx.link("tickets", ticket.id),
                    ticket.assignee_id, ticket.id, {"status": ticket.status},
                )
            )  # fmt: skip
    if ctx.wants("ticket_message", KINDS["ticket_message"]):
        out.extend(_messages(ctx, tickets.with_only_columns(Ticket.id)))
    if ctx.wants("portal", KINDS["portal"]) and ctx.is_contact:
        out.extend(_portal(ctx))
    return out


def _messages(ctx: TimelineContext, ticket_ids: Any) -> list[TimelineItem]:
    if ctx.records.access.can("ticket_messages", "read"):
        stmt = ctx.records.query("ticket_messages")
    else:
        stmt = select(TicketMessage).where(
            TicketMessage.deleted_at.is_(None), TicketMessage.public.is_(True)
        )
    stmt = (
        stmt.add_columns(Ticket.number)
        .join(Ticket, Ticket.id == TicketMessage.ticket_id)
        .where(TicketMessage.ticket_id.in_(ticket_ids))
        .order_by(TicketMessage.created_at.desc(), TicketMessage.id.desc())
        .limit(ctx.fetch)
    )
    out = []
    for message, number in ctx.records.session.execute(stmt):
        if not message.public:
            title = gettext("Internal note on ticket %(number)s", number=number)
        elif message.author_id is None:
            title = gettext("Customer wrote on ticket %(number)s", number=number)
        else:
            title = gettext("Reply on ticket %(number)s", number=number)
        out.append(
            TimelineItem(
                "ticket_message", message.created_at, title, message.body[:_SUMMARY],
                ctx.link("tickets", message.ticket_id), message.author_id, message.id,
                {"ticket_id": message.ticket_id, "public": message.public,
                 "channel": message.channel},
            )
        )  # fmt: skip
    return out


def _portal(ctx: TimelineContext) -> list[TimelineItem]:
    account = ctx.records.session.scalar(
        select(PortalAccount).where(PortalAccount.contact_id == ctx.record.id)
    )
    if account is None:
        return []
    out = [
        TimelineItem(
            "portal", account.invited_at, gettext("Invited to the customer portal"),
            id=account.id,
        )
    ]  # fmt: skip
    if account.last_login_at is not None:
        out.append(
            TimelineItem(
                "portal", account.last_login_at,
                gettext("Last signed in to the customer portal"), id=account.id,
            )
        )  # fmt: skip
    return out
