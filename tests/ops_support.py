"""Helpers for the jobs, mail and backup tests: real file-based instances, a real SMTP peer.

The ``app`` fixture rolls its database back through one connection, which other processes and
threads cannot see; consumers, workers and backups therefore get an instance of their own
here, on a SQLite file or on a dedicated PostgreSQL database when ``--crm-db`` names a server.
Job functions used by the tests live here too, importable by worker subprocesses
(``PYTHONPATH`` includes ``tests/``).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crmcore.testing import empty_database
from crmcore.testing.smtp import (  # noqa: F401 - used by the core tests
    Authenticator,
    Inbox,
    free_port,
    start_smtp,
    wait_for,
)

TESTS = Path(__file__).parent
CRM = str(Path(sys.executable).with_name("crm"))


# job functions (called as function(app, *args)) -------------------------------------------------


def write_marker(app, path, value="ran"):
    """Write ``value`` and the app's instance path into ``path``."""
    from flask import current_app

    assert current_app._get_current_object() is app
    Path(path).write_text(f"{value}\n{app.extensions['crm'].settings.instance_path}")
    return value


def slow_once(app, path, seconds):
    """Append "start" to ``path``; the first run then sleeps ``seconds``; append "done"."""
    import time

    path = Path(path)
    first = not path.exists()
    with path.open("a") as fh:
        fh.write("start\n")
    if first:
        time.sleep(seconds)
    with path.open("a") as fh:
        fh.write("done\n")
    return "done"


def fail_times(app, counter, times, done):
    """Fail the first ``times`` calls (counted in the file ``counter``), then write ``done``."""
    counter = Path(counter)
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    if n < times:
        raise RuntimeError(f"failure {n + 1}")
    Path(done).write_text("done")




# instances --------------------------------------------------------------------------------------


@dataclass
class Instance:
    """A CRM instance folder with its own database, and its app."""

    path: Path
    database_url: str
    app: Any
    queue: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def crm(self) -> Any:
        return self.app.extensions["crm"]

    def run(
        self, *args: str, timeout: float = 60, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``crm ARGS`` in a subprocess against this instance."""
        result = subprocess.run(
            [CRM, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"crm {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [CRM, *args], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )


def _create_pg_database(base_url: str) -> tuple[str, Any]:
    stack = ExitStack()
    return stack.enter_context(empty_database(base_url)), stack.close


@pytest.fixture
def make_instance(request, tmp_path):
    """``make_instance(name="a", redis_url=None, smtp_url=None, init=True)``: a new instance."""
    cleanups = []
    db_option = request.config.getoption("--crm-db")

    def make(name="inst", redis_url=None, smtp_url=None, init=True):
        from crmcore.app import create_app
        from crmcore.instance import init_instance

        path = tmp_path / name
        path.mkdir()
        if db_option and not db_option.startswith("sqlite"):
            url, drop = _create_pg_database(db_option)
            cleanups.append(drop)
        else:
            url = f"sqlite:///{path / 'crm.db'}"
        queue = f"crmtest-{secrets.token_hex(4)}"
        lines = [
            f'database_url = "{url}"',
            f'secret_key = "{secrets.token_hex(24)}"',
            f'job_queue = "{queue}"',
        ]
        if redis_url:
            lines.append(f'redis_url = "{redis_url}"')
        if smtp_url:
            lines.append(f'smtp_url = "{smtp_url}"')
        (path / "crm.toml").write_text("\n".join(lines) + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
        env.update(
            CRM_INSTANCE_PATH=str(path),
            PYTHONPATH=os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]),
        )
        app = create_app(path)
        instance = Instance(path, url, app, queue, env)
        if init:
            with app.app_context():
                init_instance(instance.crm)

        def close() -> None:
            crm = instance.crm
            if "jobs" in crm.__dict__:
                if crm.jobs.storage == "redis":
                    crm.jobs.huey.flush()
                crm.jobs.close()
            crm.engine.dispose()

        cleanups.insert(0, close)
        return instance

    yield make
    for cleanup in cleanups:
        cleanup()


def stop_process(proc: subprocess.Popen[str], sig: int | None = None) -> str:
    """Stop a subprocess gracefully (SIGTERM), return its output."""
    import signal

    if proc.poll() is None:
        proc.send_signal(sig or signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


# SMTP peer --------------------------------------------------------------------------------------


@dataclass
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> Any:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificate(folder: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, made with openssl."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return Certificate(cert, key)
