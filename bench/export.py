"""Export speed and memory: `crm export contacts FILE` of every contact, in a subprocess.

Prints rows/s and the peak RSS of the export process (resource.getrusage(RUSAGE_CHILDREN)),
goal < 250 MB; baseline in the same run: sqlite3 + csv.writer of the same table.
"""

from __future__ import annotations

import csv
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import build_instance, size

BIN = Path(sys.executable).parent


def main() -> None:
    count = size()
    _app, path = build_instance(count)
    out = Path(tempfile.mkdtemp(prefix="crm-bench-export-"))
    env = {**os.environ, "CRM_INSTANCE_PATH": str(path), "CRM_SECRET_KEY": "bench-" + "x" * 40}
    start = time.perf_counter()
    subprocess.run(
        [str(BIN / "crm"), "export", "contacts", str(out / "contacts.csv")],
        check=True,
        env=env,
        capture_output=True,
    )
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    start = time.perf_counter()
    db = sqlite3.connect(path / "crm.db")
    with (out / "raw.csv").open("w", newline="") as raw:
        writer = csv.writer(raw)
        for row in db.execute("SELECT * FROM core_contact WHERE deleted_at IS NULL ORDER BY id"):
            writer.writerow(row)
    raw_seconds = time.perf_counter() - start
    rows = sum(1 for _ in (out / "contacts.csv").open(encoding="utf-8-sig")) - 1
    print(
        f"export of {rows:,} contacts: {rows / seconds:,.0f} rows/s ({seconds:.1f} s), "
        f"peak RSS {peak_mb:.0f} MB (goal < 250 MB)"
    )
    print(
        f"  baseline sqlite3 + csv.writer: {count / raw_seconds:,.0f} rows/s; "
        f"ratio {raw_seconds / seconds:.2f}"
    )


if __name__ == "__main__":
    main()
