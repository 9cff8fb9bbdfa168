"""Panels on record pages: a ticket's conversation, a contact's tickets."""

from __future__ import annotations

from typing import Any

from flask import g, render_template

from . import sla, tickets
from .models import CannedResponse, Ticket


def ticket_thread(record: Any, user: Any, records: Any) -> str | None:
    """The SLA clock, the thread and the reply form with the canned responses the reader may
    read (escaped by the template)."""
    if not records.access.can("ticket_messages", "read"):
        return None
    thread = tickets.messages(records.session, record.id)
    can_reply = records.access.allows_record(
        records.entity("tickets"), "update", record, records.session
    ) and records.access.can("ticket_messages", "create")
    canned = []
    if can_reply and records.access.can("canned_responses", "read"):
        canned = list(
            records.session.scalars(
                records.query("canned_responses").order_by(CannedResponse.name).limit(200)
            )
        )
    return render_template(
        "support/_thread.html",
        ticket=record,
        clock=sla.clock(records.session, record),
        sla_time=sla.describe,
        canned=canned,
        draft=g.get("support_reply") or {},
        thread=thread,
        files=tickets.attachments_of(records.session, thread),
        can_reply=can_reply,
    )


def contact_tickets(record: Any, user: Any, records: Any) -> str | None:
    """The contact's latest tickets that the reader may see."""
    if not records.access.can("tickets", "read"):
        return None
    rows = list(
        records.session.scalars(
            records.query("tickets")
            .where(Ticket.contact_id == record.id)
            .order_by(Ticket.id.desc())
            .limit(10)
        )
    )
    return render_template("support/_contact_tickets.html", tickets=rows, contact=record)
