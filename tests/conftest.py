from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from crmcore.testing import empty_database


@pytest.fixture(scope="session")
def crm_extra_plugins():
    """Test plugins that live in tests/ rather than being installed."""
    return ["plugin_widgets", "plugin_everyhook"]


@pytest.fixture
def fresh_database(crm_database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database on the backend the tests run on (dropped afterwards)."""
    with empty_database(crm_database_url) as url:
        yield url


@pytest.fixture(scope="session")
def _core_template(
    crm_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database with the core and the built-in plugins migrated and the default roles, as
    ``build_app`` leaves it when no plugin is installed: made once per session (per worker)."""
    from crmcore.app import create_app
    from crmcore.instance import ensure_roles, upgrade_all

    with empty_database(crm_database_url) as url:
        app = create_app(
            tmp_path_factory.mktemp("template-instance"),
            config={"database_url": url, "secret_key": "test-secret-" + "x" * 32},
            discover=False,
        )
        crm = app.extensions["crm"]
        with app.app_context():
            upgrade_all(crm, only_enabled=False)
            ensure_roles(crm)
            crm.session.close()
        crm.engine.dispose()  # PostgreSQL copies only a template nobody is connected to
        yield url


@pytest.fixture
def core_database(
    _core_template: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A new database holding a copy of ``_core_template`` (dropped afterwards): for tests that
    build an app of their own plugins with ``build_app``, which then migrates only those."""
    template = make_url(_core_template)
    if template.get_backend_name() == "sqlite":
        copy = tmp_path / "core-copy.db"
        shutil.copyfile(str(template.database), copy)
        yield f"sqlite:///{copy}"
        return
    server = make_url(request.config.getoption("--crm-db"))  # not the template: it must be idle
    with empty_database(server) as url:  # a new name on the server, dropped afterwards
        name = make_url(url).database
        admin = create_engine(
            server.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
        )
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}"'))
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template.database}"'))
        finally:
            admin.dispose()
        yield url
