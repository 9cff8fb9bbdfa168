"""The pytest plugin of crmcore (registered through the ``pytest11`` entry point).

Core, first-party and third-party plugins test with the same fixtures:

* ``app``: a CRM app whose database is rolled back after each test. Enable plugins with the
  marker ``@pytest.mark.crm_plugins("sales")``; add plugin modules that are not installed by
  overriding the ``crm_extra_plugins`` fixture.
* ``crm``, ``records`` (system record service), ``session``.
* ``make_user(role=..., teams=...)``, ``make_contact(...)``, ``make_company(...)``: factories.
* ``api`` (an ``ApiClient`` signed in as an admin), ``api_as(user)`` for any other user,
  ``client`` (Flask test client), ``web`` and ``web_as(user)`` (test clients signed in to the
  web pages), ``cli`` (runs ``crm`` commands against the app).
* ``smtp_peer``: a real SMTP server (aiosmtpd) that the app sends through for one test.
* ``instance_database``: the database URL for an instance served in a subprocess (module
  scope; ``None`` on SQLite).
* ``assert_plugin_migrates_and_survives_disable(crm, name)``: the plugin migrates up from an
  empty database to models that match, and disabling then enabling it keeps its rows.

Passwords are hashed with argon2id at its cheapest parameters in the test process
(``crm_password_hasher``), so making a user costs microseconds rather than a tenth of a second
and 64 MiB; verifying reads the parameters from the hash, so production hashes still verify.
A ``crm`` process of its own (``crm serve``) hashes with the production parameters.

The database is SQLite in a temporary folder unless ``--crm-db URL`` or
``CRM_TEST_DATABASE_URL`` names a PostgreSQL server; a fresh database is then created on it
for the test session and dropped afterwards.
"""

from __future__ import annotations

import itertools
import os
import secrets
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

_emails = itertools.count(1)
PASSWORD = "Correct-horse-battery-9"  # noqa: S105 - test users only


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--crm-db",
        default=os.environ.get("CRM_TEST_DATABASE_URL", ""),
        help="Database URL for crmcore tests (default: a temporary SQLite file).",
    )
    parser.addoption(
        "--crm-deprecations",
        choices=("report", "error", "ignore"),
        default="report",
        help="Uses of deprecated crmcore API: listed at the end (report, the default), failing "
        "the test that made them (error), or not shown (ignore).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "crm_plugins(*names): plugins enabled for this test")
    mode = config.getoption("--crm-deprecations")
    action = {"report": "always", "error": "error", "ignore": "ignore"}[mode]
    config.addinivalue_line(
        "filterwarnings", f"{action}::crmcore.deprecation.CRMDeprecationWarning"
    )
    config.pluginmanager.register(DeprecationReport(), "crmcore-deprecations")
    config.addinivalue_line(
        "markers",
        "crm_sqlite_only: the test does not depend on the database engine (layout, "
        "translations, docs); a run with --crm-db on PostgreSQL leaves it out",
    )


class DeprecationReport:
    """Counts the uses of deprecated crmcore API by message and place, and lists them at the
    end of the run (registered by ``pytest_configure``)."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, str, int], int] = {}

    def pytest_warning_recorded(self, warning_message: warnings.WarningMessage) -> None:
        from ..deprecation import CRMDeprecationWarning

        if issubclass(warning_message.category, CRMDeprecationWarning):
            key = (str(warning_message.message), warning_message.filename, warning_message.lineno)
            self.found[key] = self.found.get(key, 0) + 1

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.found:
            return
        terminalreporter.section("crmcore deprecations", yellow=True)
        for (message, filename, lineno), count in sorted(self.found.items()):
            times = f" ({count} times)" if count > 1 else ""
            terminalreporter.line(f"{filename}:{lineno}: {message}{times}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the ``crm_sqlite_only`` tests when the suite runs on PostgreSQL: a suite run
    on both databases runs them once."""
    url = config.getoption("--crm-db")
    if not url or url.startswith("sqlite"):
        return
    kept = [item for item in items if item.get_closest_marker("crm_sqlite_only") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


@pytest.fixture(scope="session")
def crm_password_hasher() -> Any:
    """The argon2 ``PasswordHasher`` that ``crmcore.users.passwords`` uses during the session:
    argon2id with one pass over 8 KiB (the production default is argon2-cffi's RFC 9106
    low-memory profile: 64 MiB, 3 passes, 4 lanes). Override this fixture in a conftest to
    test with other parameters."""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="session", autouse=True)
def _crm_password_hashing(crm_password_hasher: Any) -> Iterator[None]:
    """Puts ``crm_password_hasher`` in place for the session (and the production one back)."""
    from ..users import passwords

    production = passwords._hasher
    passwords._hasher = crm_password_hasher
    try:
        yield
    finally:
        passwords._hasher = production


@pytest.fixture(scope="session")
def crm_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The database of the test session: a new SQLite file, or a new PostgreSQL database."""
    url = request.config.getoption("--crm-db")
    if not url or url.startswith("sqlite"):
        yield url or f"sqlite:///{tmp_path_factory.mktemp('crmdb') / 'test.db'}"
        return
    with empty_database(url) as database:
        yield database


@pytest.fixture(scope="session")
def crm_extra_plugins() -> list[str | ModuleType]:
    """Plugin modules to load besides the installed ones. Override it in a conftest."""
    return []


@pytest.fixture(scope="session")
def _crm_apps(
    crm_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[Any, Any]]:
    apps: dict[Any, Any] = {}
    yield apps
    for app in apps.values():
        app.extensions["crm"].engine.dispose()


def build_app(extra: list[str | ModuleType], database_url: str, instance: Path) -> Any:
    """A migrated app with default roles: every available plugin's tables exist, none enabled."""
    from ..app import create_app
    from ..instance import ensure_roles, upgrade_all

    app = create_app(
        instance,
        config={"database_url": database_url, "secret_key": "test-secret-" + "x" * 32},
        plugins=extra,
    )
    app.config.update(TESTING=True, RATELIMIT_ENABLED=True)
    with app.app_context():
        crm = app.extensions["crm"]
        upgrade_all(crm, only_enabled=False)
        ensure_roles(crm)
    return app


@pytest.fixture
def app(
    request: pytest.FixtureRequest,
    _crm_apps: dict[Any, Any],
    crm_database_url: str,
    crm_extra_plugins: list[str | ModuleType],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    """A CRM app in an application context; everything the test writes is rolled back."""
    key = tuple(m if isinstance(m, str) else m.__name__ for m in crm_extra_plugins)
    if key not in _crm_apps:
        _crm_apps[key] = build_app(
            crm_extra_plugins, crm_database_url, tmp_path_factory.mktemp("instance")
        )
    app = _crm_apps[key]
    crm = app.extensions["crm"]
    connection = crm.engine.connect()
    transaction = connection.begin()
    crm.sessionmaker.configure(bind=connection, join_transaction_mode="create_savepoint")
    crm.limiter.reset()
    try:
        with app.app_context():
            from ..instance import enable_plugin

            marker = request.node.get_closest_marker("crm_plugins")
            for name in marker.args if marker else ():
                enable_plugin(crm, name)
            crm.forget_enabled()
            yield app
    finally:
        crm.sessionmaker.configure(bind=crm.engine)
        transaction.rollback()
        connection.close()


@pytest.fixture
def immediate_jobs(crm: Any) -> Iterator[Any]:
    """Jobs run the moment they are queued, in the test's process (Huey's immediate mode);
    yields ``crm.jobs``."""
    crm.jobs.huey.immediate = True
    try:
        yield crm.jobs
    finally:
        crm.jobs.huey.immediate = False


@pytest.fixture(scope="module")
def instance_database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """For tests that serve an instance in a subprocess (``crmcore.testing.browser``): with
    ``--crm-db`` on PostgreSQL, a new database of its own for the module; else ``None``
    (SQLite in the instance folder)."""
    url = request.config.getoption("--crm-db")
    if not url or url.startswith("sqlite"):
        yield None
        return
    with empty_database(url) as database:
        yield database


@pytest.fixture(scope="module")
def crm_browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, launched once per test module
    (``crmcore.testing.browser.chromium``); open pages with ``watched_page`` or
    ``signed_in_page``."""
    from .browser import chromium

    with chromium() as launched:
        yield launched


@pytest.fixture
def smtp_peer(crm: Any) -> Iterator[Any]:
    """A real SMTP server (aiosmtpd on 127.0.0.1) that the app sends through for one test.

    Yields the :class:`crmcore.testing.smtp.Inbox`: ``.messages`` (envelopes and raw bytes),
    ``.parsed()`` and ``.url``.
    """
    from .smtp import sending_through

    with sending_through(crm) as inbox:
        yield inbox


@pytest.fixture
def crm(app: Any) -> Any:
    """The ``CRM`` state object of ``app``."""
    return app.extensions["crm"]


@pytest.fixture
def session(crm: Any) -> Any:
    return crm.session


@pytest.fixture
def records(crm: Any) -> Any:
    """The record service acting as the system (no permission limits)."""
    return crm.records()


@pytest.fixture
def make_user(crm: Any) -> Callable[..., Any]:
    """``make_user(role="sales_rep", email=None, teams=(), password=PASSWORD)``."""

    def make(
        role: str | None = "sales_rep",
        email: str | None = None,
        teams: tuple[str, ...] = (),
        password: str = PASSWORD,
        **fields: Any,
    ) -> Any:
        from sqlalchemy import select

        from ..instance import create_user
        from ..users.models import Team

        email = email or f"user{next(_emails)}@example.com"
        user = create_user(crm, email, password, role, fields.pop("name", ""))
        if fields:
            crm.records().update("users", user, fields)
        for team_name in teams:
            team = crm.session.scalar(select(Team).where(Team.name == team_name))
            if team is None:
                crm.records().create("teams", {"name": team_name, "member_ids": [user.id]})
            else:
                crm.records().update("teams", team, {"member_ids": [*team.member_ids, user.id]})
        return user

    return make


@pytest.fixture
def make_company(records: Any) -> Callable[..., Any]:
    counter = itertools.count(1)

    def make(**fields: Any) -> Any:
        n = next(counter)
        return records.create("companies", {"name": f"Company {n}", **fields})

    return make


@pytest.fixture
def make_contact(records: Any) -> Callable[..., Any]:
    counter = itertools.count(1)

    def make(**fields: Any) -> Any:
        n = next(counter)
        data = {
            "first_name": "Test",
            "last_name": f"Person {n}",
            "email": f"person{n}.{secrets.token_hex(2)}@example.com",
            **fields,
        }
        return records.create("contacts", data)

    return make


class ApiClient:
    """A test client that sends a bearer token and JSON."""

    def __init__(self, client: Any, token: str | None) -> None:
        self.client = client
        self.token = token

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        out.update(headers or {})
        return out

    def get(self, url: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.get(url, headers=self._headers(headers), **kw)

    def delete(self, url: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.delete(url, headers=self._headers(headers), **kw)

    def post(
        self, url: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        if json is not None:
            kw["json"] = json
        return self.client.post(url, headers=self._headers(headers), **kw)

    def patch(
        self, url: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        if json is not None:
            kw["json"] = json
        return self.client.patch(url, headers=self._headers(headers), **kw)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def api_as(app: Any, crm: Any) -> Callable[[Any], ApiClient]:
    """``api_as(user)``: an API client signed in as ``user`` (a token issued directly)."""

    def make(user: Any) -> ApiClient:
        from ..api.auth import issue_token

        token, _row = issue_token(crm.session, user, "test", 1)
        crm.session.commit()
        return ApiClient(app.test_client(), token)

    return make


@pytest.fixture
def admin(make_user: Callable[..., Any]) -> Any:
    return make_user("admin")


@pytest.fixture
def api(api_as: Callable[[Any], ApiClient], admin: Any) -> ApiClient:
    """An API client signed in as an administrator."""
    return api_as(admin)


@pytest.fixture
def web_as(app: Any) -> Callable[[Any], Any]:
    """``web_as(user)``: a Flask test client signed in to the web pages as ``user``."""

    def make(user: Any) -> Any:
        from ..web.session import Account

        client = app.test_client()
        with client.session_transaction() as cookie_session:
            cookie_session["_user_id"] = Account(user).get_id()
            cookie_session["_fresh"] = True
        return client

    return make


@pytest.fixture
def web(web_as: Callable[[Any], Any], admin: Any) -> Any:
    """A Flask test client signed in to the web pages as an administrator."""
    return web_as(admin)


@pytest.fixture
def cli(app: Any) -> Callable[..., Any]:
    """``cli("plugins", "list")`` runs a ``crm`` command against ``app``."""
    from ..cli import cli as crm_cli

    runner = app.test_cli_runner()

    def run(*args: str, input: str | None = None) -> Any:
        return runner.invoke(crm_cli, list(args), input=input, catch_exceptions=False)

    return run


def _plugin_tables(crm: Any, name: str) -> list[Any]:
    from ..db import Base

    prefix = crm.plugins.get(name).table_prefix
    return [t for t in Base.metadata.sorted_tables if t.name.startswith(prefix)]


def _rows(crm: Any, tables: list[Any]) -> dict[str, list[tuple[Any, ...]]]:
    from sqlalchemy import select

    out = {}
    for table in tables:
        order = list(table.primary_key.columns) or list(table.columns)
        rows = crm.session.execute(select(table).order_by(*order)).all()
        out[table.name] = [tuple(row) for row in rows]
    return out


@contextmanager
def empty_database(url: Any) -> Iterator[str]:
    """A new, empty database beside ``url``'s, removed afterwards: a SQLite file in a temporary
    folder, or a new database on the same PostgreSQL server (``CREATE``/``DROP DATABASE``)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(url) if isinstance(url, str) else url
    if url.get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory(prefix="crm-db-") as folder:
            yield f"sqlite:///{Path(folder) / 'empty.db'}"
        return
    url = url.set(drivername="postgresql+psycopg")
    name = f"crmtest_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _requirements(crm: Any, name: str) -> list[str]:
    """``name`` and the plugins it requires, directly or not, dependencies first."""
    out: list[str] = []

    def visit(plugin: str) -> None:
        for dep in crm.plugins.get(plugin).meta.requires:
            visit(dep)
        if plugin not in out:
            out.append(plugin)

    visit(name)
    return out


def assert_plugin_migrates_and_survives_disable(
    crm: Any, name: str, *, require_rows: bool = True
) -> None:
    """Check the two promises every plugin with data makes.

    1. In a new, empty database (same backend as ``crm``), the core and the plugin (with the
       plugins it requires) migrate up to their heads, and Alembic's autogenerate comparison
       finds no difference between the plugin's models and its migrated tables.
    2. In ``crm``'s database, disabling the plugin hides its entities and keeps every row of its
       tables; enabling it again brings them back unchanged.

    Create some of the plugin's records before calling it (``require_rows=False`` for a plugin
    without tables). Fails with an ``AssertionError`` naming what went wrong.
    """
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    from .. import migrate
    from ..app import create_app
    from ..db import Base
    from ..instance import disable_plugin, enable_plugin

    plugin = crm.plugins.get(name)
    tables = _plugin_tables(crm, name)

    # 1. from an empty database
    modules = [p.module for p in crm.plugins if not p.meta.builtin]
    with empty_database(crm.engine.url) as url, tempfile.TemporaryDirectory() as instance:
        fresh = create_app(
            instance,
            config={"database_url": url, "secret_key": "test-secret-" + "x" * 32},
            plugins=modules,
            discover=False,
        )
        other = fresh.extensions["crm"]
        try:
            with fresh.app_context():
                migrate.upgrade(other, "core")
                for lineage in _requirements(other, name):
                    migrate.upgrade(other, lineage)
                    head = migrate.head(other, lineage)
                    current = migrate.current(other, lineage)
                    assert current == head, (
                        f"plugin {lineage!r} is at revision {current}, its head is {head}"
                    )
                found = set(inspect(other.session.connection()).get_table_names())
                missing = sorted(t.name for t in tables if t.name not in found)
                assert not missing, f"plugin {name!r}: migrations do not create {missing}"
                context = MigrationContext.configure(
                    other.session.connection(),
                    opts={
                        "include_object": migrate.include_object_for(plugin.table_prefix),
                        "compare_type": True,
                        "target_metadata": Base.metadata,
                    },
                )
                with warnings.catch_warnings():  # expression indexes are not reflected
                    warnings.filterwarnings("ignore", "Skipped unsupported reflection")
                    diff = compare_metadata(context, Base.metadata)
                other.session.rollback()
                assert diff == [], (
                    f"plugin {name!r}: models and migrations differ, run "
                    f"`crm db revision {name} -m ...`: {diff}"
                )
        finally:
            other.engine.dispose()

    # 2. disable and enable again in the test's database
    if name not in crm.enabled_plugins():
        enable_plugin(crm, name)
    before = _rows(crm, tables)
    if require_rows:
        assert any(before.values()), (
            f"plugin {name!r} has no rows to keep: create some records before the check"
        )
    own = {e.name for e in crm.registry if e.plugin == name}
    disable_plugin(crm, name)
    assert name not in crm.enabled_plugins(), f"plugin {name!r} is still enabled"
    hidden = own & {e.name for e in crm.entities()}
    assert not hidden, f"entities {sorted(hidden)} of the disabled plugin {name!r} still show"
    crm.session.expire_all()
    assert _rows(crm, tables) == before, f"disabling {name!r} changed its rows"
    enable_plugin(crm, name)
    assert own <= {e.name for e in crm.entities()}, f"entities of {name!r} did not come back"
    crm.session.expire_all()
    assert _rows(crm, tables) == before, f"enabling {name!r} again changed its rows"
