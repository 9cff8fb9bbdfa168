"""Workflow rules: the cost of 20 active rules on the write path, and a time-based rule's
selection of its due records.

Write path: ``RecordService.create`` of contacts with 20 active rules on contacts (conditions
that mostly do not match, three that do) against the same creates with the rules inactive,
measured in the same run, interleaved; prints creates/s and the ratio (goal >= 0.7), and the
same with only the 17 rules no new contact meets (the fixed cost of rules, without their runs).
Time-based rule: ``{"type": "date", "field": "created_at", "offset_days": 3}`` with the
condition ``country=ES`` over every contact: the SQL selection of the due ids (what the
periodic job runs: due, matching, no run yet) and the count of all due records; goal < 2 s at
1,000,000 contacts on SQLite.
Run: BENCH_AUTOMATION_CONTACTS=200000 python bench/automation.py (SQLite instance of its own)
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


def build(count: int) -> tuple[Any, Path]:
    os.environ.pop("BENCH_INSTANCE", None)  # our own instance, not the shared 1M one
    from common import build_instance

    path = Path(tempfile.mkdtemp(prefix="crm-bench-automation-"))
    app, _ = build_instance(count, path)
    with app.app_context():
        from crmcore.instance import enable_plugin

        crm = app.extensions["crm"]
        enable_plugin(crm, "automation")
        crm.session.commit()
        crm.forget_enabled()
    return app, path


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


def creates(crm: Any, count: int, start: int) -> float:
    """Seconds to create ``count`` contacts through the record service."""
    from common import CITIES, FIRST, LAST, TAGS

    records = crm.records()
    began = time.perf_counter()
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
    return time.perf_counter() - began


def write_path(crm: Any) -> None:
    rules = make_rules(crm)
    creates(crm, 20, 0)  # warm-up
    without = with_rules = unmatched = 0.0
    rounds = 5
    per_round = max(1, CREATES // rounds)
    start = 1000
    matching = rules[len(NOT_MATCHING) :]
    for _ in range(rounds):  # interleaved so that a change of load hits all alike
        set_active(crm, rules, False)
        without += creates(crm, per_round, start)
        start += per_round
        set_active(crm, rules, True)
        with_rules += creates(crm, per_round, start)
        start += per_round
        set_active(crm, matching, False)  # the 17 rules no new contact meets
        unmatched += creates(crm, per_round, start)
        start += per_round
    total = per_round * rounds
    bare, ruled, idle = total / without, total / with_rules, total / unmatched
    print(f"{'create, no active rule':<34} {bare:8.1f} creates/s")
    print(
        f"{'create, 20 active rules':<34} {ruled:8.1f} creates/s  "
        f"ratio {ruled / bare:.2f} (goal >= 0.7)"
    )
    print(f"{'create, 17 rules, none matching':<34} {idle:8.1f} creates/s  ratio {idle / bare:.2f}")
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
    began = time.perf_counter()
    batch, total = select_due()
    took = time.perf_counter() - began
    print(
        f"{'time-based rule, due selection':<34} {took * 1000:8.1f} ms over {count:,} contacts "
        f"({total:,} due, first batch {batch}) (goal < 2 s at 1,000,000)"
    )


def main() -> None:
    count = int(os.environ.get("BENCH_AUTOMATION_CONTACTS", "200000"))
    started = time.perf_counter()
    app, path = build(count)
    print(f"instance with {count:,} contacts built in {time.perf_counter() - started:.0f} s")
    try:
        with app.app_context():
            crm = app.extensions["crm"]
            time_rule(crm, count)
            write_path(crm)
    finally:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
