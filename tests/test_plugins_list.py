"""``crm plugins list`` answers without building the app: the same lines as the app's own list
(enabled, disabled, built-in and broken plugins), without importing the models, the API spec or
the web pages (bench/startup.py times it)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crmcore.app import create_app
from crmcore.cli import cli as crm_cli
from crmcore.instance import disable_plugin, enable_plugin, init_instance

CRM = str(Path(sys.executable).with_name("crm"))
SECRET = "test-secret-" + "x" * 32

#: installed plugins of a made-up distribution: module name -> source
MODULES = {
    "crm_listtest_good": (
        "from crmcore import Plugin\n"
        "PLUGIN = Plugin(name='listgood', title='Listed and good', version='2.0')\n"
    ),
    "crm_listtest_broken": "raise RuntimeError('boom at import')\n",
    "crm_listtest_future": (
        "from crmcore import Plugin\n"
        "PLUGIN = Plugin(name='listfuture', title='Future', version='1.0', core='>=9')\n"
    ),
    "crm_listtest_needy": (
        "from crmcore import Plugin\n"
        "PLUGIN = Plugin(name='listneedy', title='Needy', version='1.0', requires=['nosuch'])\n"
    ),
}
ENTRY_POINTS = {
    "listgood": "crm_listtest_good",
    "listbroken": "crm_listtest_broken",
    "listfuture": "crm_listtest_future",
    "listneedy": "crm_listtest_needy",
}

#: what building the app loads and listing the plugins must not
HEAVY = (
    "crmcore.app",
    "crmcore.api",
    "crmcore.web",
    "crmcore.models",
    "crmcore.users.plugin",
    "crmcore.users.models",
    "crm_sales.models",
    "flask_smorest",
    "apispec",
    "marshmallow",
    "sqlalchemy",
)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with an installed distribution (dist-info with entry points) of four plugins:
    one good, one failing to import, one for a future core, one needing a missing plugin. On
    ``sys.path`` here and on ``PYTHONPATH`` of the subprocesses."""
    folder = tmp_path / "site"
    folder.mkdir()
    for module, source in MODULES.items():
        (folder / f"{module}.py").write_text(source)
    info = folder / "crm_listtest-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: crm-listtest\nVersion: 1.0\n")
    points = "".join(f"{name} = {module}\n" for name, module in ENTRY_POINTS.items())
    (info / "entry_points.txt").write_text(f"[crmcore.plugins]\n{points}")
    monkeypatch.syspath_prepend(str(folder))
    return folder


@pytest.fixture
def instance(
    site: Path, fresh_database: str, tmp_path: Path
) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """``run(*args, code=None, database=None)``: ``crm *args`` (or ``python -c code``) in a
    subprocess against an instance of its own."""
    folder = tmp_path / "instance"

    def run(
        *args: str, code: str | None = None, database: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "FLASK_"))}
        env.update(
            CRM_INSTANCE_PATH=str(folder),
            CRM_DATABASE_URL=database or fresh_database,
            CRM_SECRET_KEY=SECRET,
            PYTHONPATH=os.pathsep.join([str(site), env.get("PYTHONPATH", "")]),
        )
        command = [sys.executable, "-c", code] if code else [CRM, *args]
        return subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=300, check=False
        )

    yield run


def app_listing(database: str, folder: Path) -> str:
    """What the list says when it is run against a built app (``ScriptInfo`` given an app)."""
    app = create_app(folder, config={"database_url": database, "secret_key": SECRET})
    try:
        result = app.test_cli_runner().invoke(crm_cli, ["plugins", "list"])
        assert result.exit_code == 0, result.output
        return result.stdout
    finally:
        app.extensions["crm"].engine.dispose()


def states(output: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in output.splitlines()}


LIST_AND_REPORT = (
    "import sys\n"
    "from crmcore.cli import cli\n"
    "cli.main(['plugins', 'list'], prog_name='crm', standalone_mode=False)\n"
    f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
    "print('HEAVY', heavy, file=sys.stderr)\n"
)


def test_list_says_what_the_app_says_without_loading_it(instance, fresh_database, tmp_path):
    folder = tmp_path / "instance"
    app = create_app(folder, config={"database_url": fresh_database, "secret_key": SECRET})
    crm: Any = app.extensions["crm"]
    with app.app_context():
        init_instance(crm)
        enable_plugin(crm, "listgood")
        enable_plugin(crm, "kb")

    listed = instance("plugins", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == app_listing(fresh_database, folder)
    lines = states(listed.stdout)
    assert lines["users"] == ["1.0.0", "built-in", "Users,", "roles", "and", "teams"]
    assert lines["listgood"] == ["2.0", "enabled", "Listed", "and", "good"]
    assert lines["kb"][1] == "enabled" and lines["sales"][1] == "disabled"
    broken = {name: " ".join(rest) for name, rest in lines.items() if rest[1] == "broken"}
    assert "failed to import: boom at import" in broken["listbroken"]
    assert "needs crmcore >=9" in broken["listfuture"]
    assert "requires 'nosuch', which is not installed" in broken["listneedy"]
    assert "plugin listbroken is unavailable" in listed.stderr  # logged, as the app logs it

    # no model, API spec or page module was imported to say it
    report = instance(code=LIST_AND_REPORT)
    assert report.returncode == 0, report.stderr
    assert report.stdout == listed.stdout
    assert "HEAVY []" in report.stderr, report.stderr.splitlines()[-1]

    with app.app_context():
        disable_plugin(crm, "listgood")
    app.extensions["crm"].engine.dispose()
    listed = instance("plugins", "list")
    assert states(listed.stdout)["listgood"][1] == "disabled"
    assert listed.stdout == app_listing(fresh_database, folder)


def test_list_of_an_instance_not_initialised_and_other_urls(instance, fresh_database, tmp_path):
    folder = tmp_path / "instance"
    # no table yet: nothing enabled, as the app reads it
    listed = instance("plugins", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == app_listing(fresh_database, folder)
    assert states(listed.stdout)["listgood"][1] == "disabled"

    # a URL with driver options is read through SQLAlchemy: the same answer
    option = "timeout=20" if fresh_database.startswith("sqlite") else "connect_timeout=20"
    other = f"{fresh_database}?{option}"
    assert instance("plugins", "list", database=other).stdout == listed.stdout


def test_list_with_the_database_down_is_one_clear_line(instance):
    result = instance("plugins", "list", database="postgresql://nobody@127.0.0.1:1/crm")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: database error: ") and "Connection refused" in lines[-1]
    assert "has `crm init` been run" in lines[-1] and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_web_modules_load_when_the_pages_are_set_up():
    """Importing one module of ``crmcore.web`` (``i18n``, which custom fields use) loads the
    package, not every page module and through them the API and the models."""
    code = (
        "import sys\n"
        "import crmcore.web.i18n\n"
        "pages = ('crmcore.web.views', 'crmcore.web.account', 'crmcore.api', 'crmcore.app')\n"
        "print(sorted(m for m in pages if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_help_of_every_built_in_command_imports_no_database_or_api_code():
    """``crm NAME [SUB] --help`` of the core's commands loads neither SQLAlchemy nor the models,
    marshmallow or the API: the modules they need are imported when they run."""
    code = (
        "import sys\n"
        "import click\n"
        "from crmcore.cli import COMMANDS, _import, cli\n"
        f"heavy = {HEAVY!r}\n"
        "def check(path):\n"
        "    code = cli.main([*path, '--help'], prog_name='crm', standalone_mode=False)\n"
        "    loaded = sorted(m for m in heavy if m in sys.modules)\n"
        "    print('CHECKED', ' '.join(path), code, loaded)\n"
        "for name in COMMANDS:\n"
        "    check([name])\n"
        "    command = _import(COMMANDS[name][0])\n"
        "    if isinstance(command, click.Group):\n"
        "        for sub in command.list_commands(click.Context(command)):\n"
        "            check([name, sub])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    ).stdout
    report = [line for line in out.splitlines() if line.startswith("CHECKED ")]
    assert len(report) > len(("init", "plugins list", "users create", "db upgrade")), out
    assert all(line.endswith(" 0 []") for line in report), report
