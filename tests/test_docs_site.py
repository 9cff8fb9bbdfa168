"""The documentation site builds with warnings as errors, and its generated pages are current."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crmcore import docs_api, docs_python, docs_tables

# layout, translations, docs and the scaffold do not depend on the database engine: run once
pytestmark = pytest.mark.crm_sqlite_only

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[test]')")


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_site_builds_strictly(tmp_path):
    done = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    for page in (
        "index.html",
        "hooks/index.html",
        "api-reference/index.html",
        "admin-guide/deployment/index.html",
        "admin-guide/upgrades/index.html",
        "admin-guide/backup/index.html",
        "plugin-guide/tutorial/index.html",
        "plugin-guide/testing/index.html",
        "comparison/index.html",
    ):
        assert (tmp_path / "site" / page).is_file(), page


def test_a_broken_link_fails_the_build(tmp_path):
    """The check above is not vacuous: a warning (here a dead link) fails the strict build."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    index = tmp_path / "docs" / "index.md"
    index.write_text(index.read_text() + "\nSee [nowhere](no-such-page.md).\n")
    done = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert "no-such-page.md" in done.stdout + done.stderr


def test_nav_names_existing_pages():
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def pages(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for item in node:
                yield from pages(item)
        elif isinstance(node, dict):
            for value in node.values():
                yield from pages(value)

    listed = list(pages(config["nav"]))
    assert len(listed) == len(set(listed))
    for page in listed:
        assert (ROOT / "docs" / page).is_file(), page
    for required in ("hooks.md", "api-reference.md", "admin-guide/deployment.md"):
        assert required in listed


def test_rest_reference_is_up_to_date():
    current = (ROOT / "docs" / "api-reference.md").read_text()
    assert current == docs_api.render(docs_api.spec()), (
        "docs/api-reference.md is out of date: run scripts/gen-api-docs"
    )


def test_python_and_tables_references_are_up_to_date():
    assert (ROOT / "docs" / "python-api.md").read_text() == docs_python.render(), (
        "docs/python-api.md is out of date: run scripts/gen-api-docs"
    )
    tables = (ROOT / "docs" / "core-tables.md").read_text()
    assert tables == docs_tables.render(docs_tables.core_registry()), (
        "docs/core-tables.md is out of date: run scripts/gen-api-docs"
    )
    assert "## contact (`core_contact`)" in tables and "`core_user.id`" in tables


def test_every_public_name_has_a_docstring():
    assert docs_python.undocumented() == []
    text = docs_python.render()
    for name in ("RecordService", "Access", "Entity", "hookimpl", "run_action"):
        assert f"## `{name}`" in text
    assert "**`create_many(" in text and "**`has(" in text


def test_example_code_in_the_docs_is_the_tested_code():
    """Each code block marked ``<!-- file: PATH -->`` is that file of examples/, word for word
    (the examples' own tests run it)."""
    import re

    page = (ROOT / "docs" / "plugin-guide" / "examples.md").read_text()
    blocks = re.findall(r"<!-- file: (\S+) -->\n```python\n(.*?)```\n", page, re.S)
    assert len(blocks) >= 3
    for path, code in blocks:
        assert path.startswith("examples/") and code == (ROOT / path).read_text(), path


def test_rest_reference_lists_every_path_of_the_spec():
    spec = docs_api.spec()
    text = docs_api.render(spec)
    for path, item in spec["paths"].items():
        for method in docs_api.METHODS:
            if method in item:
                assert f"### `{method.upper()} {path}`" in text
    for name in spec["components"]["schemas"]:
        assert f"{{#schema-{name.lower()}}}" in text
    assert "| `email` |" in text  # the fields of the contact schema


def test_plugin_commands_are_documented():
    docs = "\n".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    for command in (
        "crm plugins new",
        "crm plugins doctor",
        "crm db upgrade",
        "crm backup",
        "crm restore",
        "crm worker",
        "crm serve",
    ):
        assert command in docs, command


def _is_fixture(value: object) -> bool:
    # pytest 8.4+ wraps fixtures in FixtureFunctionDefinition; older ones mark the function
    return type(value).__name__ == "FixtureFunctionDefinition" or hasattr(
        value, "_fixture_function_marker"
    )


def test_every_fixture_of_the_test_kit_is_documented():
    from crmcore.testing import plugin as kit

    documented = (ROOT / "docs" / "plugin-guide" / "testing.md").read_text()
    fixtures = [n for n, v in vars(kit).items() if not n.startswith("_") and _is_fixture(v)]
    assert {"app", "api", "web", "web_as", "cli", "make_user"} <= set(fixtures), fixtures
    for name in fixtures:
        assert f"| `{name}` |" in documented, f"fixture {name} is not in testing.md"
    for helper in ("assert_plugin_migrates_and_survives_disable", "build_app", "PASSWORD"):
        assert helper in documented, helper
