"""``crm plugins new``: the generated distribution is complete, installs, passes its own tests and
builds a wheel; its first migration matches its model."""

from __future__ import annotations

import importlib
import os
import re
import secrets
import subprocess
import sys
import sysconfig
import tomllib
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from packaging.specifiers import SpecifierSet

import crmcore
from crmcore import PluginError, migrate
from crmcore.app import create_app
from crmcore.cli import cli as crm_cli
from crmcore.db import Base
from crmcore.scaffold import core_range, generate, installed_names, validate_name

# layout, translations, docs and the scaffold do not depend on the database engine: run once
pytestmark = pytest.mark.crm_sqlite_only

ROOT = Path(__file__).resolve().parent.parent

EXPECTED = {
    ".github/workflows/ci.yml",
    ".gitignore",
    "CHANGELOG.md",
    "README.md",
    "pyproject.toml",
    "crm_{n}/__init__.py",
    "crm_{n}/plugin.py",
    "crm_{n}/actions.py",
    "crm_{n}/models.py",
    "crm_{n}/schemas.py",
    "crm_{n}/views.py",
    "crm_{n}/cli.py",
    "crm_{n}/commands.py",
    "crm_{n}/templates/{n}/index.html",
    "crm_{n}/migrations/versions/0001_{n}.py",
    "tests/conftest.py",
    "tests/test_{n}.py",
}


def new(*args: str) -> Any:
    return CliRunner().invoke(crm_cli, ["plugins", "new", *args])


def unique_name() -> str:
    return f"gen{secrets.token_hex(3)}"


# -- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["Gizmo", "1gizmo", "giz-mo", "class", "_gizmo", "users", "core", "ñandú", "x" * 31]
)
def test_invalid_names_are_refused(bad):
    with pytest.raises(PluginError, match="plugin name"):
        validate_name(bad, taken=())


def test_installed_names_are_refused():
    validate_name("gizmo", taken=["other"])
    with pytest.raises(PluginError, match="already installed"):
        validate_name("gizmo", taken=["gizmo"])
    assert {"users", "contacts", "activities"} <= installed_names()


def test_cli_refuses_a_bad_name_and_an_existing_folder(tmp_path):
    result = new("Bad-Name", "--dir", str(tmp_path))
    assert result.exit_code == 1
    assert "lower-case identifier" in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []
    assert new("gizmo", "--dir", str(tmp_path)).exit_code == 0
    again = new("gizmo", "--dir", str(tmp_path))
    assert again.exit_code == 1 and "already exists" in again.output


def test_core_range_is_this_major_version():
    assert core_range("1.4.2") == ">=1.4,<2"
    assert core_range("2.0.0rc1") == ">=2.0,<3"
    assert SpecifierSet(core_range()).contains(crmcore.__version__, prereleases=True)


# -- the files ------------------------------------------------------------------------------


def test_new_writes_a_complete_distribution(tmp_path):
    result = new("gizmo", "--dir", str(tmp_path), "--title", "Gizmos")
    assert result.exit_code == 0, result.output
    root = tmp_path / "crm-gizmo"
    assert f"created {root}" in result.output
    files = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert files == {f.format(n="gizmo") for f in EXPECTED}
    for path in root.rglob("*"):
        if path.is_file():
            text = path.read_text().replace("${{", "")  # GitHub expressions in the workflow
            assert "${" not in text, f"unfilled placeholder in {path}"

    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "crm-gizmo"
    assert meta["project"]["entry-points"]["crmcore.plugins"] == {"gizmo": "crm_gizmo.plugin"}
    (core_dep,) = meta["project"]["dependencies"]
    assert core_dep == f"crmcore{core_range()}"
    assert "migrations/versions/*.py" in meta["tool"]["setuptools"]["package-data"]["crm_gizmo"]
    plugin_source = (root / "crm_gizmo" / "plugin.py").read_text()
    assert 'name="gizmo"' in plugin_source and 'title="Gizmos"' in plugin_source
    assert "gizmo" in (root / "CHANGELOG.md").read_text()


def test_generated_code_is_lint_clean(tmp_path):
    root = generate("gizmo", tmp_path, taken=())
    ruff = Path(sys.executable).parent / "ruff"
    if not ruff.exists():
        pytest.skip("ruff is not installed in this environment")
    done = subprocess.run(
        [str(ruff), "check", "--no-cache", "."], cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- the migration matches the model ---------------------------------------------------------


@contextmanager
def _migrated(root: Path, name: str, database: str, tmp_path: Path) -> Iterator[Any]:
    """The generated package imported as a plugin of an app whose empty database is migrated
    (core and the plugin); yields the CRM inside an app context."""
    sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(f"crm_{name}.plugin")
        app = create_app(
            tmp_path / "instance",
            config={"database_url": database},
            plugins=[module],
            discover=False,
        )
        crm = app.extensions["crm"]
        with app.app_context():
            migrate.upgrade(crm, "core")
            migrate.upgrade(crm, name)
            yield crm
        crm.engine.dispose()
    finally:
        sys.path.remove(str(root))
        for mod in [m for m in sys.modules if m.startswith(f"crm_{name}")]:
            del sys.modules[mod]


def _diff_after_migrating(root: Path, name: str, database: str, tmp_path: Path) -> list[Any]:
    """Import the generated package, migrate an empty database, compare with the models."""
    with _migrated(root, name, database, tmp_path) as crm:
        assert migrate.current(crm, name) == f"{name}_0001"
        context = MigrationContext.configure(
            crm.session.connection(),
            opts={
                "include_object": migrate.include_object_for(f"{name}_"),
                "compare_type": True,
                "target_metadata": Base.metadata,
            },
        )
        with warnings.catch_warnings():  # expression indexes are not reflected
            warnings.filterwarnings("ignore", "Skipped unsupported reflection")
            return compare_metadata(context, Base.metadata)


def test_first_migration_matches_the_model(tmp_path, fresh_database):
    name = unique_name()
    root = generate(name, tmp_path, taken=())
    assert _diff_after_migrating(root, name, fresh_database, tmp_path) == []


def test_the_migration_check_sees_a_model_change(tmp_path, fresh_database):
    name = unique_name()
    root = generate(name, tmp_path, taken=())
    models = root / f"crm_{name}" / "models.py"
    models.write_text(
        models.read_text() + "    colour: Mapped[str | None] = mapped_column(String(20))\n"
    )
    diff = _diff_after_migrating(root, name, fresh_database, tmp_path)
    assert [(d[0], d[3].name) for d in diff] == [("add_column", "colour")]


def test_generated_revision_is_clean_and_quiet(tmp_path, fresh_database):
    """After a model change, ``crm db revision`` writes a revision that passes the plugin's own
    ruff settings, and says nothing about other lineages' tables (no reflection warnings)."""
    ruff = Path(sys.executable).parent / "ruff"
    if not ruff.exists():
        pytest.skip("ruff is not installed in this environment")
    name = unique_name()
    root = generate(name, tmp_path, taken=())
    models = root / f"crm_{name}" / "models.py"
    models.write_text(
        models.read_text() + "    colour: Mapped[str | None] = mapped_column(String(20))\n"
    )
    with (
        _migrated(root, name, fresh_database, tmp_path) as crm,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        migrate.revision(crm, name, "add colour")
    assert [str(w.message) for w in caught if "reflection" in str(w.message)] == []
    (written,) = [
        p
        for p in (root / f"crm_{name}" / "migrations" / "versions").glob("*.py")
        if "colour" in p.name
    ]
    text = written.read_text()
    assert "sa.Column('colour'" in text
    assert not [line for line in text.splitlines() if line != line.rstrip()]
    result = subprocess.run(
        [str(ruff), "check", "--no-cache", str(written)], cwd=root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- install, test and build like an author ---------------------------------------------------


def _throwaway_venv(where: Path) -> Path:
    """A venv without pip that sees this environment's packages (a .pth file adds them)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parent = sysconfig.get_paths()["purelib"]
    Path(site, "_crm_parent_env.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    return python


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses a POSIX venv layout")
def test_generated_plugin_builds_installs_and_passes_its_tests(tmp_path):
    name = unique_name()
    root = generate(name, tmp_path / "src", taken=())

    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(tmp_path / "dist"), str(root)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    assert len(list((tmp_path / "dist").glob("*.tar.gz"))) == 1
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    package = f"crm_{name}"
    assert f"{package}/migrations/versions/0001_{name}.py" in names
    assert f"{package}/templates/{name}/index.html" in names
    _check_dist_passes_then_finds_what_is_broken(wheel, package, tmp_path)

    python = _throwaway_venv(tmp_path / "venv")
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    found = subprocess.run(
        [str(python), "-c", "from crmcore.scaffold import installed_names as n; print(*n())"],
        capture_output=True,
        text=True,
    )
    assert name in found.stdout.split(), found.stderr
    assert name not in installed_names()  # this environment is untouched
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "PYTEST_"))}
    tests = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--crm-db", ""],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert tests.returncode == 0, tests.stdout[-5000:] + tests.stderr[-2000:]
    assert "9 passed" in tests.stdout, tests.stdout[-2000:]


def _check_dist(wheel):
    from click.testing import CliRunner

    from crmcore.cli import cli as crm_cli

    return CliRunner().invoke(crm_cli, ["plugins", "check-dist", str(wheel)])


def _rewrite(wheel, target, drop=(), change=None):
    """A copy of ``wheel`` without the members ``drop`` matches, ``change(name, data)`` applied."""
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(target, "w") as out:
        for item in src.infolist():
            if any(part in item.filename for part in drop):
                continue
            data = src.read(item.filename)
            out.writestr(item, change(item.filename, data) if change else data)
    return target


def _check_dist_passes_then_finds_what_is_broken(wheel, package, tmp_path):
    good = _check_dist(wheel)
    assert good.exit_code == 0, good.output
    assert "is ready to publish" in good.output and "PROBLEM" not in good.output
    assert "1 migration revision(s) packaged" in good.output
    assert "template(s) packaged" in good.output

    broken = tmp_path / "broken"
    broken.mkdir()
    no_migrations = _rewrite(wheel, broken / wheel.name, drop=("/migrations/versions/",))
    result = _check_dist(no_migrations)
    assert result.exit_code == 1 and "no migrations/versions/*.py is packaged" in result.output

    (broken / "t").mkdir()
    no_templates = _rewrite(wheel, broken / "t" / wheel.name, drop=("/templates/",))
    result = _check_dist(no_templates)
    assert result.exit_code == 1 and "templates rendered but not packaged" in result.output

    def unbounded(name, data):
        if name.endswith("METADATA"):
            return re.sub(rb"Requires-Dist: crmcore[^\n]*", b"Requires-Dist: crmcore>=1.0", data)
        return data

    (broken / "m").mkdir()
    result = _check_dist(_rewrite(wheel, broken / "m" / wheel.name, change=unbounded))
    assert result.exit_code == 1 and "has no upper bound" in result.output

    (broken / "e").mkdir()
    result = _check_dist(_rewrite(wheel, broken / "e" / wheel.name, drop=("entry_points.txt",)))
    assert result.exit_code == 1 and "no [crmcore.plugins] entry point" in result.output

    def wrong_version(name, data):
        return data.replace(b'version="0.1.0"', b'version="0.2.0"') if name.endswith(
            f"{package}/plugin.py"
        ) else data

    (broken / "v").mkdir()
    result = _check_dist(_rewrite(wheel, broken / "v" / wheel.name, change=wrong_version))
    assert result.exit_code == 1 and "PLUGIN.version 0.2.0, wheel 0.1.0" in result.output

    not_a_wheel = broken / "x.whl"
    not_a_wheel.write_text("nope")
    result = _check_dist(not_a_wheel)
    assert result.exit_code == 1 and "not a valid wheel" in result.output


def test_generated_plugin_has_a_release_workflow_and_badge(tmp_path):
    import yaml

    name = unique_name()
    root = generate(name, tmp_path, taken=())
    workflow_text = (root / ".github" / "workflows" / "ci.yml").read_text()
    assert "${" not in workflow_text.replace("${{", "")  # every placeholder filled
    workflow = yaml.safe_load(workflow_text)
    jobs = workflow["jobs"]
    assert jobs["test"]["strategy"]["matrix"]["core"] == ["oldest", "newest"]
    assert jobs["test"]["strategy"]["matrix"]["database"] == ["sqlite", "postgresql"]
    steps = "\n".join(str(step.get("run", "")) for step in jobs["build"]["steps"])
    assert "twine check" in steps and "crm plugins check-dist" in steps
    assert jobs["publish"]["permissions"] == {"id-token": "write"}
    assert jobs["publish"]["if"] == "startsWith(github.ref, 'refs/tags/v')"
    install = "\n".join(str(step.get("run", "")) for step in jobs["test"]["steps"])
    assert f'crmcore=={core_range().split(",")[0].removeprefix(">=")}.*' in install
    readme = (root / "README.md").read_text()
    assert "img.shields.io/badge/crmcore-%3E%3D" in readme
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert "crmcore-plugin" in meta["project"]["keywords"]
