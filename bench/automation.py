"""Workflow rules: the cost of 20 active rules on the write path, and a time-based rule's
selection of its due records.

Write path: ``RecordService.create`` of contacts with 20 active rules on contacts (conditions
that mostly do not match, three that do) against the same creates with the rules inactive,
measured in the same run, interleaved; prints creates/s and the ratio by wall time and by CPU
time of the process (goal >= 0.7, PASS/MISS), and the same with only the 17 rules no new
contact meets (the fixed cost of rules, without their runs).
Time-based rule: ``{"type": "date", "field": "created_at", "offset_days": 3}`` with the
condition ``country=ES`` over every contact: the SQL selection of the due ids (what the
periodic job runs: due, matching, no run yet) and the count of all due records; goal < 2 s at
1,000,000 contacts on SQLite (PASS/MISS; the figure is also printed for PostgreSQL).
Run: BENCH_AUTOMATION_CONTACTS=200000 python bench/automation.py (SQLite instance of its own);
with BENCH_DATABASE_URL=postgresql://... the instance is a throw-away database on that server.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

CREATES = int(os.environ.get("BENCH_AUTOMATION_CREATES", "300"))

#: 17 rules whose conditions a new contact from the bench's cities does not meet, 3 that it may
NOT_MATCHING = [
    "city=Lima",
    "country=PE",
    "tags=enterprise",
    "city=Tokyo&country=JP",
    "email__contains=@gov.example",
    "last_name=Zapata",
    "first_name=Zoe",
    "country=FR",
    "city=Paris",
    "tags=churned",
    "country=DE&city=Berlin",
    "title=Buyer",
    "email_opt_out=true",
    "city=Quito",
    "country=AR",
    "last_name=Nakamura",
    "tags=reseller",
]
MATCHING = ["country=ES&city=Madrid", "tags=vip", "city=Chicago"]


def server_database() -> str | None:
    """With ``BENCH_DATABASE_URL``: a new database on that server, its URL in
    ``CRM_DATABASE_URL`` (dropped by :func:`drop_database`)."""
    server = os.environ.get("BENCH_DATABASE_URL")
    if not server:
        return None
    from sqlalchemy import create_engine, make_url, text

    name = f"crm_bench_automation_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    os.environ["CRM_DATABASE_URL"] = url
    return name


def drop_database(name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(os.environ["BENCH_DATABASE_URL"], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def build(count: int) -> tuple[Any, Path]:
    os.environ.pop("BENCH_INSTANCE", None)  # our own instance, not the shared 1M one
    from common import build_instance

    path = Path(tempfile.mkdtemp(prefix="crm-bench-automation-"))
    app, _ = build_instance(count, path)
    with app.app_context():
        from sqlalchemy import text

        from crmcore.instance import enable_plugin

        crm = app.extensions["crm"]
        enable_plugin(crm, "automation")
        crm.session.commit()
        crm.forget_enabled()
        if crm.engine.dialect.name == "postgresql":
            crm.session.execute(text("ANALYZE"))
            crm.session.commit()
    return app, path


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def make_rules(crm: Any) -> list[Any]:
    records = crm.records()
    rules = []
    for number, conditions in enumerate(NOT_MATCHING + MATCHING):
        action: dict[str, Any] = (
            {"type": "add_tags", "tags": ["automated"]}
            if conditions in MATCHING
            else {"type": "notify", "rule_owner": True, "title": "{{ record.email }}"}
        )
        data = {
            "name": f"Rule {number}",
            "entity": "contacts",
            "trigger": {"type": "created"},
            "conditions": conditions,
            "actions": [action],
            "system": True,
        }
        rules.append(records.create("workflows", data))
    return rules


def set_active(crm: Any, rules: list[Any], active: bool) -> None:
    records = crm.records()
    for rule in rules:
        records.update("workflows", rule, {"active": active})


def creates(crm: Any, count: int, start: int) -> tuple[float, float]:
    """Seconds (wall, CPU of this process) to create ``count`` contacts through the record
    service."""
    from common import CITIES, FIRST, LAST, TAGS

    records = crm.records()
    began, cpu = time.perf_counter(), time.process_time()
    for i in range(start, start + count):
        city, country = CITIES[i % len(CITIES)]
        records.create(
            "contacts",
            {
                "first_name": FIRST[i % len(FIRST)],
                "last_name": LAST[i % len(LAST)],
                "email": f"bench.automation.{i}@example.com",
                "city": city,
                "country": country,
                "tags": [TAGS[i % len(TAGS)]],
            },
        )
    return time.perf_counter() - began, time.process_time() - cpu


def write_path(crm: Any) -> None:
    rules = make_rules(crm)
    creates(crm, 20, 0)  # warm-up
    wall = {"bare": 0.0, "ruled": 0.0, "idle": 0.0}
    cpu = dict(wall)
    rounds = 5
    per_round = max(1, CREATES // rounds)
    start = 1000
    matching = rules[len(NOT_MATCHING) :]

    def measure(case: str) -> None:
        nonlocal start
        took, used = creates(crm, per_round, start)
        wall[case] += took
        cpu[case] += used
        start += per_round

    for _ in range(rounds):  # interleaved so that a change of load hits all alike
        set_active(crm, rules, False)
        measure("bare")
        set_active(crm, rules, True)
        measure("ruled")
        set_active(crm, matching, False)  # the 17 rules no new contact meets
        measure("idle")
    total = per_round * rounds
    rate = {case: total / took for case, took in wall.items()}
    cpu_rate = {case: total / used for case, used in cpu.items()}
    ratio, cpu_ratio = rate["ruled"] / rate["bare"], cpu_rate["ruled"] / cpu_rate["bare"]
    print(f"{'create, no active rule':<34} {rate['bare']:8.1f} creates/s "
          f"({cpu_rate['bare']:.1f} per CPU-second)")  # fmt: skip
    print(f"{'create, 20 active rules':<34} {rate['ruled']:8.1f} creates/s "
          f"({cpu_rate['ruled']:.1f} per CPU-second)")  # fmt: skip
    idle = rate["idle"] / rate["bare"]
    print(f"{'create, 17 rules, none matching':<34} {rate['idle']:8.1f} creates/s "
          f"({cpu_rate['idle']:.1f} per CPU-second)  ratio {idle:.2f}")  # fmt: skip
    print(f"  20 active rules: ratio {ratio:.2f} (wall): {verdict(ratio >= 0.7)} (goal >= 0.7); "
          f"by CPU time {cpu_ratio:.2f}: {verdict(cpu_ratio >= 0.7)}")  # fmt: skip
    set_active(crm, rules, False)


def time_rule(crm: Any, count: int) -> None:
    from crm_automation.conditions import compile_conditions, matching
    from crm_automation.models import AutomationRun
    from crm_automation.schedules import BATCH, date_due
    from sqlalchemy import exists, func, select

    records = crm.records()
    rule = records.create(
        "workflows",
        {
            "name": "Three days after",
            "entity": "contacts",
            "trigger": {"type": "date", "field": "created_at", "offset_days": 3},
            "conditions": "country=ES",
            "actions": [{"type": "add_tags", "tags": ["followed-up"]}],
            "system": True,
        },
    )
    entity = records.entity("contacts")
    # the bench's contacts were created one a second from 2026-01-01: due a day's worth
    now = dt.datetime(2026, 1, 4, tzinfo=dt.UTC) + dt.timedelta(seconds=min(count, 86_400))
    params = compile_conditions(crm, entity, rule.conditions)

    def select_due() -> tuple[int, int]:
        due = date_due(crm, rule, entity, now)
        assert due is not None
        model = entity.model
        ran = exists().where(
            AutomationRun.workflow_id == rule.id,
            AutomationRun.record_id == model.id,
            AutomationRun.created_at >= due.since,
        )
        base = matching(records, entity, params).where(due.condition, ~ran)
        batch = crm.session.execute(
            base.with_only_columns(model.id, due.value).order_by(model.id).limit(BATCH)
        ).all()
        total = crm.session.scalar(
            select(func.count()).select_from(base.with_only_columns(model.id).subquery())
        )
        return len(batch), int(total or 0)

    select_due()  # warm-up
    began, cpu = time.perf_counter(), time.process_time()
    batch, total = select_due()
    took, used = time.perf_counter() - began, time.process_time() - cpu
    dialect = crm.engine.dialect.name
    print(
        f"{'time-based rule, due selection':<34} {took * 1000:8.1f} ms "
        f"(CPU {used * 1000:.1f} ms) over {count:,} contacts on {dialect} "
        f"({total:,} due, first batch {batch})"
    )
    scale = "" if count >= 1_000_000 else f" - measured at {count:,}, the goal is at 1,000,000"
    print(f"  due selection {took:.3f} s, {took / 2:.2f} of the 2 s budget: "
          f"{verdict(took < 2)} (goal < 2 s{scale})")  # fmt: skip


def main() -> None:
    count = int(os.environ.get("BENCH_AUTOMATION_CONTACTS", "200000"))
    started = time.perf_counter()
    database = server_database()
    try:
        app, path = build(count)
        print(f"instance with {count:,} contacts built in {time.perf_counter() - started:.0f} s")
        try:
            with app.app_context():
                crm = app.extensions["crm"]
                time_rule(crm, count)
                if os.environ.get("BENCH_AUTOMATION_WRITES", "1") == "1":
                    write_path(crm)
            app.extensions["crm"].engine.dispose()
        finally:
            shutil.rmtree(path, ignore_errors=True)
    finally:
        if database:
            drop_database(database)


if __name__ == "__main__":
    main()
