"""Tables of the marketing plugin (all prefixed ``marketing_``).

A campaign's recipients are its outbox: one row per contact, written before anything is sent,
so the state of every message survives a crash (see :mod:`crm_marketing.sending`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from crmcore.db import (
    AwareDateTime,
    Base,
    CustomFieldsMixin,
    JSONType,
    OwnedMixin,
    RecordMixin,
    TagsMixin,
    utcnow,
)

SEGMENT_KINDS = ("dynamic", "static")
CAMPAIGN_KINDS = ("email", "direct_mail")
#: draft -> scheduled -> sending -> sent; cancelled from draft, scheduled or sending
CAMPAIGN_STATUSES = ("draft", "scheduled", "sending", "sent", "cancelled")
#: queued: waiting; sending: claimed by a sender, not yet handed to the mail server (safe to
#: send again after a crash); handover: the end of the message is being handed over (after a
#: crash we cannot know whether the server took it, so it becomes ``unknown`` and is never sent
#: twice); sent; failed (refused or too many attempts); skipped (opted out, bounced, no e-mail).
RECIPIENT_STATUSES = ("queued", "sending", "handover", "sent", "unknown", "failed", "skipped")
EVENT_KINDS = ("sent", "open", "click", "unsubscribe", "bounce", "complaint")


class Segment(RecordMixin, OwnedMixin, TagsMixin, Base):
    """Contacts chosen by a saved query (dynamic) or listed one by one (static)."""

    __tablename__ = "marketing_segment"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20), default="dynamic")
    #: contacts, in the list language of ``GET /api/v1/contacts``: ``tags=vip&country=ES``
    query: Mapped[str] = mapped_column(Text, default="")
    #: the contact's company, in the list language of ``GET /api/v1/companies``
    company_query: Mapped[str] = mapped_column(Text, default="")
    #: purchase-history conditions (crm-sales):
    #: ``[{"type": "bought_product", "product_id": 3}, {"type": "no_order_in_days", "days": 90},
    #: {"type": "lifetime_value_over", "amount": "1000.00", "currency": "EUR"}]``
    conditions: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    #: more groups, each ``{"query", "company_query", "conditions"}`` like the fields above: a
    #: contact is a member when it matches the fields above OR any of these groups
    or_groups: Mapped[list[Any]] = mapped_column(JSONType, default=list)


class SegmentMember(Base):
    """A contact listed in a static segment."""

    __tablename__ = "marketing_segment_member"
    __table_args__ = (UniqueConstraint("segment_id", "contact_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    segment_id: Mapped[int] = mapped_column(
        ForeignKey("marketing_segment.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("core_contact.id", ondelete="CASCADE"), index=True
    )
    added_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    source: Mapped[str | None] = mapped_column(String(100))


class EmailTemplate(RecordMixin, OwnedMixin, Base):
    """A reusable e-mail: subject and HTML body with ``{{ contact.first_name }}`` placeholders."""

    __tablename__ = "marketing_template"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    subject: Mapped[str] = mapped_column(String(300), default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    #: written by hand, or ``None`` to derive the plain-text part from the HTML
    body_text: Mapped[str | None] = mapped_column(Text)


class Campaign(RecordMixin, OwnedMixin, CustomFieldsMixin, TagsMixin, Base):
    """An e-mail or direct-mail campaign to the contacts of a segment."""

    __tablename__ = "marketing_campaign"

    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="email")
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    segment_id: Mapped[int | None] = mapped_column(
        ForeignKey("marketing_segment.id", ondelete="SET NULL"), index=True
    )
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("marketing_template.id", ondelete="SET NULL")
    )
    subject: Mapped[str] = mapped_column(String(300), default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str | None] = mapped_column(Text)
    from_email: Mapped[str | None] = mapped_column(String(254))
    from_name: Mapped[str | None] = mapped_column(String(200))
    reply_to: Mapped[str | None] = mapped_column(String(254))
    #: messages per second; ``None`` takes the instance setting ``marketing.send_rate``
    send_rate: Mapped[int | None] = mapped_column(Integer)
    scheduled_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    #: the sender lease: only the holder sends; a lapsed lease means its worker died
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)


class CampaignLink(Base):
    """A link of a campaign's body; click tracking redirects only to these."""

    __tablename__ = "marketing_link"
    __table_args__ = (UniqueConstraint("campaign_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("marketing_campaign.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text)


class Recipient(Base):
    """One contact of a campaign: the outbox row of its message, and what became of it."""

    __tablename__ = "marketing_recipient"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        Index("ix_marketing_recipient_campaign_status", "campaign_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("marketing_campaign.id", ondelete="CASCADE")
    )
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_contact.id", ondelete="SET NULL"), index=True
    )
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    #: why it was skipped or failed: ``opted_out``, ``bounced``, ``no_email``, or the server's
    #: answer
    reason: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: the Message-ID header, to match bounces (DSNs) to the recipient
    message_id: Mapped[str | None] = mapped_column(String(250), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    opened_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    clicked_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    bounced_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)


class CampaignEvent(Base):
    """Something that happened to a campaign's message, for results over time."""

    __tablename__ = "marketing_event"
    __table_args__ = (Index("ix_marketing_event_campaign_kind_at", "campaign_id", "kind", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("marketing_campaign.id", ondelete="CASCADE")
    )
    recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("marketing_recipient.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    link_id: Mapped[int | None] = mapped_column(
        ForeignKey("marketing_link.id", ondelete="SET NULL")
    )
    detail: Mapped[str | None] = mapped_column(String(500))


class Bounce(Base):
    """A bounced address: later sends skip it until the bounce is cleared."""

    __tablename__ = "marketing_bounce"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    #: ``hard`` (5.x.x: never send again) or ``soft`` (4.x.x: counted, skipped after three)
    kind: Mapped[str] = mapped_column(String(10), default="hard")
    count: Mapped[int] = mapped_column(Integer, default=1)
    status_code: Mapped[str | None] = mapped_column(String(20))
    diagnostic: Mapped[str | None] = mapped_column(String(500))
    first_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    last_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
