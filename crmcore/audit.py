"""The audit log: who changed what, when, field by field."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import uuid
from collections.abc import Callable
from itertools import chain, compress, repeat
from typing import Any

import orjson
from sqlalchemy import Column, ForeignKey, Index, Integer, MetaData, String, Table, Text
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


#: Scalars ``jsonable`` turns into a string, exact types only: the encoder's ``default`` below.
#: (Exact types throughout: an ``Enum`` mixed into ``str`` or ``int`` would be encoded as its
#: ``str``/``int`` content but is logged as its ``value``.)
_CONVERTED = frozenset({dt.datetime, dt.date, dt.time, decimal.Decimal, uuid.UUID})
_SCALARS = _PLAIN | _CONVERTED
_SEQUENCES = frozenset({list, tuple})
_FLAT = _SCALARS | _SEQUENCES


def _converted(value: Any) -> Any:
    if type(value) in _CONVERTED:
        return jsonable(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


#: ``json.dumps`` (what the JSON column stores) with ``jsonable``'s strings for the
#: :data:`_CONVERTED` scalars
_ENCODE = json.JSONEncoder(default=_converted).encode
_DUMPS = json.dumps

#: ``core_audit`` with ``changes`` taking JSON text: what :func:`record_audit_many` encodes
#: itself (SQLite stores the text; PostgreSQL parses it into the same ``jsonb``)
_AUDIT_TEXT = Table(
    "core_audit",
    MetaData(),
    *(
        Column(c.name, Text() if c.name == "changes" else c.type)
        for c in AuditEntry.__table__.columns  # type: ignore[attr-defined]
        if c.name != "id"
    ),
)


def _fast_encoder(batch: list[dict[str, tuple[Any, Any]]]) -> Callable[[Any], str] | None:
    """The encoder for ``batch`` when every change is a pair of flat values (strings, numbers,
    dates, lists of them) of a field that is no secret, which it writes as ``_safe`` would;
    ``None`` otherwise. Checked for the whole batch at once, without a Python step per value."""
    pairs = list(chain.from_iterable(map(dict.values, batch)))
    kinds = set(map(type, chain.from_iterable(pairs)))
    if not kinds <= _FLAT or not SECRET_FIELDS.isdisjoint(chain.from_iterable(batch)):
        return None
    if sum(map(len, pairs)) != 2 * len(pairs):  # not pairs: the general path's error
        return None
    if not kinds.isdisjoint(_SEQUENCES):
        values = chain.from_iterable(pairs)
        sequences = compress(
            values, map(_SEQUENCES.__contains__, map(type, chain.from_iterable(pairs)))
        )
        items = set(map(type, chain.from_iterable(sequences)))
        if not _SCALARS.issuperset(items):
            return None
        kinds |= items
    # orjson writes a float that is not finite as null, where json writes NaN or Infinity
    return _ENCODE if float in kinds else _encode_fast


def _encode_fast(changes: dict[str, tuple[Any, Any]]) -> str:
    """``_ENCODE`` by orjson (a few times faster): the same JSON value, in compact text with
    the characters past ASCII as they are; what orjson refuses (an integer past 64 bits) takes
    ``_ENCODE``."""
    try:
        return orjson.dumps(changes, default=_converted, option=_STRICT_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return _ENCODE(changes)


def _batch_texts(batch: list[dict[str, tuple[Any, Any]]]) -> list[str]:
    """:func:`changes_json` of each changes of ``batch``, written by orjson wherever its text
    holds the same value, with the checks done for the whole batch in C: the type checks of
    ``_fast_encoder`` (a Python step per value) cost more than the encoding.

    orjson writes a value itself only for the exact JSON types and an enum (as its value, as
    ``jsonable`` does; ``_STRICT_OPTIONS``: dates, decimals, ids go to ``_converted``, what
    else it refuses or passes on takes :func:`changes_json`), but it writes a NaN or an
    infinity as ``null``. So an orjson text with more ``null`` than its changes hold ``None``
    is written again by ``changes_json``.
    """
    pairs = list(chain.from_iterable(map(dict.values, batch)))
    if not (
        SECRET_FIELDS.isdisjoint(chain.from_iterable(batch))
        and set(map(type, pairs)) <= _SEQUENCES
        and set(map(len, pairs)) <= {2}
    ):
        return list(map(changes_json, batch))  # a secret to mask, or a change that is no pair
    texts = list(map(_orjson_text, batch))
    nones = list(chain.from_iterable(pairs)).count(None)
    if sum(map(str.count, texts, repeat("null"))) != nones:
        # a null that is no change's None (a NaN, a nested None, the word in a value)
        texts = [
            text
            if text.count("null") == list(chain.from_iterable(changes.values())).count(None)
            else changes_json(changes)
            for text, changes in zip(texts, batch, strict=True)
        ]
    return texts


def _orjson_text(changes: dict[str, tuple[Any, Any]]) -> str:
    try:
        return orjson.dumps(changes, default=_converted, option=_STRICT_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return changes_json(changes)


#: what orjson writes itself only for exact types: dates and times (``jsonable``'s
#: ``isoformat``, not orjson's own form), subclasses of ``str``, ``int``, ``list`` and ``dict``
#: and dataclasses go to ``default`` (``_converted``)
_STRICT_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def changes_json(changes: dict[str, tuple[Any, Any]]) -> str:
    """The JSON text the audit log stores for ``changes``: the value of
    ``json.dumps(_safe(changes))``.

    Changes of flat values (the fields of a new record: strings, numbers, dates, lists of
    them) are encoded as they are, without the copy ``_safe`` makes: the pairs are encoded
    as the lists they become and the dates, decimals and ids through the encoder's
    ``default``, which gives ``jsonable``'s strings. Anything else (a secret, a nested
    object, an ``Enum``, a subclass) takes the general path.
    """
    encode = _fast_encoder([changes])
    return encode(changes) if encode is not None else _DUMPS(_safe(changes))


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
    batch = [changes for _entity, _record_id, _action, _user_id, changes in entries]
    texts = _batch_texts(batch)
    insert_many(
        session.connection(),
        _AUDIT_TEXT,
        ("entity", "record_id", "action", "user_id", "at", "changes"),
        [
            (entity, record_id, action, user_id, now, changes)
            for (entity, record_id, action, user_id, _changes), changes in zip(
                entries, texts, strict=True
            )
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
