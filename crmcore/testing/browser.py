"""Helpers for browser tests of crmcore and its plugins: a real instance served by `crm serve`
and Debian's Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .ports import free_port as free_port

CHROMIUM = os.environ.get("CRM_CHROMIUM", "/usr/bin/chromium")
#: Chromium features the tests turn off. Chromium reads only the last ``--disable-features`` of
#: its command line, and Playwright passes one of its own before the caller's: so the list
#: starts with Playwright's (1.65; ``tests/test_browser_kit.py`` fails when a newer one turns
#: off a feature this list does not) and adds the address bar's pop-up pages, which headless
#: Chromium keeps loaded in two renderers of their own that work on while the page under test
#: is idle: about a tenth of a core for as long as the browser is open, a sixth of the
#: browser's CPU time in a story.
DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "TcpPortRandomizationWin",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
    "msForceBrowserSignIn",
    "msEdgeUpdateLaunchServicesPreferredVersion",
    "WebUIOmniboxPopup",
    "WebUIOmniboxAimPopup",
)
#: Headless, and no background connections: the test machines have no network.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-features=" + ",".join(DISABLED_FEATURES),
]
CRM = str(Path(sys.executable).with_name("crm"))
#: the password of the users :func:`served_instance` makes, unless told another
PASSWORD = "Browser-test-password-1"  # noqa: S105 - test users only

#: The widths a browser story runs at, for ``@pytest.fixture(params=WIDTHS)`` or
#: ``parametrize``: a desktop and a phone. The phone run checks layout, which does not depend on
#: the database, so a suite on PostgreSQL runs the story at 1280 px only (``crm_sqlite_only``).
WIDTHS = (
    pytest.param(1280, id="1280px"),
    pytest.param(375, id="375px", marks=pytest.mark.crm_sqlite_only),
)


def run_crm(env: dict[str, str], *args: str) -> None:
    """Run a `crm` command with the environment ``env`` (see :func:`instance_env`); raises
    ``RuntimeError`` with its output when it fails.

    The command runs in the test's process, through Click's runner with ``env`` in place of
    ``os.environ`` for the call: the same code as the `crm` executable, without starting a new
    Python (about two seconds of CPU each) for every command that prepares an instance. Commands
    run one after the other with the same ``CRM_*`` settings share the app the first of them
    loaded, as commands in one long-running `crm` process would: building it costs about a
    second of CPU (the API's blueprints and OpenAPI document). ``init`` loads its own.

    ``init`` of a new instance (an empty or missing folder, and no ``CRM_DATABASE_URL`` or one
    naming an empty PostgreSQL database) copies the instance the process's first such ``init``
    made with the same other ``CRM_*`` settings, and gives it a secret key of its own: the same
    files, and on PostgreSQL the database made again with ``CREATE DATABASE ... TEMPLATE``,
    without migrating again (about two seconds of CPU).
    """
    if args == ("init",) and _copy_initialised(env):
        return
    _invoke(env, args)


def _invoke(env: dict[str, str], args: tuple[str, ...]) -> None:
    """:func:`run_crm` without the copy of an initialised instance."""
    import gc

    from click.testing import CliRunner

    from ..cli import cli, new_script_info

    changes: dict[str, str | None] = {k: v for k, v in env.items() if os.environ.get(k) != v}
    changes.update({k: None for k in os.environ if k not in env})
    key = tuple(sorted((k, v) for k, v in env.items() if k.startswith("CRM_")))
    if args[:1] == ("init",) or (_shared_app and _shared_app[0][0] != key):
        _forget_app()  # init migrates: the commands after it load the migrated instance
    # the ScriptInfo the `crm` executable makes, holding the app already loaded, if any
    info = new_script_info()
    if _shared_app:
        info._loaded_app = _shared_app[0][1]
    saved = dict(os.environ)
    try:
        result = CliRunner().invoke(cli, list(args), env=changes, prog_name="crm", obj=info)
    finally:  # as it was: Flask's command line sets FLASK_RUN_FROM_CLI, for one
        for key_name in set(os.environ) - set(saved):
            del os.environ[key_name]
        os.environ.update(saved)
    if not _shared_app and info._loaded_app is not None and args[:1] != ("init",):
        _shared_app.append((key, info._loaded_app))
    gc.collect()  # what the command made and no longer holds
    if result.exit_code != 0:
        error = result.exception
        failed = error is not None and not isinstance(error, SystemExit)
        detail = "".join(traceback.format_exception(error)) if failed and error else ""
        raise RuntimeError(
            f"crm {' '.join(args)} exited with {result.exit_code}: {result.output}{detail}"
        )


#: instances that `crm init` made, one per set of ``CRM_*`` settings besides the folder, the
#: base URL and the database, and per PostgreSQL server, for :func:`_copy_initialised` (removed
#: when the process ends): the folder, and the template database on PostgreSQL
_initialised: dict[tuple[Any, ...], tuple[Path, str | None]] = {}


def _copy_initialised(env: dict[str, str]) -> bool:
    """Make the new instance ``env`` names a copy of an initialised one; False when it is not
    a new instance on SQLite or on an empty PostgreSQL database (``crm init`` must run then)."""
    folder = Path(env.get("CRM_INSTANCE_PATH", ""))
    if not env.get("CRM_INSTANCE_PATH"):
        return False
    if folder.exists() and any(folder.iterdir()):
        return False
    url = env.get("CRM_DATABASE_URL")
    server = _empty_postgresql_server(url) if url else None
    if url and server is None:
        return False
    own = ("CRM_INSTANCE_PATH", "CRM_BASE_URL", "CRM_DATABASE_URL")
    key = (
        *sorted((k, v) for k, v in env.items() if k.startswith("CRM_") and k not in own),
        server,
    )
    if key not in _initialised:
        import atexit
        import tempfile

        made = Path(tempfile.mkdtemp(prefix="crm-initialised-"))
        atexit.register(shutil.rmtree, made, ignore_errors=True)
        template = _new_template_database(server) if server else None
        made_env = {**env, "CRM_INSTANCE_PATH": str(made / "instance")}
        if template:
            made_env["CRM_DATABASE_URL"] = template
        _invoke(made_env, ("init",))
        _initialised[key] = (made / "instance", template)
    source, template = _initialised[key]
    if server and template and url:
        _copy_database(server, template, url)
    shutil.copytree(source, folder, dirs_exist_ok=True)
    secret = folder / "secret_key"
    if secret.exists():  # copied with its mode (600)
        secret.write_text(secrets.token_urlsafe(48) + "\n")
    return True


def _empty_postgresql_server(url: str) -> str | None:
    """The server part of ``url`` when it names a PostgreSQL database without tables, else
    ``None``."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return None
    engine = create_engine(parsed.set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            if inspect(conn).get_table_names():
                return None
    except OperationalError:  # no such database or server: `crm init` says so
        return None
    finally:
        engine.dispose()
    return parsed.set(database="postgres").render_as_string(hide_password=False)


@contextmanager
def _admin(server: str) -> Iterator[Any]:
    """An autocommit connection to ``server`` (for ``CREATE``/``DROP DATABASE``), closed
    with its engine after the block."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    url = make_url(server).set(drivername="postgresql+psycopg")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _new_template_database(server: str) -> str:
    """A new, empty database on ``server``, dropped when the process ends: its URL."""
    import atexit

    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    name = f"crmtemplate_{os.getpid()}_{secrets.token_hex(4)}"
    with _admin(server) as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with _admin(server) as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    atexit.register(drop)
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def _copy_database(server: str, template: str, url: str) -> None:
    """Make the (empty) database ``url`` names again, on ``server``, as a copy of
    ``template``."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    source, target = make_url(template).database, make_url(url).database
    with _admin(server) as conn:
        # nobody may be connected to a template: the app of its `crm init` may still be
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": source},
        )
        conn.execute(text(f'DROP DATABASE "{target}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target}" TEMPLATE "{source}"'))


#: the app that :func:`run_crm`'s last commands loaded, and the ``CRM_*`` settings it was built
#: under: one at a time, so no instance's app and database connections outlive its commands
_shared_app: list[tuple[tuple[tuple[str, str], ...], Any]] = []


def _forget_app() -> None:
    """Let go of the app :func:`run_crm` shares and close its database connections."""
    while _shared_app:
        _key, app = _shared_app.pop()
        app.extensions["crm"].engine.dispose()


def instance_env(instance_path: Path, port: int, database_url: str | None) -> dict[str, str]:
    """The environment of a throw-away instance (SQLite in the folder unless a URL is given)."""
    env = {
        **os.environ,
        "CRM_INSTANCE_PATH": str(instance_path),
        "CRM_BASE_URL": f"http://127.0.0.1:{port}",
    }
    env.pop("CRM_DATABASE_URL", None)
    if database_url:
        env["CRM_DATABASE_URL"] = database_url
    return env


@contextmanager
def serving(
    env: dict[str, str], port: int, timeout: float = 30, *, workers: int = 1, threads: int = 4
) -> Iterator[str]:
    """`crm serve` on ``port`` until the block ends; yields its base URL once it answers."""
    base = f"http://127.0.0.1:{port}"
    command = [CRM, "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers), "--threads", str(threads)]
    log_path = Path(env["CRM_INSTANCE_PATH"]) / "serve.log"
    _server_logs[base] = log_path
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(base + "/login", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError(f"crm serve did not start: {_tail(log_path)}") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)  # workers finish their requests and jobs first
        except subprocess.TimeoutExpired:  # a request still hanging: do not wait for it
            process.kill()
            process.wait(timeout=10)
        _server_logs.pop(base, None)


@dataclass
class Served:
    """An instance served by :func:`served_instance`."""

    #: its base URL, ``http://127.0.0.1:<port>``
    base: str
    #: the environment its ``crm`` commands run with (for :func:`run_crm`)
    env: dict[str, str]
    #: a personal API token of each user made, by e-mail address
    tokens: dict[str, str]


@contextmanager
def served_instance(
    folder: Path,
    database_url: str | None,
    *,
    plugins: Sequence[str] = (),
    users: Mapping[str, str] | None = None,
    password: str = PASSWORD,
    settings: Mapping[str, Any] | None = None,
) -> Iterator[Served]:
    """A new instance in ``folder`` for a browser story: ``crm init``, ``plugins`` enabled,
    ``users`` (e-mail address -> role) made with ``password``, instance ``settings`` saved
    through the API by the first user, served by ``crm serve`` until the block ends::

        @pytest.fixture(scope="module")
        def server(tmp_path_factory, instance_database):
            with served_instance(tmp_path_factory.mktemp("story"), instance_database,
                                 plugins=["claims"], users={"ana@example.com": "admin"}) as s:
                yield s
    """
    port = free_port()
    env = instance_env(folder, port, database_url)
    env.pop("CRM_REDIS_URL", None)  # the instance's own job storage, never a shared Redis
    run_crm(env, "init")
    for plugin in plugins:
        run_crm(env, "plugins", "enable", plugin)
    for email, role in (users or {}).items():
        run_crm(env, "users", "create", email, "--password", password, "--role", role)
    with serving(env, port) as base:
        tokens = {
            email: api(base, "POST", "/api/v1/auth/token", {"email": email, "password": password})[
                "token"
            ]
            for email in users or {}
        }
        if settings:
            api(base, "PATCH", "/api/v1/settings", dict(settings), next(iter(tokens.values())))
        yield Served(base, env, tokens)


#: where each served instance logs (base URL -> file), to show its errors when a call fails
_server_logs: dict[str, Path] = {}


def _tail(path: Path | None, size: int = 4000) -> str:
    if path is None or not path.exists():
        return ""
    return path.read_bytes()[-size:].decode("utf-8", "replace")


def api(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    """A JSON call to a served instance's API."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        answer = exc.read().decode("utf-8", "replace")[:2000]
        raise AssertionError(
            f"{method} {path} answered {exc.code}: {answer}\n"
            f"server log:\n{_tail(_server_logs.get(base))}"
        ) from None


@contextmanager
def chromium() -> Iterator[Any]:
    """A Playwright browser on Debian's Chromium (``apt-get install chromium``)."""
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium (scripts/test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def watched_page(
    browser: Any, base: str, width: int = 1280, height: int = 800, **options: Any
) -> Iterator[Any]:
    """A page of a new browser context at ``width`` px that fails the block on page errors.

    The block fails when the page logged a script error or a Content-Security-Policy
    violation (answers with an error status, such as a form's 422, are expected and not
    counted). Dialogs (``confirm()``) are accepted. ``options`` go to Playwright's
    ``new_context`` (``is_mobile=True``, ``locale="es"``...).
    """
    context = browser.new_context(
        base_url=base, viewport={"width": width, "height": height}, **options
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()
    assert not [p for p in problems if not p.startswith("Failed to load resource")], problems


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    """Sign ``page`` in through the login form, as a person would."""
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


@contextmanager
def signed_in_page(
    browser: Any, base: str, email: str, password: str, width: int = 1280, height: int = 800
) -> Iterator[Any]:
    """A :func:`watched_page` at ``width`` px, signed in as ``email``."""
    with watched_page(browser, base, width, height) as page:
        sign_in(page, email, password)
        yield page


#: the elements sticking out on the right, to name them when a page scrolls sideways
WIDEST = """[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(-5).map(e => e.tagName + '#' + e.id + '.' + e.className + ' '
    + Math.round(e.getBoundingClientRect().right))"""


def assert_no_sideways_scroll(page: Any) -> None:
    """Fail when ``page`` scrolls sideways, naming the elements that stick out.

    Waits for the page's ``load`` event first: measured while a stylesheet is still loading
    (a busy machine), the layout is the unstyled one.
    """
    page.wait_for_load_state("load")
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if width[0] > width[1]:
        wide = page.evaluate(WIDEST)
        raise AssertionError(f"{page.url} scrolls sideways: {width[0]} > {width[1]} px: {wide}")
