"""Customer analysis speed: RFM scores over 1,000,000 sales orders, goal under 60 s.

Measured: the nightly computation (one aggregate query, quintile scoring, the score table
replaced in bulk) and, apart, copying the results to the contacts' fields through the record
service (the first run writes every customer; the next ones only those that changed), and
the cohort table for an administrator.

Baseline in the same run: the bare SQL of the same aggregate (first and last order date,
count and sum per contact) read with ``sqlite3``, which no computation can beat.
Run: python bench/insights_rfm.py (BENCH_RFM_ORDERS overrides 1,000,000 and
BENCH_RFM_CONTACTS 50,000; BENCH_RFM_FIELDS=0 leaves out the copy to the contacts' fields,
which takes half an hour on a loaded machine; SQLite instance of its own)
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


def main() -> None:
    orders = int(os.environ.get("BENCH_RFM_ORDERS", "1000000"))
    contacts = int(os.environ.get("BENCH_RFM_CONTACTS", "50000"))
    began = time.perf_counter()
    app, path = build(contacts, orders)
    built = time.perf_counter() - began
    print(f"{orders:,} orders of {contacts:,} contacts built in {built:.0f} s", flush=True)
    if os.path.exists("/proc/loadavg"):
        print(f"load average {open('/proc/loadavg').read().split()[0]}", flush=True)
    db = sqlite3.connect(path / "crm.db")
    started = time.perf_counter()
    customers = len(db.execute(BASELINE_SQL).fetchall())
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
        started = time.perf_counter()
        rows = compute(crm, session)
        session.commit()
        scored = time.perf_counter() - started
        assert len(rows) == customers, (len(rows), customers)
        print(f"{f'RFM scores of {len(rows):,} customers (stored)':<52} {scored:8.2f}")
        print(f"{'ratio to the baseline':<52} {scored / max(baseline, 1e-6):7.1f}x")
        verdict = "PASS" if scored < GOAL_SECONDS else "MISS"
        print(f"goal: RFM over {orders:,} orders under {GOAL_SECONDS} s: {verdict}", flush=True)
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
