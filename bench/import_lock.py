"""What an import's batch size costs the other writers of a SQLite instance.

An import holds SQLite's write lock for each batch's whole transaction (it begins
``IMMEDIATE``, as every write does); a user saving a record meanwhile waits (up to the busy
timeout, 10 s). For each batch size, the importer (``import_file``, what ``crm import``
runs) loads the realistic CSV of ``bench/importing.py`` while another process writes one row
every 0.2 s, each in its own ``BEGIN IMMEDIATE`` transaction, as a web request's save does:
the import's CPU time, and how long those writes waited (p50, p95, max; and any that gave
up). The baseline is the same writer with no import running, measured in the same run.

    BENCH_CONTACTS=300000 python bench/import_lock.py
    BENCH_BATCHES=2000,5000,20000 python bench/import_lock.py

The figures are the admin guide's table of batch sizes (docs/admin-guide/deployment.md).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from common import percentiles, size
from importing import crm_import, make_instance, write_csv

from crmcore.db import SQLITE_BUSY_TIMEOUT_MS
from crmcore.importing.engine import DEFAULT_BATCH

#: the other writer: one row per transaction every 0.2 s, its wait (or ERR) on a line each
WRITER = """
import sqlite3, sys, time
db, out, timeout = sys.argv[1], open(sys.argv[2], "w", buffering=1), float(sys.argv[3])
conn = sqlite3.connect(db, isolation_level=None, timeout=timeout)
while True:
    start = time.perf_counter()
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bench_probe (at) VALUES (?)", (time.time(),))
        conn.execute("COMMIT")
        out.write(f"{time.perf_counter() - start:.4f}\\n")
    except sqlite3.OperationalError:  # the busy timeout ran out
        out.write("ERR\\n")
    time.sleep(0.2)
"""


def waits(db: Path, log: Path, during: Callable[[], Any]) -> tuple[list[float], int, Any]:
    """Run ``during()`` with the writer beside it; its waits, failures, and the result."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), str(log), str(SQLITE_BUSY_TIMEOUT_MS / 1000)]
    )
    try:
        time.sleep(0.5)  # the writer's connection is open
        result = during()
    finally:
        writer.kill()
        writer.wait()
    lines = log.read_text().split()
    return [float(x) for x in lines if x != "ERR"], lines.count("ERR"), result


def summary(values: list[float], failed: int) -> str:
    if not values:
        return f"no write got through, {failed} gave up"
    p50, p95 = percentiles(values)
    return (
        f"{len(values)} writes, wait p50 {p50:,.0f} ms, p95 {p95:,.0f} ms, "
        f"max {max(values) * 1000:,.0f} ms, {failed} gave up"
    )


def main() -> None:
    if os.environ.get("BENCH_DATABASE_URL"):
        sys.exit("SQLite only: on PostgreSQL a writer waits for the rows it changes, not the file")
    count = size()
    sizes = os.environ.get("BENCH_BATCHES", f"{DEFAULT_BATCH},20000")
    work = Path(tempfile.mkdtemp(prefix="crm-bench-lock-"))
    instances: list[Path] = []
    try:
        csv_path = work / "contacts.csv"
        expected = len(write_csv(csv_path, count))
        db, app = _instance(instances)
        idle, idle_failed, _ = waits(db, work / "idle.txt", lambda: time.sleep(3))
        print(f"baseline, no import: the other writer: {summary(idle, idle_failed)}")
        for batch in (int(b) for b in sizes.split(",")):
            db, app = _instance(instances)
            values, failed, (seconds, cpu, result) = waits(
                db, work / f"{batch}.txt", partial(crm_import, app, csv_path, batch)
            )
            assert result.created == expected, (result.created, expected)
            print(
                f"batch {batch:,}: import of {count:,} rows in {seconds:.1f} s ({cpu:.1f} CPU s, "
                f"{count / cpu:,.0f} file rows per CPU-second); the other writer: "
                f"{summary(values, failed)}"
            )
    finally:
        for path in [work, *instances]:
            shutil.rmtree(path, ignore_errors=True)


def _instance(made: list[Path]) -> tuple[Path, Any]:
    """A new instance (each import starts from an empty one) with the other writer's table."""
    app, path, _ = make_instance()
    made.append(path)
    with sqlite3.connect(path / "crm.db") as conn:
        conn.execute("CREATE TABLE bench_probe (id INTEGER PRIMARY KEY, at REAL)")
    return path / "crm.db", app


if __name__ == "__main__":
    main()
