"""Start-up: `crm --help`, `crm plugins list` and creating an app with every installed plugin,
each a new process, timed in wall and CPU time (user + system of the child).

Baseline in the same run: `python -c pass` (the interpreter alone), interleaved with the
commands so that a change in the machine's load touches them alike. Goals (issue 19, goal 4):
`crm --help` under 0.25 s and `crm plugins list` under 0.5 s of CPU (wall time is printed too;
on a shared machine it mostly measures the other processes).

`crm plugins list` runs against an instance of its own with the first-party plugins enabled:
a SQLite file, and with BENCH_DATABASE_URL also a new database on that PostgreSQL server
(dropped afterwards).

    python bench/startup.py
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:54329/postgres python bench/startup.py
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
REPEAT = int(os.environ.get("BENCH_STARTUP_REPEAT", "7"))
#: the first-party plugins enabled on the instance `crm plugins list` reads
ENABLED = ("sales", "marketing", "support", "kb", "automation", "insights")
SECRET = "bench-" + "x" * 40


def run_once(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds of wall and CPU time (user + system of the child) of one run of ``cmd``."""
    import time

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def make_instance(database_url: str | None) -> tuple[Path, str]:
    """An initialised instance with ``ENABLED`` enabled; returns its folder and database URL."""
    from crmcore.app import create_app
    from crmcore.instance import enable_plugin, init_instance

    path = Path(tempfile.mkdtemp(prefix="crm-bench-startup-"))
    config: dict[str, Any] = {"secret_key": SECRET}
    if database_url:
        config["database_url"] = database_url
    app = create_app(path, config=config)
    crm = app.extensions["crm"]
    with app.app_context():
        init_instance(crm)
        for plugin in crm.plugins:  # load order: requirements first
            if plugin.name in ENABLED:
                enable_plugin(crm, plugin.name)
    url = str(crm.engine.url.render_as_string(hide_password=False))
    crm.engine.dispose()
    return path, url


def new_postgres_database(server: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    name = f"crm_bench_startup_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, server.rsplit("/", 1)[0] + "/" + name


def drop_postgres_database(server: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    print("load average at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "FLASK_"))}
    instances: list[tuple[str, Path, str]] = []
    server = os.environ.get("BENCH_DATABASE_URL")
    pg_name = None
    try:
        path, url = make_instance(None)
        instances.append(("SQLite", path, url))
        if server:
            pg_name, pg_url = new_postgres_database(server)
            path, url = make_instance(pg_url)
            instances.append(("PostgreSQL", path, url))
        measure(instances, base_env)
    finally:
        for _label, folder, _url in instances:
            shutil.rmtree(folder, ignore_errors=True)
        if server and pg_name:
            drop_postgres_database(server, pg_name)


def measure(instances: list[tuple[str, Path, str]], base_env: dict[str, str]) -> None:
    crm = str(BIN / "crm")
    code = (
        "import tempfile; from crmcore.app import create_app; "
        f"create_app(tempfile.mkdtemp(), config={{'secret_key': {SECRET!r}}})"
    )
    cases: dict[str, tuple[list[str], dict[str, str]]] = {
        "python -c pass (baseline)": ([sys.executable, "-c", "pass"], base_env),
        "crm --help": ([crm, "--help"], base_env),
        "crm --version": ([crm, "--version"], base_env),
        "crm plugins --help": ([crm, "plugins", "--help"], base_env),
    }
    for label, path, url in instances:
        env = {
            **base_env,
            "CRM_INSTANCE_PATH": str(path),
            "CRM_DATABASE_URL": url,
            "CRM_SECRET_KEY": SECRET,
        }
        listed = subprocess.run(
            [crm, "plugins", "list"], env=env, capture_output=True, text=True, check=True
        ).stdout
        enabled = sum(" enabled " in line for line in listed.splitlines())
        cases[f"crm plugins list ({label}, {enabled} enabled)"] = ([crm, "plugins", "list"], env)
    cases["create_app with all plugins"] = ([sys.executable, "-c", code], base_env)

    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for cmd, env in cases.values():  # warm the file cache
        run_once(cmd, env)
    for _ in range(REPEAT):  # interleaved: each round runs every case once
        for name, (cmd, env) in cases.items():
            samples[name].append(run_once(cmd, env))

    wall = {name: statistics.median(w for w, _c in runs) for name, runs in samples.items()}
    cpu = {name: statistics.median(c for _w, c in runs) for name, runs in samples.items()}
    base = "python -c pass (baseline)"
    print(f"median of {REPEAT} interleaved runs; wall / CPU (user + system) of the process")
    for name in cases:
        print(
            f"{name:<42} {wall[name] * 1000:7.0f} ms wall ({wall[name] / wall[base]:5.1f}x) "
            f"{cpu[name] * 1000:7.0f} ms CPU ({cpu[name] / cpu[base]:5.1f}x)"
        )
    goals = [("crm --help", 0.25)] + [(n, 0.5) for n in cases if n.startswith("crm plugins list")]
    for name, limit in goals:
        print(
            f"goal: {name} under {limit} s CPU: {cpu[name]:.2f} s -> {verdict(cpu[name] < limit)}"
            f" (wall {wall[name]:.2f} s -> {verdict(wall[name] < limit)})"
        )
    print("load average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
