"""The duplicate scan over many messy contacts (goal: 1,000,000 in under 5 minutes).

Builds its own instance (``BENCH_CONTACTS`` contacts, default 1,000,000, at 20,000 companies)
where about one contact in ten has a duplicate: the same e-mail, its phone as another's mobile,
or the same last name at the same company with the first name in another case or shortened.
Then times ``crmcore.duplicates.scan.scan(crm, "contact")`` and checks the planted pairs were
found. Baseline in the same run: one plain pass reading the columns the scan compares for
every contact (what any scan has to read at least).

    BENCH_CONTACTS=200000 .venv/bin/python bench/duplicates.py
    CRM_DATABASE_URL=postgresql://... bench/duplicates.py   (an empty database)
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from common import FIRST, LAST, size

COMPANIES = 20_000


def messy_rows(count: int, companies: int, seed: int = 11) -> Any:
    """Contacts; every tenth repeats an earlier one in some way (counted in ``planted``)."""
    rnd = random.Random(seed)
    now = dt.datetime(2026, 1, 1)
    recent: list[dict[str, Any]] = []
    for i in range(count):
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        row: dict[str, Any] = {
            "first_name": first,
            "last_name": f"{last} {i}",  # unique unless planted
            "email": f"p{i}@example.com",
            "phone": f"+3491{i:07d}",
            "mobile": None,
            "company_id": rnd.randint(1, companies),
        }
        if recent and i % 10 == 0:
            twin = rnd.choice(recent)
            kind = (i // 10) % 3
            if kind == 0:
                row["email"] = twin["email"]
            elif kind == 1:
                row["phone"], row["mobile"] = None, twin["phone"]
            else:
                row["company_id"] = twin["company_id"]
                row["last_name"] = twin["last_name"].upper()
                row["first_name"] = twin["first_name"][:1]
        else:
            recent.append(row)
            recent = recent[-1000:]
        stamp = now + dt.timedelta(seconds=i)
        yield {
            **row,
            "tags": [],
            "custom_fields": {},
            "emails": [],
            "phones": [],
            "addresses": [],
            "email_opt_out": False,
            "created_at": stamp,
            "updated_at": stamp,
            "version": 1,
        }


def build(count: int) -> tuple[Any, Path]:
    from sqlalchemy import insert, text

    from crmcore.app import create_app
    from crmcore.contacts.models import Company, Contact
    from crmcore.instance import init_instance

    path = Path(tempfile.mkdtemp(prefix="crm-bench-dups-"))
    app = create_app(path, config={"secret_key": "bench-" + "x" * 40})
    with app.app_context():
        crm = app.extensions["crm"]
        init_instance(crm)
        conn = crm.session.connection()
        stamp = dt.datetime(2026, 1, 1)
        conn.execute(
            insert(Company),
            [
                {"name": f"Company {n}", "tags": [], "custom_fields": {}, "version": 1,
                 "created_at": stamp, "updated_at": stamp}
                for n in range(1, COMPANIES + 1)
            ],
        )  # fmt: skip
        batch: list[dict[str, Any]] = []
        for row in messy_rows(count, COMPANIES):
            batch.append(row)
            if len(batch) == 20_000:
                conn.execute(insert(Contact), batch)
                batch.clear()
        if batch:
            conn.execute(insert(Contact), batch)
        crm.session.commit()
        if crm.engine.dialect.name == "sqlite":
            crm.session.execute(text("ANALYZE"))
        else:
            crm.session.execute(text("ANALYZE core_contact"))
        crm.session.commit()
    return app, path


def main() -> None:
    count = size()
    started = time.perf_counter()
    app, path = build(count)
    print(f"{count:,} messy contacts built in {time.perf_counter() - started:.0f} s")
    from sqlalchemy import select

    from crmcore.contacts.models import Contact
    from crmcore.duplicates.scan import scan

    with app.app_context():
        crm = app.extensions["crm"]
        start = time.perf_counter()
        rows = 0
        for _row in crm.session.execute(
            select(
                Contact.id,
                Contact.email,
                Contact.phone,
                Contact.mobile,
                Contact.company_id,
                Contact.first_name,
                Contact.last_name,
            ).execution_options(yield_per=10_000)
        ):
            rows += 1
        baseline = time.perf_counter() - start
        crm.session.rollback()
        result = scan(crm, "contact")
    planted = count // 10 - 1
    print(
        f"duplicate scan of {count:,} contacts ({crm.engine.dialect.name}): "
        f"{result.seconds:.1f} s, {result.pairs:,} pairs (about {planted:,} planted; "
        f"goal: 1,000,000 in < 300 s)"
    )
    print(
        f"  baseline, one pass reading the compared columns of {rows:,} rows: "
        f"{baseline:.1f} s; scan/baseline {result.seconds / baseline:.1f}"
    )
    shutil.rmtree(path, ignore_errors=True)
    if result.pairs < planted:
        raise SystemExit(f"the scan missed planted pairs: {result.pairs} < {planted}")


if __name__ == "__main__":
    os.environ.setdefault("BENCH_CONTACTS", "1000000")
    main()
