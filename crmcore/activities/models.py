"""Notes, tasks, logged calls/meetings/e-mails and attachments, each linked to one record."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from ..db import AwareDateTime, Base, CustomFieldsMixin, OwnedMixin, RecordMixin, TagsMixin


class LinkMixin:
    """The record this row belongs to: an entity name and an id."""

    record_type: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[int] = mapped_column(Integer)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:
        return (Index(f"ix_{cls.__tablename__}_record", "record_type", "record_id"),)


class Note(RecordMixin, OwnedMixin, LinkMixin, Base):
    __tablename__ = "core_note"

    body: Mapped[str] = mapped_column(Text)


class Task(RecordMixin, CustomFieldsMixin, TagsMixin, Base):
    """A to-do for its assignee (who owns it for permissions). The link to a record is optional."""

    __tablename__ = "core_task"

    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    record_type: Mapped[str | None] = mapped_column(String(64))
    record_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    priority: Mapped[str] = mapped_column(String(20), default="normal")
    due_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, index=True)
    reminder_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, index=True)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)

    __table_args__ = (Index("ix_core_task_record", "record_type", "record_id"),)


class Activity(RecordMixin, OwnedMixin, LinkMixin, Base):
    """A logged call, meeting or e-mail."""

    __tablename__ = "core_activity"

    kind: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    direction: Mapped[str | None] = mapped_column(String(10))
    occurred_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, index=True)
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(100))


class Attachment(RecordMixin, OwnedMixin, LinkMixin, Base):
    """A file stored under the instance with a server-generated name."""

    __tablename__ = "core_attachment"

    filename: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(100), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
