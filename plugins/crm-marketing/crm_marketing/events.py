"""What happened to a campaign's messages, and a contact's opt-out.

``record_event`` is the one function that writes :class:`CampaignEvent` rows: the send job
(``sent``), the public pages (``open``, ``click``, ``unsubscribe``) and bounce processing
(``bounce``). It also keeps the recipient's first-time columns (``opened_at``, ``clicked_at``
...) so results can count people as well as events. It never commits: the caller commits the
event together with whatever else it changed.

``opt_out`` records that a contact's address takes no more marketing mail, through the record
service (audit trail, search index, event hooks), with the time and a source saying why:

============================  ===================================================
``unsubscribe:campaign:<id>``  the unsubscribe page of a campaign's message
``one-click:campaign:<id>``    a mail client's RFC 8058 one-click unsubscribe
``manual``                     set by staff (the contact form or the API; the core's default)
============================  ===================================================

Bounces do not opt contacts out: opt-out is the person's choice, a bounce is a fact about
the address, kept in ``marketing_bounce`` (see :mod:`crm_marketing.bounces`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from crmcore.contacts.models import Contact
from crmcore.db import utcnow

from .models import EVENT_KINDS, CampaignEvent, Recipient

#: The recipient's column set the first time an event of a kind happens.
FIRST_TIME = {
    "sent": "sent_at",
    "open": "opened_at",
    "click": "clicked_at",
    "unsubscribe": "unsubscribed_at",
    "bounce": "bounced_at",
}
#: ``detail`` of the open event implied by a click (images were blocked, the link was followed)
IMPLIED_OPEN = "implied by a click"


def record_event(
    session: Any,
    recipient: Recipient,
    kind: str,
    *,
    link_id: int | None = None,
    detail: str | None = None,
    at: dt.datetime | None = None,
) -> CampaignEvent:
    """Add an event of ``kind`` for ``recipient`` (not committed) and set the recipient's
    first-time column of that kind when it is still empty.

    Every open and click is an event; ``opened_at`` and ``clicked_at`` keep the first. A click
    on a message never seen as opened (images blocked) also records an ``open``: whoever
    clicked a link read the message.
    """
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    at = at or utcnow()
    if kind == "click" and recipient.opened_at is None:
        record_event(session, recipient, "open", detail=IMPLIED_OPEN, at=at)
    column = FIRST_TIME.get(kind)
    if column is not None and getattr(recipient, column) is None:
        setattr(recipient, column, at)
    event = CampaignEvent(
        campaign_id=recipient.campaign_id,
        recipient_id=recipient.id,
        kind=kind,
        at=at,
        link_id=link_id,
        detail=detail[:500] if detail else None,
    )
    session.add(event)
    return event


def opt_out(
    crm: Any,
    contact: Contact,
    source: str,
    *,
    records: Any = None,
    commit: bool = True,
) -> bool:
    """Opt ``contact`` out of marketing e-mail (``email_opt_out``, its time and ``source``)
    through the system's record service; ``True`` when it changed.

    A contact already opted out keeps the time and source of the first opt-out. Pass
    ``records`` and ``commit=False`` to commit together with other writes
    (``records.commit()`` then fires the event hooks).
    """
    if contact.email_opt_out:
        return False
    records = records if records is not None else crm.records()
    records.update(
        "contacts",
        contact,
        {"email_opt_out": True, "email_opt_out_source": source[:100]},
        commit=commit,
    )
    return True
