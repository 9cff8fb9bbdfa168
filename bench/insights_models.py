"""Prediction speed: the deal win model trained on 100,000 closed deals, goal under 2 minutes.

The deals (won and lost, with a signal in the amount and in the calls logged on them) and the
calls are written straight into the tables (not measured). Measured: ``train`` as the nightly
job runs it (the closed deals and their activity counts read, the model fitted with a holdout
evaluation, the version stored), wall and CPU time. Baseline in the same run: reading the same
rows with bare SQL (deal amount, contact, company, won or not, and the calls per deal).
Run: python bench/insights_models.py (BENCH_MODEL_DEALS overrides 100,000;
BENCH_DATABASE_URL=postgresql://... for PostgreSQL: an empty database it may fill.)
"""

from __future__ import annotations

import datetime as dt
import os
import random
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

GOAL_SECONDS = 120


def build(count: int) -> Any:
    from crm_sales.models import Deal, Pipeline, Stage
    from sqlalchemy import insert, select, text

    from crmcore.app import create_app
    from crmcore.instance import create_user, enable_plugin, init_instance

    path = Path(tempfile.mkdtemp(prefix="crm-bench-models-"))
    config: dict[str, Any] = {"secret_key": "bench-" + "x" * 40}
    if os.environ.get("BENCH_DATABASE_URL"):
        config["database_url"] = os.environ["BENCH_DATABASE_URL"]
    app = create_app(path, config=config)
    with app.app_context():
        crm = app.extensions["crm"]
        init_instance(crm)
        enable_plugin(crm, "sales")
        enable_plugin(crm, "insights")
        crm.forget_enabled()
        owner = create_user(crm, "rep@example.com", "Bench-password-1", "sales_rep").id
        pipeline = crm.session.scalar(select(Pipeline))
        stages = list(crm.session.scalars(select(Stage).where(Stage.pipeline_id == pipeline.id)))
        won = next(s for s in stages if s.is_won)
        lost = next(s for s in stages if s.is_lost)
        activity = crm.registry.get("activities").model
        rng = random.Random(5)
        now = dt.datetime.now(dt.UTC)
        common = {"created_at": now, "updated_at": now, "version": 1}
        deals: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        first = (crm.session.scalar(select(Deal.id).order_by(Deal.id.desc()).limit(1)) or 0) + 1
        for i in range(count):
            amount = rng.randint(100, 100_000)
            n_calls = rng.randint(0, 4)
            chance = 0.15 + 0.5 * (amount / 100_000) + 0.08 * n_calls
            stage = won if rng.random() < chance else lost
            deals.append(
                {"title": f"Deal {i}", "amount": Decimal(amount), "currency": "EUR",
                 "pipeline_id": pipeline.id, "stage_id": stage.id, "probability": 0,
                 "owner_id": owner, "custom_fields": {}, "tags": [], **common}
            )  # fmt: skip
            for _ in range(n_calls):
                calls.append(
                    {"record_type": "deal", "record_id": first + i, "kind": "call",
                     "subject": "Call", "occurred_at": now, "owner_id": owner,
                     "custom_fields": {}, "tags": [], **common}
                )  # fmt: skip
            if len(deals) == 20_000:
                crm.session.execute(insert(Deal), deals)
                deals = []
        if deals:
            crm.session.execute(insert(Deal), deals)
        for start in range(0, len(calls), 20_000):
            crm.session.execute(insert(activity), calls[start : start + 20_000])
        crm.session.commit()
        if crm.engine.dialect.name != "sqlite":
            crm.session.execute(text("ANALYZE"))
            crm.session.commit()
        return app


BARE = (
    "SELECT d.id, d.amount, d.contact_id, d.company_id, s.is_won, "
    "(SELECT count(*) FROM core_activity a WHERE a.record_type = 'deal' AND a.record_id = d.id "
    "AND a.kind = 'call' AND a.deleted_at IS NULL) "
    "FROM sales_deal d JOIN sales_stage s ON s.id = d.stage_id "
    "WHERE d.deleted_at IS NULL AND (s.is_won OR s.is_lost) ORDER BY d.id"
)


def main() -> None:
    count = int(os.environ.get("BENCH_MODEL_DEALS", "100000"))
    began = time.perf_counter()
    app = build(count)
    print(f"{count:,} closed deals built in {time.perf_counter() - began:.0f} s", flush=True)
    with app.app_context():
        from crm_insights.analysis.predict import train
        from sqlalchemy import text

        crm = app.extensions["crm"]
        session = crm.session
        dialect = crm.engine.dialect.name
        load = open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"
        print(f"{dialect}: load average {load}")
        started, cpu = time.perf_counter(), time.process_time()
        rows = session.execute(text(BARE)).all()
        base, base_cpu = time.perf_counter() - started, time.process_time() - cpu
        assert len(rows) == count, (len(rows), count)
        session.rollback()
        print(f"{dialect}: bare SQL read of the examples   {base:7.2f} s (CPU {base_cpu:.2f} s)")
        started, cpu = time.perf_counter(), time.process_time()
        model = train(crm, session)
        session.commit()
        took, took_cpu = time.perf_counter() - started, time.process_time() - cpu
        assert model is not None
        print(
            f"{dialect}: train on {count:,} deals  {took:7.2f} s (CPU {took_cpu:.2f} s)"
            f"  ratio {took / max(base, 1e-6):.1f}x, AUC {model.auc}"
        )
        verdict = "PASS" if took < GOAL_SECONDS else "MISS"
        print(
            f"{dialect}: goal: a model trains on {count:,} deals under {GOAL_SECONDS} s: {verdict}"
        )


if __name__ == "__main__":
    main()
