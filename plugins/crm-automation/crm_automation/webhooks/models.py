"""Tables of outbound webhooks: the subscriptions (an entity) and their deliveries (the outbox).

A delivery row is written in the same transaction as the record change it reports (see
``outbox``), carries the exact body that is signed and sent, and is updated by the delivery job
after every attempt; each attempt is kept in ``automation_webhook_attempt`` (the delivery log).
"""

from __future__ import annotations

import datetime as dt

from crmcore.db import AwareDateTime, Base, OwnedMixin, RecordMixin, utcnow
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..models import AutomationWorkflow

#: Events a webhook may subscribe to (the record service's actions).
EVENTS = ("created", "updated", "deleted", "restored")
#: The record service's action behind each event name.
ACTION_EVENTS = {"create": "created", "update": "updated", "delete": "deleted",
                 "restore": "restored"}  # fmt: skip
#: States of a delivery.
STATES = ("pending", "delivered", "failed")


class AutomationWebhook(RecordMixin, OwnedMixin, Base):
    """A subscription: events of some entities are POSTed, signed, to ``url``."""

    __tablename__ = "automation_webhook"

    name: Mapped[str] = mapped_column(String(150))
    url: Mapped[str] = mapped_column(String(2000))
    #: entity plurals, comma-separated (``"contacts,deals"``)
    entities: Mapped[str] = mapped_column(String(500))
    #: event names of ``EVENTS``, comma-separated; empty for every event
    events: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: the HMAC key; kept in clear because every delivery signs with it, never dumped by the API
    secret: Mapped[str] = mapped_column(String(100), default="")
    #: whether the owner has been shown the current secret (it is shown once)
    secret_shown: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str] = mapped_column(String(300), default="")


class AutomationWebhookDelivery(Base):
    """One event for one webhook: the signed body, its state and the next attempt."""

    __tablename__ = "automation_webhook_delivery"
    __table_args__ = (Index("ix_automation_webhook_delivery_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: sent as ``X-CRM-Delivery``: the same on every retry, so receivers can de-duplicate
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)
    webhook_id: Mapped[int | None] = mapped_column(
        ForeignKey("automation_webhook.id", ondelete="CASCADE"), index=True
    )
    #: a rule's call-webhook action made this delivery (then ``webhook_id`` is empty and the
    #: request goes to ``url``, signed with the rule's ``signing_secret``)
    workflow_id: Mapped[int | None] = mapped_column(
        ForeignKey("automation_workflow.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str | None] = mapped_column(String(2000))
    event_id: Mapped[str] = mapped_column(String(36), index=True)
    event_type: Mapped[str] = mapped_column(String(80))
    entity: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    #: the claim of the worker making the current attempt
    lease: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    replay_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("automation_webhook_delivery.id", ondelete="SET NULL")
    )

    webhook: Mapped[AutomationWebhook | None] = relationship()
    workflow: Mapped[AutomationWorkflow | None] = relationship()


class AutomationWebhookAttempt(Base):
    """One HTTP attempt of a delivery: the delivery log."""

    __tablename__ = "automation_webhook_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("automation_webhook_delivery.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(String(500), default="")
