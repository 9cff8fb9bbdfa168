"""What ``crm plugins list`` shows, read without building the app.

The list needs each plugin's ``PLUGIN`` (importing installed plugins' modules, so that one that
fails to import shows as broken) and the names the instance's database marks enabled - not the
models, schemas, API or pages that ``create_app`` sets up. The enabled names are read with the
database driver itself for the URLs an instance usually has (a SQLite file, PostgreSQL through
psycopg), which spares importing SQLAlchemy; any other URL is read through SQLAlchemy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import unquote

from .plugins import Plugin, UnavailablePlugin

#: the URLs read with the driver itself; a query string (driver options) goes to SQLAlchemy
_SQLITE_URL = re.compile(r"sqlite(?:\+pysqlite)?:///(?P<path>[^?]*)")
_POSTGRES_URL = re.compile(r"postgresql(?:\+psycopg)?://(?P<rest>[^?]*)")
_QUERY = "SELECT name FROM core_plugin WHERE enabled"
#: seconds SQLite waits for a lock (a reader in WAL mode rarely needs to), as the app's engine
_SQLITE_TIMEOUT = 10.0


class DatabaseUnavailable(Exception):
    """The database cannot answer now (down, unreachable, locked); ``detail`` is the driver's
    message."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class _Listed(Protocol):
    @property
    def meta(self) -> Plugin: ...

    @property
    def name(self) -> str: ...


def listing_lines(
    plugins: Iterable[_Listed], unavailable: Iterable[UnavailablePlugin], enabled: Iterable[str]
) -> list[str]:
    """The lines of ``crm plugins list``: every available plugin in load order with its version
    and state, then each unavailable one and why."""
    on = set(enabled)
    lines = []
    for plugin in plugins:
        meta = plugin.meta
        state = "built-in" if meta.builtin else ("enabled" if plugin.name in on else "disabled")
        lines.append(f"{plugin.name:<14} {meta.version:<10} {state:<9} {meta.title}")
    for bad in unavailable:
        lines.append(f"{bad.name:<14} {'?':<10} {'broken':<9} {bad.error}")
    return lines


def enabled_in_database(database_url: str) -> set[str]:
    """Names of the plugins the database marks enabled; none before the first migration (no
    table yet), as ``CRM.enabled_plugins`` reads them.

    :raises DatabaseUnavailable: the database is down, unreachable or locked.
    """
    if found := _SQLITE_URL.fullmatch(database_url):
        return _from_sqlite(unquote(found["path"]) or ":memory:")
    if found := _POSTGRES_URL.fullmatch(database_url):
        return _from_postgres(f"postgresql://{found['rest']}")
    return _through_sqlalchemy(database_url)


def _from_sqlite(path: str) -> set[str]:
    import sqlite3

    try:
        connection = sqlite3.connect(path, timeout=_SQLITE_TIMEOUT)
        try:
            return {name for (name,) in connection.execute(_QUERY)}
        finally:
            connection.close()
    except sqlite3.Error as exc:
        message = str(exc).lower()
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in message or "busy" in message):
            raise DatabaseUnavailable(str(exc)) from exc
        return set()  # no table (not initialised), no file: nothing enabled yet


def _from_postgres(conninfo: str) -> set[str]:
    import psycopg

    try:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            return {name for (name,) in connection.execute(_QUERY)}
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    except psycopg.Error:
        return set()  # no table yet: the instance is not initialised


def _through_sqlalchemy(database_url: str) -> set[str]:
    from sqlalchemy.orm import Session

    from .db import create_engine_for, is_unavailable
    from .plugin_state import enabled_names

    engine = create_engine_for(database_url)
    try:
        with Session(engine) as session:
            return enabled_names(session)
    except Exception as exc:
        if is_unavailable(exc):
            raise  # the CLI reports SQLAlchemy's OperationalError as a database error
        return set()
    finally:
        engine.dispose()
