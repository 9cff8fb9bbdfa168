"""Throughput under concurrency (issue 19, goal 6): ``BENCH_CLIENTS`` clients (8) for
``BENCH_SECONDS`` (30) against ``crm serve`` on loopback, each asking for the API contact list
at 25 rows over a keep-alive connection. Goal: 500 req/s on 2 cores.

The baseline, measured in the same run under the same gunicorn settings: ``bare_server.py``, a
minimal Flask app reading the same 25 rows with raw SQL and ``json.dumps``. Both run with the
server's defaults (2 workers x 4 threads) unless ``BENCH_WORKERS`` / ``BENCH_THREADS`` say
otherwise, the access log off. On the shared instance (SQLite), and with
``BENCH_DATABASE_URL`` also on PostgreSQL (a throw-away database of ``BENCH_PG_CONTACTS``
contacts, 20,000 by default, dropped at the end).

The machine is shared, so beside the requests per second (wall time) each server's CPU time
per request is measured (user + system time of the gunicorn master and workers, from
``/proc``; on PostgreSQL also the backends serving its connections, found in
``pg_stat_activity``): ``2 / CPU per request`` is what the server and its database would answer
with two cores of their own, and the ratio of CPU per request to the bare app's is the figure
other processes' load does not move. The load generator is lean (``http.client`` threads on
kept-alive connections) and its own CPU time is printed too. The loops are bounded in time
and stop by themselves.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import build_instance, percentiles, size

LIST_URL = "/api/v1/contacts?limit=25"
BARE_URL = "/contacts"
GOAL = 500.0
HERE = Path(__file__).resolve().parent


@dataclass
class Result:
    """One server measured under load."""

    requests: int
    seconds: float
    p50: float  # ms
    p95: float  # ms
    errors: int
    server_cpu: float  # s, every process of the server
    client_cpu: float  # s, the load generator
    load: float  # load average (1 min) at the start
    db_cpu: float = 0.0  # s, PostgreSQL's backends serving the server's connections

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_ms(self) -> float:
        """Server CPU time per request (ms)."""
        return 1000 * self.server_cpu / max(self.requests, 1)

    @property
    def db_ms(self) -> float:
        """PostgreSQL's CPU time per request (ms); 0 on SQLite, which runs in the server."""
        return 1000 * self.db_cpu / max(self.requests, 1)

    def capacity(self, cores: int) -> float:
        """Requests per second with ``cores`` cores to itself and its database (from CPU time
        per request)."""
        return cores * 1000 / max(self.cpu_ms + self.db_ms, 1e-9)

    def line(self, name: str) -> str:
        client_ms = 1000 * self.client_cpu / max(self.requests, 1)
        return (
            f"{name:<34} {self.rate:7.0f} req/s  p50 {self.p50:6.1f} ms  p95 {self.p95:6.1f} ms  "
            f"CPU {self.cpu_ms:5.2f} ms/req (PostgreSQL {self.db_ms:.2f}, client {client_ms:.2f})  "
            f"{self.errors} errors  "
            f"load {self.load:.1f}"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def group_cpu(pgid: int) -> float:
    """User + system seconds of every live process in the process group ``pgid``."""
    return _cpu(lambda fields: int(fields[2]) == pgid)  # fields[0]: the 3rd field, the state


def pids_cpu(pids: set[int]) -> float:
    """User + system seconds of the live processes ``pids``."""
    return _cpu(None, pids)


def _cpu(match: Callable[[list[str]], bool] | None, pids: set[int] | None = None) -> float:
    ticks = 0
    names = [str(p) for p in pids] if pids is not None else os.listdir("/proc")
    for name in names:
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if match is None or match(fields):
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def backends(server: str, dbname: str) -> Callable[[], set[int]]:
    """The process ids of PostgreSQL's backends connected to ``dbname`` (same machine)."""

    def find() -> set[int]:
        import psycopg

        with psycopg.connect(server, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            ).fetchall()
        return {int(row[0]) for row in rows}

    return find


def server_options(workers: int, threads: int) -> list[str]:
    return ["--workers", str(workers), "--threads", str(threads)]


def crm_command(port: int, workers: int, threads: int) -> list[str]:
    crm_bin = Path(sys.executable).with_name("crm")
    return [
        str(crm_bin), "serve", "--port", str(port), *server_options(workers, threads),
        "--access-log", os.devnull,
    ]  # fmt: skip


def bare_command(port: int, workers: int, threads: int) -> list[str]:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return [
        str(gunicorn), "--bind", f"127.0.0.1:{port}", *server_options(workers, threads),
        "--chdir", str(HERE), "bare_server:app",
    ]  # fmt: skip


def measure(
    command: list[str],
    port: int,
    env: dict[str, str],
    url: str,
    headers: dict[str, str],
    clients: int,
    seconds: float,
    cores: str | None = None,
    db_pids: Callable[[], set[int]] | None = None,
) -> Result:
    """Start a server, load it for ``seconds`` after a 2-second warm-up, stop it."""
    if cores:
        command = ["taskset", "-c", cores, *command]
    server = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for(port, url, headers, server)
        load(port, url, headers, clients, 2.0)  # warm-up: every worker and thread started
        pids = db_pids() if db_pids else set()
        cpu0, db0 = group_cpu(server.pid), pids_cpu(pids)
        result = load(port, url, headers, clients, seconds)
        result.server_cpu = group_cpu(server.pid) - cpu0
        if db_pids:  # a connection opened during the run counts whole
            result.db_cpu = pids_cpu(pids | db_pids()) - db0
        return result
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _wait_for(port: int, url: str, headers: dict[str, str], server: Any) -> None:
    deadline = time.monotonic() + 180  # start-up of every plugin on a loaded machine
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", url, headers=headers)
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
            raise SystemExit(f"the server answered {status} to {url}")
        except OSError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"the server exited ({server.returncode}): {server.args}")
        if time.monotonic() > deadline:
            raise SystemExit("the server did not answer within 180 s")
        time.sleep(0.5)


def load(port: int, url: str, headers: dict[str, str], clients: int, seconds: float) -> Result:
    """``clients`` threads asking for ``url`` on kept-alive connections for ``seconds``."""
    samples: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                conn.request("GET", url, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    bad += 1
            except OSError:
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            mine.append(time.perf_counter() - start)
        conn.close()
        with lock:
            samples.extend(mine)
            errors[0] += bad

    load_avg = os.getloadavg()[0]
    threads = [threading.Thread(target=client) for _ in range(clients)]
    began, cpu0 = time.monotonic(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, client_cpu = time.monotonic() - began, time.process_time() - cpu0
    p50, p95 = percentiles(samples) if samples else (0.0, 0.0)
    return Result(len(samples), elapsed, p50, p95, errors[0], 0.0, client_cpu, load_avg)


def compare(
    label: str,
    env: dict[str, str],
    bare_url: str,
    token: str,
    workers: int,
    threads: int,
    clients: int,
    seconds: float,
    db_pids: Callable[[], set[int]] | None = None,
) -> tuple[Result, Result]:
    """The bare app, then ``crm serve``, on the same data with the same settings."""
    bare = measure(
        bare_command(port := free_port(), workers, threads),
        port,
        {**env, "BARE_DATABASE_URL": bare_url},
        BARE_URL,
        {},
        clients,
        seconds,
        db_pids=db_pids,
    )
    crm = measure(
        crm_command(port := free_port(), workers, threads),
        port,
        env,
        LIST_URL,
        {"Authorization": f"Bearer {token}"},
        clients,
        seconds,
        db_pids=db_pids,
    )
    print(bare.line(f"{label}: bare Flask + raw SQL"))
    print(crm.line(f"{label}: crm serve, API list"))
    wall = "PASS" if crm.rate >= GOAL else "MISS"
    by_cpu = "PASS" if crm.capacity(2) >= GOAL else "MISS"
    print(
        f"{label}: {crm.rate:.0f} req/s, {crm.rate / max(bare.rate, 1e-9):.2f} of the bare app "
        f"({bare.rate:.0f} req/s); {wall} (goal >= {GOAL:.0f} req/s, load {crm.load:.1f})"
    )
    print(
        f"{label}: by CPU time {crm.cpu_ms + crm.db_ms:.2f} ms a request (database included), "
        f"bare {bare.cpu_ms + bare.db_ms:.2f} ms: ratio "
        f"{(bare.cpu_ms + bare.db_ms) / max(crm.cpu_ms + crm.db_ms, 1e-9):.2f} of the bare app; "
        f"with 2 cores of its own "
        f"{crm.capacity(2):.0f} req/s (bare {bare.capacity(2):.0f}): {by_cpu} "
        f"(goal >= {GOAL:.0f} req/s)"
    )
    return bare, crm


def issue_bench_token(app: Any) -> str:
    with app.app_context():
        from crmcore.api.auth import issue_token
        from crmcore.users.models import User

        crm = app.extensions["crm"]
        admin = crm.session.get(User, app.config["BENCH_ADMIN_ID"])
        token, _ = issue_token(crm.session, admin, "bench", 10)
        crm.session.commit()
    return token


def sqlite_setup() -> tuple[dict[str, str], str, str]:
    """The shared instance: environment for ``crm serve``, the bare app's URL, a token."""
    app, path = build_instance(size())
    env = {**os.environ, "CRM_INSTANCE_PATH": str(path), "CRM_SECRET_KEY": "bench-" + "x" * 40}
    env.pop("CRM_DATABASE_URL", None)
    return env, f"sqlite:///{path / 'crm.db'}", issue_bench_token(app)


def postgres_setup(server: str) -> tuple[dict[str, str], str, str, str]:
    """A throw-away PostgreSQL database filled like the shared instance."""
    from sqlalchemy import create_engine, text

    dbname = f"crm_bench_tp_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{dbname}"'))
    admin.dispose()
    url = server.rsplit("/", 1)[0] + "/" + dbname
    path = Path(tempfile.mkdtemp(prefix="crm-bench-pg-"))
    saved = {k: os.environ.pop(k, None) for k in ("BENCH_INSTANCE", "CRM_DATABASE_URL")}
    os.environ["CRM_DATABASE_URL"] = url
    try:
        app, _ = build_instance(int(os.environ.get("BENCH_PG_CONTACTS", "20000")), path)
        with app.app_context():
            crm = app.extensions["crm"]
            crm.session.execute(text("ANALYZE"))
            crm.session.commit()
        token = issue_bench_token(app)
        app.extensions["crm"].engine.dispose()
    finally:
        os.environ.pop("CRM_DATABASE_URL", None)
        for key, value in saved.items():
            if value is not None:
                os.environ[key] = value
    env = {
        **os.environ,
        "CRM_INSTANCE_PATH": str(path),
        "CRM_SECRET_KEY": "bench-" + "x" * 40,
        "CRM_DATABASE_URL": url,
    }
    return env, url, token, dbname


def drop_database(server: str, dbname: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    clients = int(os.environ.get("BENCH_CLIENTS", "8"))
    seconds = float(os.environ.get("BENCH_SECONDS", "30"))
    workers = int(os.environ.get("BENCH_WORKERS", "2"))
    threads = int(os.environ.get("BENCH_THREADS", "4"))
    print(
        f"{clients} clients x {seconds:.0f} s, API list at 25 rows, {workers} workers x "
        f"{threads} threads, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} at the start"
    )
    env, bare_url, token = sqlite_setup()
    compare("SQLite", env, bare_url, token, workers, threads, clients, seconds)
    server = os.environ.get("BENCH_DATABASE_URL")
    if server:
        env, bare_url, token, dbname = postgres_setup(server)
        try:
            compare(
                "PostgreSQL",
                env,
                bare_url,
                token,
                workers,
                threads,
                clients,
                seconds,
                backends(server, dbname),
            )
        finally:
            drop_database(server, dbname)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
