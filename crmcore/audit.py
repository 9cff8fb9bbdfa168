"""The audit log: who changed what, when, field by field."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from .bulk_insert import insert_many
from .db import AwareDateTime, Base, JSONType, utcnow


class AuditEntry(Base):
    __tablename__ = "core_audit"
    __table_args__ = (Index("ix_core_audit_record", "entity", "record_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # create update delete restore
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow, index=True)
    #: ``{"field": [before, after], ...}``
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """A JSON-safe rendering of a column value for the audit log."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if hasattr(value, "__table__"):  # a related record: its id
        return getattr(value, "id", None)
    return value


#: Fields whose values never reach the audit log.
SECRET_FIELDS = frozenset(
    {"password", "password_hash", "token", "token_hash", "totp_secret", "totp_recovery", "secret"}
)


def _safe(changes: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    safe: dict[str, Any] = {}
    plain = _PLAIN
    for name, (before, after) in changes.items():
        if name in SECRET_FIELDS:
            # a secret is masked and named by what it protects ("password", not "password_hash")
            safe[name.removesuffix("_hash")] = ["***", "***"]
        else:
            safe[name] = [
                before if type(before) in plain else jsonable(before),
                after if type(after) in plain else jsonable(after),
            ]
    return safe


def record_audit_many(
    session: Session,
    entries: list[tuple[str, int, str, int | None, dict[str, tuple[Any, Any]]]],
) -> None:
    """Audit rows ``(entity, record_id, action, user_id, changes)`` in one executemany.

    What ``record_audit`` writes, without an ORM object per row: for import batches.
    """
    if not entries:
        return
    now = utcnow()
    insert_many(
        session.connection(),
        AuditEntry.__table__,  # type: ignore[arg-type]
        ("entity", "record_id", "action", "user_id", "at", "changes"),
        [
            (entity, record_id, action, user_id, now, _safe(changes))
            for entity, record_id, action, user_id, changes in entries
        ],
    )


def record_audit(
    session: Session,
    entity: str,
    record_id: int,
    action: str,
    user_id: int | None,
    changes: dict[str, tuple[Any, Any]],
) -> AuditEntry:
    safe = _safe(changes)
    entry = AuditEntry(
        entity=entity, record_id=record_id, action=action, user_id=user_id, changes=safe
    )
    session.add(entry)
    return entry


def record_export(
    session: Session, entity: str, user_id: int | None, *, fmt: str, query: str, via: str
) -> AuditEntry:
    """Audit a list export (``export`` on record 0 of ``entity``): who, the format, the list's
    query string and the door (``web`` or ``api``); committed at once, before the download
    streams."""
    entry = record_audit(
        session,
        entity,
        0,
        "export",
        user_id,
        {"format": (None, fmt), "query": (None, query[:2000]), "via": (None, via)},
    )
    session.commit()
    return entry


def record_sign_in(
    session: Session, user_id: int | None, email: str, *, ok: bool, via: str
) -> AuditEntry:
    """Audit a sign-in (``signin``) or a failed one (``signin_failed``) with the address given
    and the door used (``web`` or ``api``); the caller commits."""
    return record_audit(
        session,
        "session",
        user_id or 0,
        "signin" if ok else "signin_failed",
        user_id if ok else None,
        {"email": (None, (email or "")[:254]), "via": (None, via)},
    )
