from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def crm_extra_plugins():
    """Test plugins that live in tests/ rather than being installed."""
    return ["plugin_widgets", "plugin_everyhook"]


@pytest.fixture
def fresh_database(crm_database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database on the backend the tests run on (dropped afterwards)."""
    if crm_database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(crm_database_url)
    name = f"crmfresh_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
