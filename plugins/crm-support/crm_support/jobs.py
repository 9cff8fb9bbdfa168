"""The periodic SLA check: warn before a breach, alert on one (in-app notifications)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import or_, select

from crmcore.db import utcnow
from crmcore.notifications import notify
from crmcore.users.models import User

from . import sla
from .models import OPEN_STATUSES, SupportQueue, Ticket

log = logging.getLogger(__name__)
BATCH = 500


def recipients(session: Any, ticket: Ticket) -> list[int]:
    """The assignee; for an unassigned ticket, its queue's members."""
    if ticket.assignee_id is not None:
        return [ticket.assignee_id]
    queue = session.get(SupportQueue, ticket.queue_id) if ticket.queue_id else None
    return [int(m) for m in (queue.member_ids or ())] if queue is not None else []


def check_slas(app: Any, now: dt.datetime | None = None) -> dict[str, int]:
    """Re-evaluate open tickets with targets; notify on each change to warning or breached."""
    crm = app.extensions["crm"]
    records = crm.records()
    session = records.session
    now = now or utcnow()
    counts = {"warning": 0, "breached": 0, "ok": 0}
    stmt = (
        select(Ticket)
        .where(
            Ticket.deleted_at.is_(None),
            Ticket.status.in_(OPEN_STATUSES),
            Ticket.status != "pending",
            or_(Ticket.first_response_due_at.is_not(None), Ticket.resolution_due_at.is_not(None)),
        )
        .order_by(Ticket.id)
    )
    for ticket in list(session.scalars(stmt.limit(BATCH * 20))):
        status, breached = sla.evaluate(session, ticket, now)
        if status == ticket.sla_status and breached == ticket.sla_breached:
            continue
        records.update(
            "tickets",
            ticket,
            {},
            internal={"sla_status": status, "sla_breached": breached},
            commit=False,
        )
        if status in ("warning", "breached"):
            counts[status] += 1
            for user_id in recipients(session, ticket):
                user = session.get(User, user_id)
                with force_locale(user.locale if user is not None and user.locale else "en"):
                    title = (
                        _("SLA breached: %(number)s", number=ticket.number)
                        if status == "breached"
                        else _("SLA at risk: %(number)s", number=ticket.number)
                    )
                notify(
                    session,
                    user_id,
                    f"support.sla_{status}",
                    title,
                    ticket.subject,
                    link=("ticket", ticket.id),
                )
        else:
            counts["ok"] += 1
    records.commit()
    return counts
