"""The test kit's own promises: ``run_crm`` runs a command with the instance's environment and
leaves the test's environment as it was; a failed command raises with its message; its init of a
new instance copies the first one the process made."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from crmcore.testing import PASSWORD, empty_database
from crmcore.testing.browser import CRM, free_port, instance_env, run_crm


def test_run_crm_prepares_the_instance_its_environment_names(
    tmp_path: Path, instance_database: str | None
) -> None:
    env = instance_env(tmp_path / "instance", free_port(), instance_database)
    os.environ["CRM_DATABASE_URL"] = "sqlite:////nowhere/else.db"  # instance_env drops it
    try:
        before = dict(os.environ)
        run_crm(env, "init")
        run_crm(env, "users", "create", "kit@example.com", "--password", PASSWORD)
        assert dict(os.environ) == before
    finally:
        del os.environ["CRM_DATABASE_URL"]
    listed = subprocess.run(
        [CRM, "users", "list"], env=env, check=True, capture_output=True, text=True, timeout=180
    ).stdout
    assert "kit@example.com" in listed  # a `crm` of its own sees what run_crm made


def test_run_crm_raises_with_the_commands_message(tmp_path: Path) -> None:
    env = instance_env(tmp_path / "never-initialised", free_port(), None)
    with pytest.raises(RuntimeError) as failed:
        run_crm(env, "users", "list")
    assert "crm users list exited with 1" in str(failed.value)
    assert "crm init" in str(failed.value)


def _emails(env: dict[str, str]) -> list[str]:
    from sqlalchemy import create_engine, text

    url = env.get("CRM_DATABASE_URL") or f"sqlite:///{env['CRM_INSTANCE_PATH']}/crm.db"
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(text("SELECT email FROM core_user ORDER BY email")))
    finally:
        engine.dispose()


def test_run_crm_init_copies_a_new_instance_and_migrates_one_that_has_data(
    tmp_path: Path, instance_database: str | None
) -> None:
    """The second new instance is a copy of the first one's init (SQLite file or PostgreSQL
    template) with a secret key of its own; an instance that has data is migrated, not
    replaced."""
    from crmcore.testing.browser import _forget_app, _initialised

    with empty_database(instance_database or "sqlite://") as one, empty_database(
        instance_database or "sqlite://"
    ) as two:
        first = instance_env(tmp_path / "first", free_port(), instance_database and one)
        second = instance_env(tmp_path / "second", free_port(), instance_database and two)
        run_crm(first, "init")
        run_crm(first, "users", "create", "first@example.com", "--password", PASSWORD)
        run_crm(second, "init")
        run_crm(second, "users", "create", "second@example.com", "--password", PASSWORD)
        assert _emails(second) == ["second@example.com"]
        if instance_database:  # made from the template of a `crm init` of its own
            assert any(template for _folder, template in _initialised.values())
        assert (tmp_path / "second" / "secret_key").read_text() != (
            tmp_path / "first" / "secret_key"
        ).read_text()
        run_crm(first, "init")  # again, on a database that has data: migrated, kept
        assert _emails(first) == ["first@example.com"]
        listed = subprocess.run(
            [CRM, "users", "list"], env=second, check=True, capture_output=True, text=True,
            timeout=180,
        ).stdout  # fmt: skip
        assert "second@example.com" in listed and "first@example.com" not in listed
        _forget_app()  # the databases go at the end of the block: no connection may be left
