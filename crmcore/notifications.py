"""In-app notifications: a per-user inbox (``core_notification``) and its API.

Notifications are not CRM records (no owner, audit trail or custom fields): each belongs to one
user, only that user sees it, and its only change is being marked read. Jobs write them with
:func:`notify`; ``GET /api/v1/notifications`` lists the caller's own, newest first, and
``POST /api/v1/notifications/<id>/read`` marks one read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import g, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import ForeignKey, Index, Integer, String, Text, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import parsing
from .db import AwareDateTime, Base, utcnow
from .errors import CRMError, NotFound

MAX_LIMIT = 100


class Notification(Base):
    """One message for one user, optionally linking to a record."""

    __tablename__ = "core_notification"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link_entity: Mapped[str | None] = mapped_column(String(64))
    link_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)

    __table_args__ = (Index("ix_core_notification_user_id_id", "user_id", "id"),)


def notify(
    session: Session,
    user_id: int,
    kind: str,
    title: str,
    body: str = "",
    link: tuple[str, int] | None = None,
) -> Notification:
    """Add a notification to ``session`` (the caller commits, with the change it reports)."""
    row = Notification(
        user_id=user_id,
        kind=kind[:50],
        title=title[:200],
        body=body,
        link_entity=link[0] if link else None,
        link_id=link[1] if link else None,
    )
    session.add(row)
    return row


# API ------------------------------------------------------------------------------------------


class BadNotificationQuery(CRMError):
    status = 400
    title = "Bad request"


class NotificationSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    body = fields.String()
    link_entity = fields.String(allow_none=True)
    link_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)


class NotificationPage(Schema):
    data = fields.List(fields.Nested(NotificationSchema))
    next_cursor = fields.String(allow_none=True)
    unread = fields.Integer(metadata={"description": "How many of your notifications are unread"})


def _int_arg(name: str, default: int | None) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    value = parsing.whole_number(raw)
    if value is None:
        raise BadNotificationQuery(f"{name} must be a whole number")
    if value < 1:
        raise BadNotificationQuery(f"{name} must be positive")
    return min(value, parsing.MAX_ID)  # what an id column holds (PostgreSQL refuses more)


def make_blueprint() -> Blueprint:
    """The notifications API (registered for the ``users`` built-in plugin)."""
    from .api.resources import ERROR_RESPONSES
    from .app import current_crm

    blp = Blueprint(
        "api_notifications",
        __name__,
        url_prefix="/api/v1/notifications",
        description="Your in-app notifications",
    )

    @blp.route("")
    @blp.doc(
        summary="List your notifications, newest first",
        responses=ERROR_RESPONSES,
        parameters=[
            {"in": "query", "name": "limit", "schema": {"type": "integer", "maximum": 100}},
            {"in": "query", "name": "cursor", "schema": {"type": "string"}},
            {"in": "query", "name": "unread", "schema": {"type": "boolean"}},
        ],
    )
    @blp.response(200, NotificationPage)
    def list_notifications() -> Any:
        session = current_crm().session
        user_id = g.crm_user.id
        limit = min(_int_arg("limit", 50) or 50, MAX_LIMIT)
        cursor = _int_arg("cursor", None)
        query = select(Notification).where(Notification.user_id == user_id)
        if request.args.get("unread", "").lower() in ("1", "true", "yes"):
            query = query.where(Notification.read_at.is_(None))
        if cursor is not None:
            query = query.where(Notification.id < cursor)
        rows = list(session.scalars(query.order_by(Notification.id.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        unread = session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        return {
            "data": rows,
            "next_cursor": str(rows[-1].id) if more else None,
            "unread": unread or 0,
        }

    @blp.route("/<int:notification_id>/read", methods=["POST"])
    @blp.doc(summary="Mark one of your notifications read", responses=ERROR_RESPONSES)
    @blp.response(200, NotificationSchema)
    def mark_read(notification_id: int) -> Any:
        session = current_crm().session
        row = session.get(Notification, notification_id)
        if row is None or row.user_id != g.crm_user.id:
            raise NotFound("No such notification.")  # others' are indistinguishable from none
        if row.read_at is None:
            session.execute(
                update(Notification)
                .where(Notification.id == row.id, Notification.read_at.is_(None))
                .values(read_at=utcnow())
            )
            session.commit()
            session.refresh(row)
        return row

    return blp
