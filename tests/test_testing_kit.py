"""The test kit's own promises: ``run_crm`` runs a command with the instance's environment and
leaves the test's environment as it was; a failed command raises with its message; the tests of
a module sharing a module-scoped fixture form one xdist group."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from crmcore.testing import PASSWORD
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


@pytest.fixture(scope="module")
def module_set_up() -> str:
    return "made once for the module"


def test_a_test_sharing_a_module_fixture_is_grouped_with_its_module(
    module_set_up: str, request: pytest.FixtureRequest
) -> None:
    mark = request.node.get_closest_marker("xdist_group")
    assert mark is not None and mark.args == (request.node.nodeid.split("::")[0],)
    assert mark.args[0].endswith("test_testing_kit.py")


def test_a_test_without_a_module_fixture_is_not_grouped(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    assert request.node.get_closest_marker("xdist_group") is None
