"""``crm plugins doctor``: each kind of problem is reported, and the exit status says so."""

from __future__ import annotations

import secrets
import sys
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

import crmcore.plugins
from crmcore.cli import cli as crm_cli
from crmcore.cli import doctor as doctor_module
from crmcore.instance import enable_plugin
from crmcore.plugin_state import PluginState
from crmcore.plugins import LoadedPlugin, PluginSet
from crmcore.testing.plugin import build_app

PLUGIN = """
from crmcore import Plugin, hookimpl

PLUGIN = Plugin(name="{name}", title="{name}", version="1.0", requires={requires!r},
                core="{core}")
{extra}
"""

BLUEPRINT = """
from flask import Blueprint


@hookimpl
def crm_blueprints():
    return [Blueprint("{name}", __name__, url_prefix="/shared")]
"""

REVISION = '''"""Revision {rev} of {name}."""
import sqlalchemy as sa
from alembic import op

revision = "{rev}_{name}"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
    {body}


def downgrade():
    pass
'''


def source(name: str, requires: tuple[str, ...] = (), core: str = ">=1,<2", extra: str = "") -> str:
    return PLUGIN.format(name=name, requires=list(requires), core=core, extra=extra)


@pytest.fixture
def installed(monkeypatch, tmp_path):
    """``installed({"name": "source"})``: plugins found through (simulated) entry points."""
    suffix = secrets.token_hex(3)
    modules: list[str] = []

    def install(sources: dict[str, str]) -> None:
        points = []
        for name, text in sources.items():
            module = f"crmtest_doc_{name}_{suffix}"
            (tmp_path / f"{module}.py").write_text(text)
            points.append(EntryPoint(name, module, crmcore.plugins.ENTRY_POINT_GROUP))
            modules.append(module)
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setattr(
            crmcore.plugins,
            "entry_points",
            lambda group: points if group == crmcore.plugins.ENTRY_POINT_GROUP else [],
        )

    yield install
    for module in modules:
        sys.modules.pop(module, None)


def doctor(app: Any) -> Any:
    return app.test_cli_runner().invoke(crm_cli, ["plugins", "doctor"])


def lines(output: str) -> dict[str, list[str]]:
    """Report lines by subject: ``{"broken": ["FAIL broken failed to import: ..."]}``."""
    out: dict[str, list[str]] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("ok", "FAIL"):
            out.setdefault(parts[1], []).append(line)
    return out


def test_a_healthy_instance_has_no_problems(installed, core_database, tmp_path):
    installed({"fine": source("fine")})
    app = build_app([], core_database, tmp_path / "instance")
    result = doctor(app)
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("no problems found")
    assert lines(result.output)["fine"][0].startswith("ok")
    assert "migrations up to date" in lines(result.output)["core"][0]


def test_failed_import_is_reported(installed, core_database, tmp_path):
    installed({"fine": source("fine"), "broken": "raise RuntimeError('boom at import')\n"})
    app = build_app([], core_database, tmp_path / "instance")
    result = doctor(app)
    assert result.exit_code == 1
    (line,) = lines(result.output)["broken"]
    assert line.startswith("FAIL") and "failed to import: boom at import" in line
    assert "1 problem found" in result.output


def test_missing_dependency_is_reported(installed, core_database, tmp_path):
    installed({"needy": source("needy", requires=("nowhere",))})
    result = doctor(build_app([], core_database, tmp_path / "instance"))
    assert result.exit_code == 1
    (line,) = lines(result.output)["needy"]
    assert "missing dependency" in line and "'nowhere'" in line


def test_incompatible_core_version_is_reported(installed, core_database, tmp_path):
    installed({"future": source("future", core=">=7")})
    result = doctor(build_app([], core_database, tmp_path / "instance"))
    assert result.exit_code == 1
    (line,) = lines(result.output)["future"]
    assert "incompatible core version" in line and ">=7" in line


def test_dependency_cycle_is_reported(installed, core_database, tmp_path):
    installed({"hen": source("hen", ("egg",)), "egg": source("egg", ("hen",))})
    result = doctor(build_app([], core_database, tmp_path / "instance"))
    assert result.exit_code == 1
    assert "dependency cycle" in lines(result.output)["hen"][0]
    assert "dependency cycle" in lines(result.output)["egg"][0]


def test_conflicting_plugins_are_reported_naming_both(installed, core_database, tmp_path):
    installed(
        {
            "left": source("left", extra=BLUEPRINT.format(name="left")),
            "right": source("right", extra=BLUEPRINT.format(name="right")),
        }
    )
    info = ScriptInfo(create_app=lambda: build_app([], core_database, tmp_path / "instance"))
    result = CliRunner().invoke(crm_cli, ["plugins", "doctor"], obj=info)
    assert result.exit_code == 1, result.output
    (line,) = lines(result.output)["conflict"]
    assert "'left'" in line and "'right'" in line and "/shared" in line
    assert "Traceback" not in result.output


def test_pending_migrations_are_reported_until_upgraded(installed, core_database, tmp_path):
    name = f"mig{secrets.token_hex(2)}"
    package = tmp_path / f"crmtest_doc_{name}"
    versions = package / "migrations" / "versions"
    versions.mkdir(parents=True)
    (package / "__init__.py").write_text(source(name))
    body = f'op.create_table("{name}_thing", sa.Column("id", sa.Integer, primary_key=True))'
    (versions / "0001.py").write_text(REVISION.format(rev="0001", name=name, down=None, body=body))
    installed({})
    app = build_app([package.name], core_database, tmp_path / "instance")
    try:
        with app.app_context():
            enable_plugin(app.extensions["crm"], name)
        assert doctor(app).exit_code == 0
        (versions / "0002.py").write_text(
            REVISION.format(rev="0002", name=name, down=f"0001_{name}", body="pass")
        )
        result = doctor(app)
        assert result.exit_code == 1
        (line,) = [x for x in lines(result.output)[name] if x.startswith("FAIL")]
        assert "pending migrations" in line and f"0001_{name}" in line and f"0002_{name}" in line
        assert "crm db upgrade" in line

        upgraded = app.test_cli_runner().invoke(crm_cli, ["db", "upgrade"])
        assert upgraded.exit_code == 0, upgraded.output
        assert doctor(app).exit_code == 0
    finally:
        sys.modules.pop(package.name, None)


def test_enabled_plugin_that_is_no_longer_installed(installed, core_database, tmp_path):
    installed({})
    app = build_app([], core_database, tmp_path / "instance")
    with app.app_context():
        crm = app.extensions["crm"]
        crm.session.add(PluginState(name="ghost", enabled=True, version="1.0"))
        crm.session.commit()
    result = doctor(app)
    assert result.exit_code == 1
    (line,) = lines(result.output)["ghost"]
    assert "not installed" in line


def test_missing_python_packages_are_reported(monkeypatch):
    module = type(sys)("crmtest_doc_pkg")
    module.PLUGIN = crmcore.Plugin(name="pkg", title="Pkg", version="1.0")
    plugin = LoadedPlugin(meta=module.PLUGIN, module=module, distribution="crm-pkg")
    declared = [
        "no-such-package-for-crm>=1",
        "crmcore>=99",
        "packaging",
        "never-there; extra == 'test'",
    ]
    monkeypatch.setattr(doctor_module, "requires", lambda dist: declared)
    found = doctor_module.package_findings(PluginSet({"pkg": plugin}))
    messages = [f.message for f in found]
    assert len(messages) == 2, messages
    assert "'no-such-package-for-crm'" in messages[0] and "not installed" in messages[0]
    assert "crmcore>=99" in messages[1]
    assert all(f.kind == "dependency" and f.subject == "pkg" for f in found)


def test_uninitialised_database_is_reported(installed, tmp_path):
    installed({})
    from crmcore.app import create_app

    app = create_app(
        tmp_path / "instance", config={"database_url": f"sqlite:///{tmp_path / 'none.db'}"}
    )
    result = doctor(app)
    assert result.exit_code == 1
    assert "crm init" in lines(result.output)["database"][0]


def test_doctor_command_is_listed():
    result = CliRunner().invoke(crm_cli, ["plugins", "--help"])
    assert "doctor" in result.output and "new" in result.output
    assert isinstance(doctor_module.Finding("x", "y").ok, bool)
    assert Path(doctor_module.__file__).name == "doctor.py"


MISTAKES = """
from crmcore import MenuItem, Panel, Permission, Widget


@hookimpl
def crm_permissions():
    return [Permission("{name}.view", "View")]


@hookimpl
def crm_menu_items():
    return [
        MenuItem("Claims", "/claims", permission="{name}.veiw"),
        MenuItem("Fine", "/fine", permission="{name}.view"),
        MenuItem("People", "/contacts", permission="contacts.read"),
    ]


@hookimpl
def crm_dashboard_widgets():
    return [Widget("w", "W", lambda user, records: {{}}, permission="nobody.declares")]


@hookimpl
def crm_record_panels():
    return [
        Panel("claims", "Claims", "contcats", lambda r, u, s: "x"),
        Panel("ok", "Ok", "contacts", lambda r, u, s: "x"),
    ]
"""


def test_contributions_that_never_show_are_reported(installed, core_database, tmp_path):
    """A misspelled panel entity and permissions nobody declares fail, naming the plugin; the
    correct contributions beside them do not."""
    installed({"oops": source("oops", extra=MISTAKES.format(name="oops"))})
    result = doctor(build_app([], core_database, tmp_path / "instance"))
    assert result.exit_code == 1, result.output
    failures = [x for x in lines(result.output)["oops"] if x.startswith("FAIL")]
    assert len(failures) == 3, failures
    text = "\n".join(failures)
    assert "panel 'claims' is on entity 'contcats'" in text
    assert "menu item 'Claims' needs permission 'oops.veiw'" in text
    assert "widget 'w' needs permission 'nobody.declares'" in text
    assert "'Fine'" not in text and "'People'" not in text and "'ok'" not in text
