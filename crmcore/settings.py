"""Instance settings kept in the database (company name, currency, time zone, working hours...)
and saved list views per user."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import AwareDateTime, Base, JSONType, utcnow

#: Defaults of every instance setting; stored values override them key by key.
DEFAULTS: dict[str, Any] = {
    "company_name": "",
    "logo_attachment_id": None,
    "default_currency": "EUR",
    "time_zone": "UTC",
    "working_hours": {day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": [],
    "require_totp_for_admins": False,
}


class Setting(Base):
    __tablename__ = "core_setting"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow, onupdate=utcnow)


def get_settings(session: Session) -> dict[str, Any]:
    """Every setting: the stored value, or the default."""
    stored = {row.key: row.value for row in session.scalars(select(Setting))}
    return {**DEFAULTS, **stored}


class SavedView(Base):
    """A named list view of one entity for one user: the list's query string and columns."""

    __tablename__ = "core_saved_view"
    __table_args__ = (UniqueConstraint("user_id", "entity", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    entity: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(Text, default="")
    columns: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)


class PasswordReset(Base):
    """A single-use password-reset token; only its SHA-256 is stored."""

    __tablename__ = "core_password_reset"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(AwareDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
