"""Import speed: a contacts CSV through the importer vs raw ``sqlite3.executemany``.

Both sides start from an empty, migrated instance (same tables, same indexes) and load the
same rows. The baseline writes only ``core_contact`` with one ``executemany`` per 500 rows
and a commit per batch, as the importer commits per batch; the importer also validates every
row, checks permissions, writes an audit row, a search document (and its FTS entry), the
row's fingerprint, and fires the event hooks. Run: BENCH_CONTACTS=1000000 python bench/importing.py
"""

from __future__ import annotations

import csv
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from common import contact_rows, size

COLUMNS = ("first_name", "last_name", "email", "phone", "city", "country", "tags")
BATCH = 500


def write_csv(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["First name", "Last name", "E-mail", "Phone", "City", "Country", "Tags"])
        for row in contact_rows(count, [1]):
            writer.writerow([*(row[c] for c in COLUMNS[:-1]), ";".join(row["tags"])])


def empty_instance() -> tuple[Any, Path]:
    from crmcore.app import create_app
    from crmcore.instance import init_instance

    path = Path(tempfile.mkdtemp(prefix="crm-bench-import-"))
    app = create_app(path, config={"secret_key": "bench-" + "x" * 40})
    with app.app_context():
        init_instance(app.extensions["crm"])
    return app, path


def raw_executemany(db: Path, csv_path: Path) -> float:
    """Seconds to insert the CSV's rows into core_contact with sqlite3 alone."""
    import datetime as dt
    import json

    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    sql = (
        "INSERT INTO core_contact (first_name, last_name, email, phone, city, country, tags, "
        "custom_fields, emails, phones, addresses, email_opt_out, created_at, updated_at, "
        "version) VALUES (?,?,?,?,?,?,?,'{}','[]','[]','[]',0,?,?,1)"
    )
    start = time.perf_counter()
    with csv_path.open(encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        next(reader)
        batch: list[tuple[Any, ...]] = []
        for cells in reader:
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(" ")
            tags = json.dumps([t for t in cells[6].split(";") if t])
            batch.append((*cells[:6], tags, now, now))
            if len(batch) == BATCH:
                conn.execute("BEGIN")
                conn.executemany(sql, batch)
                conn.execute("COMMIT")
                batch = []
        if batch:
            conn.execute("BEGIN")
            conn.executemany(sql, batch)
            conn.execute("COMMIT")
    seconds = time.perf_counter() - start
    conn.close()
    return seconds


def crm_import(app: Any, csv_path: Path) -> tuple[float, Any]:
    from crmcore.importing import ImportOptions, import_file
    from crmcore.permissions import Access

    with app.app_context():
        crm = app.extensions["crm"]
        start = time.perf_counter()
        result = import_file(
            crm, Access.system(), csv_path, ImportOptions(entity="contacts", batch_size=BATCH)
        )
        return time.perf_counter() - start, result


def main() -> None:
    count = size()
    work = Path(tempfile.mkdtemp(prefix="crm-bench-csv-"))
    csv_path = work / "contacts.csv"
    write_csv(csv_path, count)
    app, path = empty_instance()
    baseline_db = work / "baseline.db"
    with sqlite3.connect(path / "crm.db") as source, sqlite3.connect(baseline_db) as target:
        source.backup(target)  # the WAL file may still hold the tables
    raw = raw_executemany(baseline_db, csv_path)
    seconds, result = crm_import(app, csv_path)
    assert result.created == count, (result.created, result.rejected, result.report_path)
    raw_rate, rate = count / raw, count / seconds
    print(f"import of {count:,} contacts from CSV ({csv_path.stat().st_size / 1e6:.0f} MB)")
    print(f"  raw sqlite3.executemany:  {raw_rate:10,.0f} rows/s ({raw:.1f} s)")
    print(f"  crm import (engine):      {rate:10,.0f} rows/s ({seconds:.1f} s)")
    print(f"  ratio {rate / raw_rate:.3f} (goal >= 0.25)")
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
