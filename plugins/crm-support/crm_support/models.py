"""Tables of the support plugin (all prefixed ``support_``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crmcore.db import (
    AwareDateTime,
    Base,
    CustomFieldsMixin,
    JSONType,
    RecordMixin,
    TagsMixin,
    utcnow,
)

STATUSES = ("new", "open", "pending", "on_hold", "solved", "closed")
#: Statuses in which a ticket still needs work (the backlog).
OPEN_STATUSES = ("new", "open", "pending", "on_hold")
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("email", "web", "portal", "phone", "api")
SLA_STATUSES = ("ok", "warning", "breached")
ASSIGNMENT_RULES = ("manual", "round_robin", "least_open")


class Ticket(RecordMixin, CustomFieldsMixin, TagsMixin, Base):
    """A customer request; its assignee owns it for permission scopes."""

    __tablename__ = "support_ticket"

    number: Mapped[str] = mapped_column(String(20), unique=True)
    subject: Mapped[str] = mapped_column(String(250))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    priority: Mapped[str] = mapped_column(String(20), default="normal", index=True)
    channel: Mapped[str] = mapped_column(String(20), default="api")
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_contact.id", ondelete="SET NULL"), index=True
    )
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_company.id", ondelete="SET NULL"), index=True
    )
    queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("support_queue.id", ondelete="SET NULL"), index=True
    )
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), index=True
    )
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("support_ticket.id", ondelete="SET NULL")
    )
    first_response_due_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    resolution_due_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, index=True)
    first_responded_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    solved_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    sla_paused_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    sla_status: Mapped[str | None] = mapped_column(String(20), index=True)
    sla_breached: Mapped[bool] = mapped_column(Boolean, default=False)


class TicketMessage(RecordMixin, Base):
    """One entry of a ticket's thread: a public reply or an internal note."""

    __tablename__ = "support_message"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("support_ticket.id", ondelete="CASCADE"), index=True
    )
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    body: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), index=True
    )
    author_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_contact.id", ondelete="SET NULL")
    )
    channel: Mapped[str] = mapped_column(String(20), default="api")
    mail_message_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    mail_from: Mapped[str | None] = mapped_column(String(255))
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    attachment_ids: Mapped[list[Any]] = mapped_column(JSONType, default=list)


class SupportQueue(RecordMixin, Base):
    """A queue of tickets with its members, assignment rule and mailbox."""

    __tablename__ = "support_queue"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    assignment: Mapped[str] = mapped_column(String(20), default="manual")
    member_ids: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    last_assigned_id: Mapped[int | None] = mapped_column(Integer)
    imap_host: Mapped[str | None] = mapped_column(String(255))
    imap_port: Mapped[int | None] = mapped_column(Integer)
    imap_tls: Mapped[bool] = mapped_column(Boolean, default=True)
    imap_user: Mapped[str | None] = mapped_column(String(255))
    imap_password: Mapped[str | None] = mapped_column(String(255))
    imap_folder: Mapped[str | None] = mapped_column(String(100))


class SlaPolicy(RecordMixin, Base):
    """Targets for one priority, in business minutes."""

    __tablename__ = "support_sla_policy"

    name: Mapped[str] = mapped_column(String(100))
    priority: Mapped[str] = mapped_column(String(20), unique=True)
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
    warn_percent: Mapped[int] = mapped_column(SmallInteger, default=80)


class CannedResponse(RecordMixin, Base):
    """A prepared answer agents insert into a reply or an internal note."""

    __tablename__ = "support_canned_response"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    body: Mapped[str] = mapped_column(Text, default="")


class TicketCounter(Base):
    """The next ticket number (one row)."""

    __tablename__ = "support_counter"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class PortalAccount(Base):
    """A contact's customer-portal login (not a CRM user)."""

    __tablename__ = "support_portal_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("core_contact.id", ondelete="CASCADE"), unique=True
    )
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    invited_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)


class Feedback(Base):
    """A satisfaction answer: one per ticket."""

    __tablename__ = "support_feedback"
    __table_args__ = (UniqueConstraint("ticket_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("support_ticket.id", ondelete="CASCADE"))
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)


class WebRequest(Base):
    """A request sent with the public form, waiting for its sender to confirm the address
    (the link in the confirmation e-mail); it becomes a ticket only then."""

    __tablename__ = "support_web_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(100), default="")
    subject: Mapped[str] = mapped_column(String(250))
    description: Mapped[str] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(10), default="en")
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow, index=True)
