"""Which plugins are enabled on this instance: state lives in the database, not on the app."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import AwareDateTime, Base, utcnow


class PluginState(Base):
    __tablename__ = "core_plugin"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[str] = mapped_column(String(40), default="")
    changed_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow, onupdate=utcnow)
    #: set once the plugin's default role grants were applied, so re-enabling keeps admins' edits
    grants_applied: Mapped[bool] = mapped_column(Boolean, default=False)


def enabled_names(session: Session) -> set[str]:
    return set(session.scalars(select(PluginState.name).where(PluginState.enabled.is_(True))))


def get_state(session: Session, name: str) -> PluginState | None:
    return session.get(PluginState, name)
