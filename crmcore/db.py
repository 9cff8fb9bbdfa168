"""Database foundations: the declarative base, the mixins every entity uses, engine set-up.

All plugins share one ``MetaData`` so foreign keys can cross plugins (``sales_deal.contact_id`` to
``core_contact.id``); each plugin's migrations only ever touch the tables carrying its prefix.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    bindparam,
    cast,
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import NullType, TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: A JSON column that is JSONB (indexable, containment operators) on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Declarative base for every table of core and plugins."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSONType, list[Any]: JSONType}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AwareDateTime(TypeDecorator[dt.datetime]):
    """Stores UTC, always returns aware datetimes, so comparisons never mix naive and aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class RecordMixin:
    """Columns every entity has: id, timestamps, optimistic version, trash marker."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        AwareDateTime, default=utcnow, onupdate=utcnow, index=True
    )
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, index=True)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__dict__.get("version") or cls.version}


class likely(FunctionElement[bool]):
    """A condition that holds for most rows, such as ``deleted_at IS NULL``.

    SQLite reads it as ``likely(condition)``: without statistics its planner takes an
    equality on any indexed column for a selective one, and walked a whole table by the
    ``deleted_at`` index instead of looking a batch's names or keys up by theirs. The hint
    leaves that index to queries with nothing better. Other databases get the bare condition.
    """

    # no type of its own: typed Boolean, it would be compared with 1 on SQLite
    type = NullType()  # type: ignore[assignment]
    inherit_cache = True


@compiles(likely)
def _likely(element: likely, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(likely, "sqlite")
def _likely_sqlite(element: likely, compiler: Any, **kw: Any) -> str:
    return f"likely({compiler.process(element.clauses, **kw)})"


def live(model: Any) -> ColumnElement[bool]:
    """The condition that selects ``model``'s records not in the trash."""
    return likely(model.deleted_at.is_(None))


def json_values(name: str, dialect: str) -> TableValuedAlias:
    """The text values of a JSON list given as the one parameter ``name`` (:func:`json_list`
    of the list), as a table with the column ``value``, to join a look-up's column to.

    A batch's thousands of keys travel as one parameter instead of the list SQLAlchemy
    expands into a parameter per value at every execution: one statement text whatever the
    count, nothing to expand, and nothing new for the database to parse per batch.
    """
    param = bindparam(name, type_=String)
    if dialect == "postgresql":
        return func.jsonb_array_elements_text(cast(param, JSONB)).table_valued("value")
    return func.json_each(param).table_valued("value")


def json_integers(listed: TableValuedAlias, dialect: str) -> ColumnElement[int]:
    """The ``value`` column of :func:`json_values` for a list of integers, to compare with an
    integer column: PostgreSQL gives the values as text (cast here), SQLite as numbers."""
    value: ColumnElement[int] = listed.c.value
    return cast(value, BigInteger) if dialect == "postgresql" else value


def json_list(values: Any) -> str:
    """The parameter of :func:`json_values`: ``values`` (a list or tuple of strings, integers
    and such lists) as JSON text, by orjson; what orjson refuses (an integer past 64 bits, a
    lone surrogate) by the standard encoder, so the statement refuses it as before."""
    try:
        return orjson.dumps(values).decode()
    except orjson.JSONEncodeError:
        return json.dumps(values)


class OwnedMixin:
    """An owner, the anchor of the ``own`` and ``team`` permission scopes."""

    @declared_attr
    def owner_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"), index=True)


class CustomFieldsMixin:
    """Values of custom fields (definitions live in ``core_custom_field``)."""

    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, nullable=False)


class TagsMixin:
    """A list of free tags, filtered with ``?tags=vip``."""

    tags: Mapped[list[Any]] = mapped_column(JSONType, default=list, nullable=False)


#: Whether SQLite transactions of this context may write (``BEGIN IMMEDIATE``). Every request
#: sets it from its method (server threads serve many requests in one context, so a value
#: left by a GET must never reach the next POST); a transaction that reads first and writes
#: later could otherwise fail with "database is locked" when another connection wrote in between.
sqlite_write_intent: ContextVar[bool] = ContextVar("sqlite_write_intent", default=True)

#: Seconds SQLite waits for the write lock before giving up (the request then answers 503).
SQLITE_BUSY_TIMEOUT_MS = 10000

#: Whether the transactions of this context are a bulk load (an import's batches), see
#: :func:`bulk_load`.
bulk_loading: ContextVar[bool] = ContextVar("bulk_loading", default=False)

#: The settings of a connection while it serves a bulk load, restored after. Measured on a
#: 100,000-row import (docs/performance.md, "Import, session 8"): with SQLite's defaults a
#: batch's new index entries land on pages all over the table's indexes, which a 2 MB page
#: cache cannot hold (they were read back from the file every batch), multi-row statements
#: spilled their statement journal to a temporary file, and every commit checkpointed the
#: thousands of pages it wrote (each copied again by the next batch's checkpoint). The cache
#: holds the pages a batch of 5,000 rows changes at a million rows ("Import, session 15"):
#: with 64 MB SQLite spilled them to the WAL before the commit ("session 9").
BULK_PRAGMAS: dict[str, int] = {
    "cache_size": -262144,  # KiB: 256 MB of page cache on the importing connection
    "temp_store": 2,  # statement journals (and temporary tables) in memory
    "wal_autocheckpoint": 16384,  # pages (64 MB of WAL) between checkpoints, not 1,000
}


@contextmanager
def bulk_load(engine: Engine) -> Iterator[None]:
    """Run the transactions begun inside the block as a bulk load.

    SQLite: with :data:`BULK_PRAGMAS`. Each connection takes them when it begins a
    transaction inside the block (a session may check out another pooled connection for each
    batch) and gets its own previous values back when it begins one outside; the WAL is
    checkpointed once when the block ends, so the import pays for copying what it wrote.

    PostgreSQL: each transaction plans every statement for its parameters
    (``plan_cache_mode``): a statement the driver prepared (psycopg does from its fifth run)
    would otherwise keep a generic plan made while the table was small, and a batch's
    duplicate look-up then scanned the whole table, longer with every batch.
    """
    token = bulk_loading.set(True)
    try:
        yield
    finally:
        # the connections used get their settings back when they next begin a transaction
        bulk_loading.reset(token)
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()  # not after a failure: the next automatic one will do
    try:
        _apply_bulk(raw.dbapi_connection, raw.info, bulk_loading.get())
        cursor = raw.dbapi_connection.cursor()  # autocommit: no transaction is open
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        cursor.close()
    finally:
        raw.close()


def refresh_statistics(session: Any, table: Any) -> None:
    """PostgreSQL: ``ANALYZE`` ``table`` in the session's transaction, so that the planner
    knows its size. An import calls it as its table grows: until autovacuum gets to a new
    or fast-growing table, the planner takes it for a few rows and joins the duplicate
    look-up's lists to it by reading the whole table once per value. Other databases: nothing.
    """
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    name = bind.dialect.identifier_preparer.format_table(table)
    session.execute(text(f"ANALYZE {name}"))


def _apply_bulk(dbapi_connection: Any, info: dict[str, Any], bulk: bool) -> None:
    """Switch one SQLite connection to or from :data:`BULK_PRAGMAS` (``info``: its pool
    record's, which keeps the values to restore)."""
    if info.get("crm_bulk_load", False) == bulk:
        return
    cursor = dbapi_connection.cursor()
    try:
        if bulk:
            saved = {}
            for name, value in BULK_PRAGMAS.items():
                saved[name] = cursor.execute(f"PRAGMA {name}").fetchone()[0]
                cursor.execute(f"PRAGMA {name}={int(value)}")
            info["crm_bulk_saved"] = saved
        else:
            for name, value in info.pop("crm_bulk_saved", {}).items():
                cursor.execute(f"PRAGMA {name}={int(value)}")
    finally:
        cursor.close()
    info["crm_bulk_load"] = bulk


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot serve now (SQLite's write lock still taken
    after the busy timeout, PostgreSQL down or restarting, a connection lost): worth a retry,
    so the caller answers 503, not 500."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError):
        return False
    if type(error.orig).__module__.startswith("sqlite3"):
        message = str(error.orig).lower()
        return "locked" in message or "busy" in message
    return True  # the driver's OperationalError: connection, shutdown, resources


#: 19 digits in a row may be an integer past 64 bits, which orjson would read as a float;
#: found by mapping every digit to "0" and everything else to " " (faster than a regex)
_DIGITS_ONLY = bytes(48 if 48 <= i < 58 else 32 for i in range(256))
_LONG_DIGITS = b"0" * 19


def json_loads(text: str | bytes) -> Any:
    """JSON columns read back: orjson's parser, the standard library's for what orjson refuses
    (``NaN``) or would read differently (integers past 64 bits), so every value reads as
    ``json.loads`` reads it."""
    if not isinstance(text, str | bytes):
        # SQLite hands back a JSON number it stored as a number: json.loads' TypeError is what
        # SQLAlchemy's SQLite JSON type expects, to return the number as it is
        return json.loads(text)
    raw = text if isinstance(text, bytes) else text.encode()
    # shorter than 19 characters, no integer past 64 bits (most values: [], {}, a tag or two)
    if len(raw) < len(_LONG_DIGITS) or _LONG_DIGITS not in raw.translate(_DIGITS_ONLY):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def create_engine_for(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the settings this application needs on each backend."""
    from sqlalchemy import create_engine

    parsed = make_url(url)
    kwargs.setdefault("json_deserializer", json_loads)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    if parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "postgresql":
        _configure_postgresql(engine)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, PING_AFTER_IDLE)
    return engine


#: seconds a pooled connection may rest before its next checkout tests it with a round trip
PING_AFTER_IDLE = 1.0


def _ping_when_idle(engine: Engine, idle: float) -> None:
    """Test a pooled connection before use only when it rested ``idle`` seconds or more.

    ``pool_pre_ping`` pays a round trip on every checkout, every request under load. A
    connection in steady use needs none: if the database restarts while it is busy, the first
    statement that fails on a lost connection invalidates the whole pool (SQLAlchemy's
    disconnect handling), and the API retries the first read of a request once on a fresh
    connection (``crmcore.api.token_cache``). A connection that rested - across a restart
    made while it was idle - is tested here, and a dead one is replaced before use.
    """
    from sqlalchemy.exc import DisconnectionError

    @event.listens_for(engine, "checkin")
    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["crm_checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        rested = record.info.get("crm_checked_in")
        if rested is None or time.monotonic() - rested < idle:
            return  # just connected, or in steady use
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError(str(error)) from error
        if not alive:
            raise DisconnectionError("the connection did not answer")


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        if bulk_loading.get():  # see bulk_load; SET LOCAL ends with the transaction
            conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN itself
    # (the documented recipe), and switch on WAL and foreign keys for every connection.
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        # ``info`` belongs to the DBAPI connection: a new one starts without the bulk settings
        pooled = conn.connection
        _apply_bulk(pooled.dbapi_connection, pooled.info, bulk_loading.get())
        conn.exec_driver_sql("BEGIN IMMEDIATE" if sqlite_write_intent.get() else "BEGIN")


__all__ = [
    "AwareDateTime",
    "Base",
    "CustomFieldsMixin",
    "JSONType",
    "OwnedMixin",
    "RecordMixin",
    "TagsMixin",
    "bulk_load",
    "create_engine_for",
    "func",
    "is_unavailable",
    "utcnow",
]
