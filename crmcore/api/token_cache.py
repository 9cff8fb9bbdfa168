"""Bearer tokens resolved once per process and trusted only while nothing they depend on changed.

Resolving a token (the token, its user and the user's role) costs a query joining three tables
and three ORM objects per request. A :class:`TokenCache` (one per app) keeps what it resolved,
keyed by the token's SHA-256, together with the **auth stamp** it read before resolving: a value
in ``core_auth_stamp`` that database triggers set anew, in the same transaction, whenever a
user or a role changes in any way, or a token is revoked, deleted, re-pointed or its expiry
changed (migration ``0011_auth_stamp``). Each request reads the stamp first - one small query -
and uses an entry only when it was read under that same stamp; otherwise it resolves the token
again. So a revoked token, a deactivated or trashed user, a changed password or a narrowed role
take effect on the very next request in every process of every node, whatever the set-up (no
Redis, no message between processes), and a write through any path - the record service, the
CLI, plain SQL - is seen, because the database itself moves the stamp.

Why it is safe: the stamp is read before the rows, and a change commits the new stamp together
with the rows it changed, so an entry tagged with stamp ``s`` holds rows at least as new as
``s``; any later change makes the stamp differ from ``s`` for good (a new random value, so even
a database restored from a backup does not bring an old value back for other rows).
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from ..db import is_unavailable, utcnow
from ..users.models import Role, User
from .auth import LAST_USED_RESOLUTION, TOKEN_PREFIX, hash_token, token_and_user

STAMP_SQL = "SELECT stamp FROM core_auth_stamp WHERE id = 1"
#: entries one process keeps at most; past it the cache starts again (tokens in use refill it)
MAX_ENTRIES = 10_000

_USER_COLUMNS = tuple(a.key for a in User.__mapper__.column_attrs)
_ROLE_COLUMNS = tuple(a.key for a in Role.__mapper__.column_attrs)


@dataclass
class Resolved:
    """The token authenticating a request: its id, its user (in the request's session) and
    when it was last recorded as used."""

    token_id: int
    user: User
    last_used_at: dt.datetime | None

    @property
    def needs_touch(self) -> bool:
        """Whether ``last_used_at`` is older than :data:`~crmcore.api.auth.LAST_USED_RESOLUTION`."""
        return self.last_used_at is None or self.last_used_at < utcnow() - LAST_USED_RESOLUTION


@dataclass
class _Entry:
    stamp: int
    token_id: int
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    user: dict[str, Any]
    role: dict[str, Any] | None


class TokenCache:
    """Resolved tokens of one app (``crm.token_cache``), trusted while the auth stamp holds."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: dict[str, _Entry] = {}

    def resolve(self, session: Session, secret: str) -> Resolved | None:
        """The live token with this secret and its active user; ``None`` when there is none
        (unknown, revoked or expired token, inactive or trashed user)."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
            return None
        stamp = _read_stamp(session)
        key = hash_token(secret)
        entry = self._entries.get(key)
        if stamp is not None and entry is not None and entry.stamp == stamp:
            if entry.expires_at is not None and entry.expires_at <= utcnow():
                return None
            return Resolved(entry.token_id, _user(session, entry), entry.last_used_at)
        found = token_and_user(session, secret)
        if found is None:
            return None  # never cached: unknown secrets must not fill the memory
        token, user = found
        if stamp is not None:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            role = user.role
            self._entries[key] = _Entry(
                stamp,
                token.id,
                token.expires_at,
                token.last_used_at,
                {name: getattr(user, name) for name in _USER_COLUMNS},
                {name: getattr(role, name) for name in _ROLE_COLUMNS} if role else None,
            )
        return Resolved(token.id, user, token.last_used_at)

    def touched(self, secret: str, when: dt.datetime) -> None:
        """Note that the token's ``last_used_at`` was just recorded (a column no trigger
        watches), so this process does not record it again on every request."""
        entry = self._entries.get(hash_token(secret))
        if entry is not None:
            entry.last_used_at = when

    def clear(self) -> None:
        """Forget every entry (the next request of each token resolves it again)."""
        self._entries.clear()


def _read_stamp(session: Session) -> int | None:
    """The current auth stamp; ``None`` when the database has none yet (not migrated), and
    then nothing is cached.

    The first read of an API request: when it finds its pooled connection lost (a database
    restart while the connection was in use), SQLAlchemy invalidates the pool and this read
    is tried once more, on a fresh connection, instead of the request failing.
    """
    for attempt in (1, 2):
        try:
            value = session.connection().exec_driver_sql(STAMP_SQL).scalar()
        except DBAPIError as error:
            fresh = not (session.new or session.dirty or session.deleted)
            if error.connection_invalidated and attempt == 1 and fresh:
                session.rollback()
                continue
            if is_unavailable(error):
                raise
            session.rollback()  # PostgreSQL refuses every statement after an error until then
            return None
        return int(value) if value is not None else None
    return None  # pragma: no cover - the loop returns or raises


def _user(session: Session, entry: _Entry) -> User:
    """The entry's user as a persistent object of ``session``, built without a query."""
    role = _instance(session, Role, entry.role) if entry.role is not None else None
    user: User = _instance(session, User, entry.user)
    if "role" in inspect(user).unloaded:
        set_committed_value(user, "role", role)
    return user


def _instance(session: Session, model: Any, values: dict[str, Any]) -> Any:
    """A persistent ``model`` object with these column values: the one ``session`` already
    holds (what it had expired filled in, as a query would), or a new one added to it."""
    existing = session.identity_map.get(identity_key(model, values["id"]))
    if existing is not None:
        for name in inspect(existing).unloaded & values.keys():
            set_committed_value(existing, name, _copied({name: values[name]})[name])
        return existing
    # as the ORM's loader makes a loaded object: no constructor, the values as committed state
    record = model.__mapper__.class_manager.new_instance()
    record.__dict__.update(_copied(values))
    make_transient_to_detached(record)
    session.add(record)
    return record


def _copied(values: dict[str, Any]) -> dict[str, Any]:
    # JSON columns (grants, permissions, recovery codes) are mutable: each request gets its own
    return {
        k: copy.deepcopy(v) if isinstance(v, dict | list) else v for k, v in values.items()
    }
