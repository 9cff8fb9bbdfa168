"""Users, roles, teams and API tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import AwareDateTime, Base, JSONType, RecordMixin, utcnow

team_member = Table(
    "core_team_member",
    Base.metadata,
    Column("team_id", ForeignKey("core_team.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("core_user.id", ondelete="CASCADE"), primary_key=True, index=True),
)

#: One row whose ``stamp`` the database sets to a new random value, in the same transaction,
#: whenever a user, a role or a token's validity changes (triggers made by migration
#: ``0011_auth_stamp``): processes that keep resolved tokens in memory
#: (``crmcore.api.token_cache``) trust them only while the stamp they were read under is current.
auth_stamp = Table(
    "core_auth_stamp",
    Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("stamp", BigInteger, nullable=False),
)


class Role(RecordMixin, Base):
    """A set of grants: per entity plural, a scope for each action; plus named permissions."""

    __tablename__ = "core_role"

    name: Mapped[str] = mapped_column(String(50), unique=True)
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    #: ``{"contacts": {"read": "all", "update": "own"}, ...}``
    grants: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: named permissions, ``"*"`` for all of them
    permissions: Mapped[list[Any]] = mapped_column(JSONType, default=list)


class Team(RecordMixin, Base):
    __tablename__ = "core_team"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    members: Mapped[list[User]] = relationship(secondary=team_member, back_populates="teams")

    @property
    def member_ids(self) -> list[int]:
        return sorted(m.id for m in self.members)


class User(RecordMixin, Base):
    __tablename__ = "core_user"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role_id: Mapped[int | None] = mapped_column(ForeignKey("core_role.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(10), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    last_login_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    #: base32 TOTP secret once a second factor is confirmed; never in any schema
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    #: SHA-256 digests of the unused recovery codes (``crmcore.users.recovery``); never in any
    #: schema
    totp_recovery: Mapped[list[Any]] = mapped_column(JSONType, default=list, nullable=False)
    #: raised on sign-out: every session and remember-me cookie made before ends (the session
    #: fingerprint covers it); never in any schema
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, nullable=False)

    role: Mapped[Role | None] = relationship(lazy="joined")
    teams: Mapped[list[Team]] = relationship(secondary=team_member, back_populates="members")

    @property
    def team_ids(self) -> list[int]:
        return sorted(t.id for t in self.teams)


class ApiToken(Base):
    """A bearer token. Only a SHA-256 of the secret is stored; the secret is shown once."""

    __tablename__ = "core_api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)

    user: Mapped[User] = relationship(lazy="joined")
