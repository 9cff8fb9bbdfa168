"""Customer analysis speed: RFM scores over 1,000,000 sales orders, goal under 60 s.

Measured: the nightly computation (one aggregate query, quintile scoring, the score table
replaced in bulk) and, apart, copying the results to the contacts' fields through the record
service (the first run writes every customer; the next ones only those that changed), and
the cohort table for an administrator.

Baseline in the same run: the bare SQL of the same aggregate (first and last order date,
count and sum per contact) read with ``sqlite3`` (or through the same engine on PostgreSQL),
which no computation can beat.
Run: python bench/insights_rfm.py (BENCH_RFM_ORDERS overrides 1,000,000 and
BENCH_RFM_CONTACTS 50,000; BENCH_RFM_FIELDS=0 leaves out the copy to the contacts' fields,
which takes half an hour on a loaded machine; SQLite instance of its own, or with
BENCH_DATABASE_URL=postgresql://... an empty PostgreSQL database it may fill, the orders drawn
by the server because the client is slow)
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

GOAL_SECONDS = 60
BASELINE_SQL = (
    "SELECT contact_id, min(order_date), max(order_date), count(*), "
    "sum(CASE WHEN currency = 'EUR' THEN total ELSE 0 END) FROM sales_order "
    "WHERE deleted_at IS NULL AND contact_id IS NOT NULL AND order_date IS NOT NULL "
    "AND status IN ('confirmed', 'paid', 'shipped', 'delivered') GROUP BY contact_id"
)


def build(contacts: int, orders: int) -> tuple[Any, Path]:
    """An instance with ``contacts`` contacts, sales and insights enabled and ``orders``
    orders written straight into the table (not measured)."""
    os.environ.pop("BENCH_INSTANCE", None)  # our own instance, not the shared 1M one
    if os.environ.get("BENCH_DATABASE_URL"):
        return build_postgres(contacts, orders, os.environ["BENCH_DATABASE_URL"])
    from common import build_instance
    from sqlalchemy import insert

    path = Path(tempfile.mkdtemp(prefix="crm-bench-rfm-"))
    app, _ = build_instance(contacts, path)
    with app.app_context():
        from crmcore.instance import enable_plugin

        crm = app.extensions["crm"]
        enable_plugin(crm, "sales")
        enable_plugin(crm, "insights")
        crm.session.commit()
        crm.forget_enabled()
        model = crm.registry.get("orders").model
        reps = app.config["BENCH_REP_IDS"]
        rnd = random.Random(11)
        start = dt.date(2024, 1, 1)
        stamp = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        conn = crm.session.connection()
        batch: list[dict[str, Any]] = []
        for i in range(orders):
            total = Decimal(rnd.randint(1000, 200000)) / 100
            batch.append(
                {
                    "number": f"B{i:08d}",
                    "status": rnd.choice(("paid", "paid", "delivered", "shipped", "cancelled")),
                    "currency": "EUR" if rnd.random() < 0.95 else "USD",
                    "contact_id": 1 + int(rnd.paretovariate(1.2) * 7919 * (i % 97)) % contacts,
                    "order_date": start + dt.timedelta(days=rnd.randint(0, 1000)),
                    "lines": [],
                    "subtotal": total,
                    "tax_total": Decimal(0),
                    "total": total,
                    "owner_id": rnd.choice(reps),
                    "custom_fields": {},
                    "tags": [],
                    "created_at": stamp,
                    "updated_at": stamp,
                    "version": 1,
                }
            )
            if len(batch) == 20_000:
                conn.execute(insert(model), batch)
                batch.clear()
        if batch:
            conn.execute(insert(model), batch)
        crm.session.commit()
    return app, path


def build_postgres(contacts: int, orders: int, url: str) -> tuple[Any, Path]:
    """The same instance on the PostgreSQL database ``url``: the contacts sent by the client,
    the orders drawn by the server (same distributions as :func:`build`, PostgreSQL's
    ``random()`` instead of Python's)."""
    from common import contact_rows
    from sqlalchemy import func, insert, select, text

    from crmcore.app import create_app
    from crmcore.instance import create_user, enable_plugin, init_instance

    path = Path(tempfile.mkdtemp(prefix="crm-bench-rfm-"))
    app = create_app(path, config={"secret_key": "bench-" + "x" * 40, "database_url": url})
    with app.app_context():
        crm = app.extensions["crm"]
        init_instance(crm)
        enable_plugin(crm, "sales")
        enable_plugin(crm, "insights")
        crm.session.commit()
        crm.forget_enabled()
        create_user(crm, "admin@example.com", "Bench-password-1", "admin")
        reps = [
            create_user(crm, f"rep{i}@example.com", "Bench-password-1", "sales_rep").id
            for i in range(10)
        ]
        contact = crm.registry.get("contacts").model
        rows = list(contact_rows(contacts, reps))
        for start in range(0, len(rows), 10_000):
            crm.session.execute(insert(contact), rows[start : start + 10_000])
        first = crm.session.scalar(select(func.min(contact.id)))
        crm.session.execute(
            text(
                "INSERT INTO sales_order (number, status, currency, contact_id, order_date,"
                " lines, subtotal, tax_total, total, owner_id, custom_fields, tags,"
                " created_at, updated_at, version)"
                " SELECT 'B' || lpad(i::text, 8, '0'),"
                " (ARRAY['paid', 'paid', 'delivered', 'shipped', 'cancelled'])"
                "[1 + floor(random() * 5)::int],"
                " CASE WHEN random() < 0.95 THEN 'EUR' ELSE 'USD' END,"
                " :first + mod(floor(power(1 - random(), -1 / 1.2) * 7919 * (i % 97))::numeric,"
                " :contacts)::int,"
                " DATE '2024-01-01' + floor(random() * 1001)::int, '[]', t, 0, t,"
                " (:reps)[1 + floor(random() * cardinality(:reps))::int], '{}', '[]',"
                " :stamp, :stamp, 1"
                " FROM (SELECT i, (1000 + floor(random() * 199001)) / 100 AS t"
                " FROM generate_series(0, :orders - 1) AS i) AS g"
            ),
            {
                "first": first,
                "contacts": contacts,
                "reps": reps,
                "orders": orders,
                "stamp": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            },
        )
        crm.session.commit()
        crm.session.execute(text("ANALYZE"))
        crm.session.commit()
    return app, path


def baseline_rows(app: Any, path: Path) -> int:
    """The number of customers the bare SQL aggregate finds (the read is the baseline)."""
    if not os.environ.get("BENCH_DATABASE_URL"):
        return len(sqlite3.connect(path / "crm.db").execute(BASELINE_SQL).fetchall())
    from sqlalchemy import text

    with app.app_context():
        with app.extensions["crm"].engine.connect() as conn:
            return len(conn.execute(text(BASELINE_SQL)).all())


def main() -> None:
    orders = int(os.environ.get("BENCH_RFM_ORDERS", "1000000"))
    contacts = int(os.environ.get("BENCH_RFM_CONTACTS", "50000"))
    began = time.perf_counter()
    app, path = build(contacts, orders)
    built = time.perf_counter() - began
    engine = "PostgreSQL" if os.environ.get("BENCH_DATABASE_URL") else "SQLite"
    what = f"{orders:,} orders of {contacts:,} contacts"
    print(f"{engine}: {what} built in {built:.0f} s", flush=True)
    if os.path.exists("/proc/loadavg"):
        print(f"load average {open('/proc/loadavg').read().split()[0]}", flush=True)
    baseline_rows(app, path)  # warm-up: the same cache for the baseline and the computation
    started = time.perf_counter()
    customers = baseline_rows(app, path)
    baseline = time.perf_counter() - started
    print(f"{'step':<52} {'seconds':>8}")
    print(f"{'bare SQL aggregate (baseline)':<52} {baseline:8.2f}", flush=True)
    with app.app_context():
        from crm_insights import result_cache
        from crm_insights.analysis.cohort_cache import cached_cohorts, warm
        from crm_insights.analysis.cohorts import cohorts
        from crm_insights.analysis.rfm import compute, sync_fields

        crm = app.extensions["crm"]
        session = crm.session
        started, cpu = time.perf_counter(), time.process_time()
        rows = compute(crm, session)
        session.commit()
        scored, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert len(rows) == customers, (len(rows), customers)
        name = f"RFM scores of {len(rows):,} customers (stored)"
        print(f"{name:<52} {scored:8.2f}  CPU {cpu:.2f} (this process)")
        print(f"{'ratio to the baseline':<52} {scored / max(baseline, 1e-6):7.1f}x")
        verdict = "PASS" if scored < GOAL_SECONDS else "MISS"
        print(f"goal: RFM over {orders:,} orders under {GOAL_SECONDS} s: {verdict}", flush=True)
        if os.path.exists("/proc/loadavg"):
            print(f"load average {open('/proc/loadavg').read().split()[0]}", flush=True)
        started = time.perf_counter()
        table = cohorts(crm.records(), 12) or []
        took = time.perf_counter() - started
        name = f"cohort table ({len(table)} cohorts, administrator)"
        print(f"{name:<52} {took:8.2f}", flush=True)
        result_cache.clear(crm, session)
        session.commit()
        for view in ("first", "second"):
            started, cpu = time.perf_counter(), time.process_time()
            assert cached_cohorts(crm.records(), 12) == table
            took, cpu = time.perf_counter() - started, time.process_time() - cpu
            name = f"cohort page, {view} view (stored per scope)"
            print(f"{name:<52} {took:8.2f}  CPU {cpu:.2f}", flush=True)
        result_cache.clear(crm, session)
        session.commit()
        started, cpu = time.perf_counter(), time.process_time()
        warmed = warm(crm)
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        name = f"nightly warm-up job ({warmed} readers)"
        print(f"{name:<52} {took:8.2f}  CPU {cpu:.2f}", flush=True)
        started, cpu = time.perf_counter(), time.process_time()
        assert cached_cohorts(crm.records(), 12) == table
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        name = "cohort page, first view after the job"
        print(f"{name:<52} {took:8.2f}  CPU {cpu:.2f}", flush=True)
        if os.environ.get("BENCH_RFM_FIELDS", "1") == "0":
            return
        started = time.perf_counter()
        written = sync_fields(crm, session, [])
        took = time.perf_counter() - started
        print(f"{f'contact fields, first run ({written:,} written)':<52} {took:8.2f}", flush=True)
        started = time.perf_counter()
        again = sync_fields(crm, session, [])
        took = time.perf_counter() - started
        print(f"{f'contact fields, next run ({again:,} written)':<52} {took:8.2f}")


if __name__ == "__main__":
    main()
