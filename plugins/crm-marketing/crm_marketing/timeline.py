"""Campaign e-mails on the timeline of their contact (a company's include its contacts'): sent,
opened, clicked, unsubscribed, bounced - for readers of the campaign."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import literal, select, union_all

from crmcore import TimelineContext, TimelineItem

from .models import Campaign, Recipient

KIND = "campaign"
LABEL = _l("Campaign e-mails")
#: Each moment of a campaign message: its column and the line that says it.
EVENTS: dict[str, tuple[Any, Callable[[str], str]]] = {
    "sent": (Recipient.sent_at, lambda n: gettext("Campaign e-mail sent: %(name)s", name=n)),
    "opened": (
        Recipient.opened_at,
        lambda n: gettext("Opened the campaign e-mail: %(name)s", name=n),
    ),
    "clicked": (
        Recipient.clicked_at,
        lambda n: gettext("Clicked a link in the campaign e-mail: %(name)s", name=n),
    ),
    "unsubscribed": (
        Recipient.unsubscribed_at,
        lambda n: gettext("Unsubscribed from the campaign: %(name)s", name=n),
    ),
    "bounced": (
        Recipient.bounced_at,
        lambda n: gettext("Campaign e-mail bounced: %(name)s", name=n),
    ),
}


def items(ctx: TimelineContext) -> list[TimelineItem]:
    """Every moment of the contact's campaign messages, newest first, in one query."""
    about = ctx.about(Recipient.contact_id)
    if about is None or not ctx.records.access.can("campaigns", "read"):
        return []
    if not ctx.wants(KIND, LABEL):
        return []
    readable = ctx.records.query("campaigns").with_only_columns(Campaign.id)
    parts = [
        select(
            literal(event).label("event"),
            column.label("at"),
            Recipient.id.label("id"),
            Campaign.id.label("campaign_id"),
            Campaign.name.label("name"),
        )
        .join(Campaign, Campaign.id == Recipient.campaign_id)
        .where(about, column.is_not(None), Recipient.campaign_id.in_(readable))
        for event, (column, _text) in EVENTS.items()
    ]
    moments = union_all(*parts).subquery()
    stmt = select(moments).order_by(moments.c.at.desc(), moments.c.id.desc()).limit(ctx.fetch)
    return [_item(ctx, row) for row in ctx.records.session.execute(stmt)]


def _item(ctx: TimelineContext, row: Any) -> TimelineItem:
    _column, title = EVENTS[row.event]
    return TimelineItem(
        KIND,
        row.at,
        title(row.name),
        "",
        ctx.link("campaigns", row.campaign_id),
        None,
        row.id,
        {"event": row.event, "campaign_id": row.campaign_id},
    )
