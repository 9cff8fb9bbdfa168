"""The ``crm`` command: help everywhere, idempotent init, users and tokens, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from flask.cli import ScriptInfo

from crmcore.cli import cli as crm_cli
from crmcore.testing.plugin import PASSWORD, ApiClient

CRM = str(Path(sys.executable).with_name("crm"))


def command_paths(app: Any) -> list[tuple[str, ...]]:
    """Every command and subcommand of ``crm`` (plugin commands included)."""
    out: list[tuple[str, ...]] = []

    def walk(group: click.Group, ctx: click.Context, path: tuple[str, ...]) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None, name
            out.append((*path, name))
            if isinstance(command, click.Group):
                walk(command, click.Context(command, parent=ctx, info_name=name), (*path, name))

    root = click.Context(crm_cli, info_name="crm", obj=ScriptInfo(create_app=lambda: app))
    walk(crm_cli, root, ())
    return out


def test_every_command_answers_help(app, cli):
    paths = command_paths(app)
    for expected in [
        ("init",),
        ("serve",),
        ("demo",),
        ("db", "upgrade"),
        ("db", "current"),
        ("plugins", "list"),
        ("plugins", "info"),
        ("plugins", "enable"),
        ("plugins", "disable"),
        ("users", "create"),
        ("users", "list"),
        ("users", "set-role"),
        ("users", "set-password"),
        ("tokens", "create"),
        ("run",),
        ("shell",),
        ("routes",),
        ("everyhook-hello",),
    ]:
        assert expected in paths
    for path in [(), *paths]:
        result = cli(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


# -- users and tokens (against the test app, rolled back) -------------------------------------


def test_users_create_list_set_role_set_password(cli, app):
    result = cli(
        "users",
        "create",
        "Pat@Example.com",
        "--password",
        PASSWORD,
        "--role",
        "sales_rep",
        "--name",
        "Pat",
    )
    assert result.exit_code == 0, result.output
    assert "created user pat@example.com" in result.output
    result = cli(
        "users",
        "create",
        "kim@example.com",
        "--password-stdin",
        "--role",
        "manager",
        input="Another-long-password-1\n",
    )
    assert result.exit_code == 0, result.output

    output = cli("users", "list").output
    listed = {line.split()[1]: line.split()[2:] for line in output.splitlines()}
    assert listed["pat@example.com"] == ["sales_rep", "active"]
    assert listed["kim@example.com"] == ["manager", "active"]

    assert cli("users", "set-role", "pat@example.com", "admin").exit_code == 0
    listed = {line.split()[1]: line.split()[2] for line in cli("users", "list").output.splitlines()}
    assert listed["pat@example.com"] == "admin"

    client = app.test_client()

    def login(password: str) -> int:
        return client.post(
            "/api/v1/auth/token", json={"email": "pat@example.com", "password": password}
        ).status_code

    assert login(PASSWORD) == 200
    result = cli(
        "users",
        "set-password",
        "pat@example.com",
        "--password-stdin",
        input="Brand-new-password-42\n",
    )
    assert result.exit_code == 0, result.output
    assert login(PASSWORD) == 401
    assert login("Brand-new-password-42") == 200


def test_tokens_create_prints_a_working_token(cli, app, make_user):
    user = make_user("sales_rep", email="tok@example.com")
    result = cli("tokens", "create", "tok@example.com", "--name", "laptop", "--days", "1")
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert "\n" not in token and len(token) >= 20
    api = ApiClient(app.test_client(), token)
    r = api.get("/api/v1/contacts")
    assert r.status_code == 200
    assert ApiClient(app.test_client(), token + "x").get("/api/v1/contacts").status_code == 401
    me = api.get(f"/api/v1/users/{user.id}")
    assert me.status_code == 200 and me.get_json()["email"] == "tok@example.com"


def test_db_current_and_upgrade(cli):
    result = cli("db", "current")
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.output.splitlines())
    assert lines["core"].strip().endswith("up to date")
    assert "no migrations" in lines["widgets"]  # a plugin shipping no migrations
    result = cli("db", "upgrade")
    assert result.exit_code == 0 and result.output.splitlines()[0] == "core: up to date"
    assert cli("db", "current").output == "\n".join(f"{k}:{v}" for k, v in lines.items()) + "\n"


ERRORS = {
    "unknown role": (
        ("users", "create", "u1@example.com", "--password", PASSWORD, "--role", "wizard"),
        "no role called 'wizard'",
    ),
    "unknown role on set-role": (
        ("users", "set-role", "admin-cli@example.com", "wizard"),
        "no role called 'wizard'",
    ),
    "unknown user": (
        ("users", "set-role", "ghost@example.com", "admin"),
        "no user with e-mail ghost@example.com",
    ),
    "unknown user token": (("tokens", "create", "ghost@example.com"), "ghost@example.com"),
    "unknown plugin": (("plugins", "enable", "nosuch"), "'nosuch'"),
    "duplicate user": (
        ("users", "create", "admin-cli@example.com", "--password", PASSWORD),
        "already exists",
    ),
    "short password": (("users", "create", "u2@example.com", "--password", "short"), "password"),
    "short password on set-password": (
        ("users", "set-password", "admin-cli@example.com", "--password", "tiny"),
        "password",
    ),
    "no password": (("users", "create", "u3@example.com"), "--password"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_are_one_line(case, cli, make_user):
    make_user("admin", email="admin-cli@example.com")
    args, text = ERRORS[case]
    result = cli(*args)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error:") and text in lines[-1], result.output
    assert "Traceback" not in result.output
    if case != "no password":  # a usage error also prints the usage line
        assert len(lines) == 1, result.output


# -- a real instance, in a subprocess ----------------------------------------------------------


def crm(
    instance: Path, database: str, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "FLASK_"))}
    env.update(CRM_INSTANCE_PATH=str(instance), CRM_DATABASE_URL=database)
    return subprocess.run(
        [CRM, *args], env=env, capture_output=True, text=True, input=input, timeout=120, check=False
    )


def test_init_is_idempotent_and_demo_prints_the_login(tmp_path, fresh_database):
    instance = tmp_path / "instance"
    first = crm(instance, fresh_database, "init")
    assert first.returncode == 0, first.stderr
    assert f"instance ready at {instance}" in first.stdout
    secret = (instance / "secret_key").read_bytes() if (instance / "secret_key").exists() else None
    current = crm(instance, fresh_database, "db", "current")
    again = crm(instance, fresh_database, "init")
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert crm(instance, fresh_database, "db", "current").stdout == current.stdout
    if secret is not None:
        assert (instance / "secret_key").read_bytes() == secret
    roles = crm(
        instance,
        fresh_database,
        "users",
        "create",
        "a@example.com",
        "--password-stdin",
        "--role",
        "admin",
        input=PASSWORD + "\n",
    )
    assert roles.returncode == 0, roles.stderr

    demo = crm(instance, fresh_database, "init", "--demo")
    assert demo.returncode == 0, demo.stderr
    login = [line for line in demo.stdout.splitlines() if line.startswith("admin login:")]
    assert len(login) == 1 and "admin@example.com / " in login[0]
    password = login[0].split(" / ")[1].split()[0]
    assert len(password) >= 12
    again = crm(instance, fresh_database, "init", "--demo")
    assert again.returncode == 0 and "demo data created" not in again.stdout
    assert login[0] in again.stdout  # the same login is shown again
    users = crm(instance, fresh_database, "users", "list").stdout
    assert users.count("admin@example.com") == 1 and "rep1@example.com" in users


def test_non_initialised_instance_is_a_clear_error(tmp_path, fresh_database):
    for args in (
        ("users", "list"),
        ("users", "create", "x@example.com", "--password", PASSWORD),
        ("demo",),
        ("tokens", "create", "x@example.com"),
    ):
        result = crm(tmp_path / "instance", fresh_database, *args)
        assert result.returncode != 0, args
        assert "Traceback" not in result.stderr, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:"), (args, result.stderr)
        assert "crm init" in lines[0]


def test_commands_of_a_disabled_plugin_do_not_run(cli):
    refused = cli("support", "check-sla")
    assert refused.exit_code == 1
    assert "plugin 'support' is not enabled on this instance" in refused.output
    assert cli("support", "--help").exit_code == 0  # help is always there


@pytest.mark.crm_plugins("support")
def test_commands_of_an_enabled_plugin_run(cli):
    result = cli("support", "check-sla")
    assert result.exit_code == 0, result.output


def test_help_imports_no_flask_database_or_api_code():
    """``crm --help`` lists every command without importing Flask, SQLAlchemy, marshmallow or
    the API: built-in and Flask's commands from their recorded help, plugin groups lazily
    (bench/startup.py times it)."""
    import subprocess
    import sys

    code = (
        "import sys; sys.argv = ['crm', '--help']\n"
        "from crmcore.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('flask', 'werkzeug', 'jinja2', 'sqlalchemy', 'marshmallow',"
        " 'flask_smorest', 'crmcore.api') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    for command in ("marketing", "support", "automation", "insights", "serve", "run", "routes"):
        assert f"\n  {command} " in out, command
    assert "HEAVY []" in out, out.splitlines()[-1]


@pytest.mark.crm_sqlite_only  # its instance is named by the env file alone: SQLite on every run
def test_flask_s_commands_and_options_from_the_executable(tmp_path):
    """What ``FlaskGroup`` gave ``crm`` still works where Flask is imported only to run:
    ``shell`` and ``routes`` on the instance's app, ``--env-file`` and ``--debug``; ``--app``
    is accepted and, as with FlaskGroup given ``create_app``, changes nothing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "FLASK_"))}
    instance = tmp_path / "from-env-file"
    (tmp_path / "crm.env").write_text(f"CRM_INSTANCE_PATH={instance}\n")

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CRM, *args], env=env, cwd=tmp_path, capture_output=True, text=True, input=input,
            timeout=120, check=False,
        )  # fmt: skip

    shell = run(
        "--debug",
        "--env-file",
        "crm.env",
        "shell",
        input="print('APP', app.debug, app.instance_path)\n",
    )
    assert shell.returncode == 0, shell.stderr
    assert f"APP True {instance}" in shell.stdout + shell.stderr
    quiet = run("--no-debug", "-e", "crm.env", "shell", input="print('APP', app.debug)\n")
    assert "APP False" in quiet.stdout + quiet.stderr
    routes = run("-e", "crm.env", "routes")
    assert routes.returncode == 0, routes.stderr
    assert "/api/v1/contacts" in routes.stdout and "/login" in routes.stdout
    missing = run("--env-file", "nowhere.env", "routes")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    app_option = run("--app", "os:path", "-e", "crm.env", "routes")  # as FlaskGroup: the CRM's
    assert app_option.returncode == 0 and "/api/v1/contacts" in app_option.stdout


def test_recorded_help_of_built_in_commands_is_current():
    from crmcore.cli import COMMANDS, _import

    for name, (target, short) in COMMANDS.items():
        assert _import(target).get_short_help_str(200) == short, name


def test_serve_honours_gunicorn_configuration(app, tmp_path, monkeypatch):
    """crmcore's defaults < a gunicorn config file < GUNICORN_CMD_ARGS < crm serve's options."""
    from crmcore.server import CRMServer, effective_settings

    monkeypatch.delenv("GUNICORN_CMD_ARGS", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./gunicorn.conf.py here

    def settings(options=None, config=None, env_args=None):
        if env_args is None:
            monkeypatch.delenv("GUNICORN_CMD_ARGS", raising=False)
        else:
            monkeypatch.setenv("GUNICORN_CMD_ARGS", env_args)
        server = CRMServer(app, "127.0.0.1:5000", options or {}, config)
        return effective_settings(server)

    assert settings() == {
        "bind": ["127.0.0.1:5000"],
        "workers": 2,
        "threads": 4,
        "timeout": 30,
        "keepalive": 2,
        "max_requests": 0,
        "max_requests_jitter": 0,
        "accesslog": "-",
    }
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text('workers = 3\ntimeout = 90\nbind = "127.0.0.1:9999"\naccesslog = None\n')
    from_file = settings(config=str(conf))
    assert (from_file["workers"], from_file["timeout"]) == (3, 90)
    assert from_file["bind"] == ["127.0.0.1:9999"] and from_file["accesslog"] is None
    assert settings()["workers"] == 3  # ./gunicorn.conf.py is found as gunicorn finds it
    env_wins = settings(config=str(conf), env_args="--workers 5 --keep-alive 7")
    assert (env_wins["workers"], env_wins["keepalive"], env_wins["timeout"]) == (5, 7, 90)
    log = str(tmp_path / "access.log")
    options_win = settings(
        {
            "workers": 6,
            "bind": "127.0.0.1:5005",
            "max_requests": 1000,
            "max_requests_jitter": 50,
            "accesslog": log,
        },
        config=str(conf),
        env_args="--workers 5",
    )
    assert options_win["workers"] == 6 and options_win["bind"] == ["127.0.0.1:5005"]
    assert (options_win["max_requests"], options_win["max_requests_jitter"]) == (1000, 50)
    assert options_win["accesslog"] == log


def test_serve_hooks_run_after_the_configurations_own(app, tmp_path, monkeypatch):
    from crmcore.server import CRMServer

    monkeypatch.delenv("GUNICORN_CMD_ARGS", raising=False)
    monkeypatch.chdir(tmp_path)
    calls = []
    conf = tmp_path / "hooks.conf.py"
    conf.write_text(
        "import builtins\ndef post_worker_init(worker):\n    builtins.CRM_CALLS.append('theirs')\n"
    )
    import builtins

    monkeypatch.setattr(builtins, "CRM_CALLS", calls, raising=False)
    server = CRMServer(
        app, "127.0.0.1:5000", {}, str(conf), {"post_worker_init": lambda w: calls.append("ours")}
    )
    server.cfg.settings["post_worker_init"].get()(object())
    assert calls == ["theirs", "ours"]


def test_serve_refuses_bad_server_options():
    from click.testing import CliRunner

    result = CliRunner().invoke(crm_cli, ["serve", "--workers", "0", "--print-config"])
    assert result.exit_code == 2 and "--workers" in result.output
