"""Import speed: a realistic contacts CSV through the importer vs raw ``executemany``.

The CSV has what a firm moving in brings: company names (about one per 25 contacts, created
by the import), local phone numbers ("91 234 56 78", read in the instance's region, ES),
tags, a custom field ("Level", a choice), 5 % bad rows (an e-mail that is not one, a phone
that is not one, a level that is not a choice) and 3 % duplicates (an earlier row's e-mail
in other capitals).

Both sides load the same rows into the same ``core_contact`` table with the same indexes, in
the same instance: the baseline first (the companies, then the rows the import will create,
with their company ids, tags and custom field already in their stored form, as many rows per
transaction as the importer's batches, through the driver's ``executemany``), then the table
is emptied and the importer runs. The importer also validates every row, checks permissions
and references, writes an audit row, a search document, the row's fingerprint, and fires the
event hooks.

    BENCH_CONTACTS=20000 python bench/importing.py
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:54329/postgres python bench/importing.py

With ``BENCH_DATABASE_URL`` a throw-away database is created on that server (and dropped).
Prints PASS/MISS for the goals of issue 19: ratio >= 0.25 and >= 5,000 rows per CPU-second.

``BENCH_IMPORT_ONLY=1`` runs the import alone (no baseline, no goals): to compare two commits
by the instructions they execute, which a noisy machine does not change (docs/performance.md,
"Import, session 11"):

    BENCH_IMPORT_ONLY=1 BENCH_CONTACTS=10000 PYTHONHASHSEED=0 valgrind --tool=cachegrind \
        --cache-sim=no --cachegrind-out-file=/dev/null python bench/importing.py
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import random
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from common import CITIES, FIRST, LAST, TAGS, size

from crmcore.importing.engine import DEFAULT_BATCH

#: rows per transaction on both sides: the importer's default batch (``BENCH_BATCH`` tries another)
BATCH = int(os.environ.get("BENCH_BATCH", DEFAULT_BATCH))
LEVELS = ("gold", "silver", "bronze")
HEADER = ["First name", "Last name", "E-mail", "Phone", "City", "Company", "Tags", "Level"]
COMPANY_WORDS = ["Iberia", "Norte", "Sol", "Atlas", "Delta", "Faro", "Nova", "Prado"]
COMPANY_KINDS = ["Logística", "Consultores", "Software", "Seguros", "Ingeniería"]


def company_names(count: int) -> list[str]:
    names = [f"{w} {k}" for w in COMPANY_WORDS for k in COMPANY_KINDS]
    return [f"{names[i % len(names)]} {i // len(names) + 1}" for i in range(count)]


def write_csv(path: Path, count: int) -> list[dict[str, Any]]:
    """Write the file; return the rows the import is expected to create (the baseline's)."""
    from crmcore.search import normalise

    rnd = random.Random(7)
    companies = company_names(max(1, count // 25))
    good: list[dict[str, Any]] = []
    emails: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(count):
            first, last = rnd.choice(FIRST), rnd.choice(LAST)
            city, _country = rnd.choice(CITIES)
            email = f"{normalise(first)}.{normalise(last)}.{i}@example.com".replace(" ", "")
            area = f"9{rnd.randint(1, 8)} {rnd.randint(100, 999)}"
            phone = f"{area} {i % 100:02d} {i // 100 % 100:02d}"  # local: read in ES
            tags = rnd.sample(TAGS, k=rnd.randint(0, 2))
            level = rnd.choice(LEVELS)
            company = rnd.choice(companies)
            roll = rnd.random()
            if roll < 0.05:  # bad rows: refused with a reason, nothing written
                kind = i % 3
                if kind == 0:
                    email = email.replace("@", " at ")
                elif kind == 1:
                    phone = "call after five"
                else:
                    level = "platinum"
            elif roll < 0.08 and emails:  # a duplicate of an earlier row's e-mail
                email = rnd.choice(emails).upper()
            else:
                emails.append(email)
                good.append(
                    {
                        "first_name": first,
                        "last_name": last,
                        "email": email,
                        "phone": phone,
                        "city": city,
                        "company": company,
                        "tags": tags,
                        "level": level,
                    }
                )
            writer.writerow([first, last, email, phone, city, company, ";".join(tags), level])
    return good


def make_instance() -> tuple[Any, Path, str | None]:
    from crmcore.app import create_app
    from crmcore.customfields import CustomField
    from crmcore.instance import init_instance

    path = Path(tempfile.mkdtemp(prefix="crm-bench-import-"))
    config: dict[str, Any] = {"secret_key": "bench-" + "x" * 40, "default_region": "ES"}
    server = os.environ.get("BENCH_DATABASE_URL")
    dbname = None
    if server:
        from sqlalchemy import create_engine, text

        dbname = f"crm_bench_import_{os.getpid()}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{dbname}"'))
        admin.dispose()
        config["database_url"] = server.rsplit("/", 1)[0] + "/" + dbname
    app = create_app(path, config=config)
    with app.app_context():
        crm = app.extensions["crm"]
        init_instance(crm)
        crm.session.add(
            CustomField(
                entity="contacts", name="level", label="Level", type="choice", choices=list(LEVELS)
            )
        )
        crm.session.commit()
    return app, path, dbname


def drop_database(dbname: str | None) -> None:
    if dbname is None:
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(os.environ["BENCH_DATABASE_URL"], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
    admin.dispose()


def raw_executemany(
    app: Any, good: list[dict[str, Any]], bulk: bool = False
) -> tuple[float, float]:
    """Seconds (wall, CPU of this process) to insert the companies and the rows with the
    driver's executemany alone. ``bulk``: on SQLite, with the settings the importer gives its
    own batches (``crmcore.db.BULK_PRAGMAS``) and its one checkpoint at the end."""
    from crmcore.db import _apply_bulk  # the importer's own switch to BULK_PRAGMAS and back

    crm = app.extensions["crm"]
    names = sorted({r["company"] for r in good})
    conn = crm.engine.raw_connection()
    pg = crm.engine.dialect.name == "postgresql"
    mark = "%s" if pg else "?"
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    stamp: Any = now if pg else now.isoformat(" ")
    company_sql = (
        "INSERT INTO core_company (name, custom_fields, tags, created_at, updated_at, version) "
        f"VALUES ({mark}, '{{}}', '[]', {mark}, {mark}, 1)"
    )
    contact_sql = (
        "INSERT INTO core_contact (first_name, last_name, email, phone, city, company_id, tags, "
        "custom_fields, emails, phones, addresses, email_opt_out, created_at, updated_at, "
        f"version) VALUES ({', '.join([mark] * 8)}, '[]', '[]', '[]', false, {mark}, {mark}, 1)"
    )
    cpu = time.process_time()
    start = time.perf_counter()
    cursor = conn.cursor()
    bulk = bulk and not pg
    info: dict[str, Any] = {}
    if bulk:
        _apply_bulk(conn.dbapi_connection, info, True)
    begin = (lambda: None) if pg else (lambda: cursor.execute("BEGIN"))  # SQLite: autocommit
    begin()
    cursor.executemany(company_sql, [(n, stamp, stamp) for n in names])
    cursor.execute("SELECT name, id FROM core_company")
    ids = dict(cursor.fetchall())
    conn.commit()
    for offset in range(0, len(good), BATCH):
        begin()
        cursor.executemany(
            contact_sql,
            [
                (
                    r["first_name"],
                    r["last_name"],
                    r["email"],
                    "+34" + r["phone"].replace(" ", ""),
                    r["city"],
                    ids[r["company"]],
                    json.dumps(r["tags"]),
                    json.dumps({"level": r["level"]}),
                    stamp,
                    stamp,
                )
                for r in good[offset : offset + BATCH]
            ],
        )
        conn.commit()
    if bulk:
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if bulk:
        _apply_bulk(conn.dbapi_connection, info, False)
    begin()
    cursor.execute("DELETE FROM core_contact")
    cursor.execute("DELETE FROM core_company")
    conn.commit()
    conn.close()
    return seconds, cpu


def crm_import(app: Any, csv_path: Path, batch: int = BATCH) -> tuple[float, float, Any]:
    from crmcore.importing import ImportOptions, import_file
    from crmcore.permissions import Access

    with app.app_context():
        crm = app.extensions["crm"]
        cpu = time.process_time()
        start = time.perf_counter()
        result = import_file(
            crm, Access.system(), csv_path, ImportOptions(entity="contacts", batch_size=batch)
        )
        return time.perf_counter() - start, time.process_time() - cpu, result


def main() -> None:
    count = size()
    work = Path(tempfile.mkdtemp(prefix="crm-bench-csv-"))
    csv_path = work / "contacts.csv"
    good = write_csv(csv_path, count)
    app, path, dbname = make_instance()
    try:
        if os.environ.get("BENCH_IMPORT_ONLY"):
            seconds, cpu, result = crm_import(app, csv_path)
            assert result.created == len(good), (result.created, result.rejected)
            print(
                f"import of {count:,} CSV rows: {result.created:,} created in {seconds:.1f} s "
                f"({cpu:.2f} CPU s, {count / cpu:,.0f} file rows per CPU-second)"
            )
            return
        with app.app_context():
            backend = app.extensions["crm"].engine.dialect.name
            raw, raw_cpu = raw_executemany(app, good)
            tuned = raw_executemany(app, good, bulk=True) if backend == "sqlite" else None
        seconds, cpu, result = crm_import(app, csv_path)
        report(count, csv_path, good, backend, raw, raw_cpu, seconds, cpu, result)
        if tuned is not None:
            print(
                f"  for reference, executemany with the importer's SQLite settings: "
                f"{len(good) / tuned[0]:,.0f} rows/s ({tuned[0]:.1f} s, {tuned[1]:.2f} CPU s); "
                f"ratio by CPU time against it {tuned[1] / cpu:.3f}"
            )
    finally:
        drop_database(dbname)
        shutil.rmtree(work, ignore_errors=True)  # also when interrupted or a check fails
        shutil.rmtree(path, ignore_errors=True)


def report(
    count: int,
    csv_path: Path,
    good: list[dict[str, Any]],
    backend: str,
    raw: float,
    raw_cpu: float,
    seconds: float,
    cpu: float,
    result: Any,
) -> None:
    """Check the import's counts and print its figures beside the baseline's."""
    assert result.created == len(good), (result.created, result.rejected, result.report_path)
    expected_rejected = count - len(good) - result.skipped
    assert result.rejected == expected_rejected, (result.rejected, expected_rejected)
    raw_rate, rate = len(good) / raw, len(good) / seconds
    per_cpu = count / cpu
    ratio = rate / raw_rate
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"import of {count:,} CSV rows ({csv_path.stat().st_size / 1e6:.1f} MB) on {backend}: "
        f"{result.created:,} created, {result.companies_created:,} companies, "
        f"{result.rejected:,} rejected, {result.skipped:,} duplicates skipped"
    )
    print(f"  raw executemany:      {raw_rate:10,.0f} rows/s ({raw:.1f} s, {raw_cpu:.2f} CPU s)")
    print(f"  crm import (engine):  {rate:10,.0f} rows/s ({seconds:.1f} s, {cpu:.2f} CPU s)")
    print(f"  ratio {ratio:.3f}: {'PASS' if ratio >= 0.25 else 'MISS'} (goal >= 0.25, wall time)")
    if backend == "sqlite":  # both sides run in this process: CPU time is immune to the load
        cpu_ratio = raw_cpu / cpu
        print(
            f"  ratio by CPU time {cpu_ratio:.3f}: {'PASS' if cpu_ratio >= 0.25 else 'MISS'} "
            "(goal >= 0.25; the figure to trust on a loaded machine)"
        )
    print(
        f"  {per_cpu:,.0f} file rows per CPU-second of the importer's process: "
        f"{'PASS' if per_cpu >= 5000 else 'MISS'} (goal >= 5,000)"
    )
    print(f"  peak RSS {usage.ru_maxrss / 1024:.0f} MB")
    print("  load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
