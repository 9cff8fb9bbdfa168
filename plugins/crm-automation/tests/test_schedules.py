"""Time-based rules: relative to a date field, yearly on a date (birthdays), and on a weekly
schedule in the instance time zone; due records selected in SQL by the periodic job, once."""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = [
    pytest.mark.crm_plugins("automation", "autotest"),
    pytest.mark.usefixtures("immediate_jobs"),
]

LOG = [{"type": "log", "text": "due"}]
NOW = dt.datetime(2026, 12, 7, 7, 5, tzinfo=dt.UTC)  # a Monday; 08:05 in Madrid


def logged(crm):
    return sorted(record_id for record_id, text in crm.app.extensions.get("autotest", ())
                  if text == "due")  # fmt: skip


@pytest.fixture(autouse=True)
def _clean_log(app):
    app.extensions["autotest"] = []


def set_time_zone(crm, name):
    from crmcore.settings import Setting, forget_settings

    crm.session.merge(Setting(key="time_zone", value=name))
    crm.session.commit()
    forget_settings()


def test_a_day_after_a_datetime_while_a_condition_holds(crm, records, make_rule, runs):
    from crm_automation.schedules import fire_due

    def task(hours_ago, status="open"):
        due = (NOW - dt.timedelta(hours=hours_ago)).isoformat()
        return records.create("tasks", {"title": "T", "due_at": due, "status": status})

    overdue = task(30)
    task(30, status="done")  # the condition fails
    task(2)  # not yet a day
    task(24 * 5)  # older than the look-back: missed days are not caught up forever
    rule = make_rule({"type": "date", "field": "due_at", "offset_days": 1}, LOG,
                     entity="tasks", conditions="status=open")  # fmt: skip
    assert fire_due(crm.app, NOW) == 1
    assert logged(crm) == [overdue.id]
    assert fire_due(crm.app, NOW + dt.timedelta(minutes=5)) == 0  # once per occurrence
    [run] = runs(rule)
    assert run.trigger == "date" and run.occurrence.startswith("date:")


def test_a_birthday_every_year_in_the_instance_time_zone(crm, make_rule, make_contact, runs):
    from crm_automation.schedules import fire_due

    set_time_zone(crm, "America/Los_Angeles")  # still 6 December there at 07:05 UTC
    make_contact(custom_fields={"birthday": "1990-12-07"})
    today = make_contact(custom_fields={"birthday": "1990-12-06"})
    make_contact()
    rule = make_rule({"type": "date", "field": "custom.birthday", "yearly": True}, LOG)
    assert fire_due(crm.app, NOW) == 1 and logged(crm) == [today.id]
    assert fire_due(crm.app, NOW) == 0
    next_year = NOW.replace(year=2027)
    assert fire_due(crm.app, next_year) == 1
    assert [r.occurrence for r in runs(rule)] == ["yearly:2026", "yearly:2027"]


def test_a_leap_day_birthday_is_kept_on_the_28th(crm, make_rule, make_contact):
    from crm_automation.schedules import fire_due

    leap = make_contact(custom_fields={"birthday": "2000-02-29"})
    make_rule({"type": "date", "field": "custom.birthday", "yearly": True}, LOG)
    assert fire_due(crm.app, dt.datetime(2027, 2, 28, 12, tzinfo=dt.UTC)) == 1
    assert logged(crm) == [leap.id]


def test_every_weekday_at_eight_in_the_instance_time_zone(crm, make_rule, make_contact, runs):
    from crm_automation.schedules import fire_due

    set_time_zone(crm, "Europe/Madrid")
    vip = make_contact(tags=["vip"])
    make_contact()
    rule = make_rule({"type": "schedule", "time": "08:00", "weekdays": [0, 1, 2, 3, 4]}, LOG,
                     conditions="tags=vip")  # fmt: skip
    assert fire_due(crm.app, NOW - dt.timedelta(minutes=10)) == 0  # 07:55 in Madrid
    assert fire_due(crm.app, NOW) == 1 and logged(crm) == [vip.id]
    assert fire_due(crm.app, NOW + dt.timedelta(hours=3)) == 0  # once a day
    assert fire_due(crm.app, NOW + dt.timedelta(days=1)) == 1  # Tuesday
    assert fire_due(crm.app, NOW + dt.timedelta(days=5)) == 0  # Saturday
    assert [r.occurrence for r in runs(rule)] == ["schedule:2026-12-07", "schedule:2026-12-08"]


def test_time_based_rules_act_in_their_owners_scope(crm, make_rule, make_user, make_contact,
                                                     runs):  # fmt: skip
    from crmcore.permissions import Access

    from crm_automation.schedules import fire_due

    rep = make_user("sales_rep")
    mine = make_contact(owner_id=rep.id)
    make_contact(owner_id=make_user("sales_rep").id)
    rule = make_rule({"type": "schedule", "time": "00:00"}, LOG,
                     service=crm.records(Access.for_user(rep)))  # fmt: skip
    assert fire_due(crm.app, NOW) == 1 and [r.record_id for r in runs(rule)] == [mine.id]


@pytest.mark.parametrize(
    ("trigger", "words"),
    [
        ({"type": "date", "field": "last_name"}, "last_name"),
        ({"type": "date", "field": "custom.shoe"}, "custom.shoe"),
        ({"type": "date", "field": "created_at", "offset_days": 1.5}, "offset_days"),
        ({"type": "schedule", "time": "25:00"}, "HH:MM"),
        ({"type": "schedule", "time": "08:00", "weekdays": [7]}, "weekdays"),
    ],
)
def test_bad_time_based_triggers_are_refused(api, trigger, words):
    rule = {"name": "R", "entity": "contacts", "trigger": trigger, "actions": LOG}
    r = api.post("/api/v1/workflows", json=rule)
    assert r.status_code == 422 and words in str(r.get_json()["errors"]["trigger"])


@pytest.mark.crm_plugins("automation", "autotest", "sales")
def test_a_week_before_a_date_column(crm, records, make_rule, runs):
    from crm_automation.schedules import fire_due

    today = NOW.date()
    soon = records.create("deals", {"title": "Soon", "close_date": str(today + dt.timedelta(7))})
    records.create("deals", {"title": "Later", "close_date": str(today + dt.timedelta(9))})
    records.create("deals", {"title": "No date"})
    rule = make_rule({"type": "date", "field": "close_date", "offset_days": -7}, LOG,
                     entity="deals")  # fmt: skip
    assert fire_due(crm.app, NOW) == 1 and logged(crm) == [soon.id]
    [run] = runs(rule)
    assert run.occurrence == f"date:{today + dt.timedelta(7)}"


def test_the_dry_run_of_a_time_based_rule_lists_the_records_due_now(crm, make_rule,
                                                                    make_contact):  # fmt: skip
    from crm_automation.engine import dry_run
    from crm_automation.schedules import local_now

    today = local_now(crm).date()
    due = make_contact(custom_fields={"birthday": f"1990-{today:%m-%d}"})
    make_contact(custom_fields={"birthday": "1990-01-01" if today.month != 1 else "1990-06-01"})
    rule = make_rule({"type": "date", "field": "custom.birthday", "yearly": True}, LOG)
    plan = dry_run(crm, rule)
    assert plan["total"] == 1 and plan["records"][0]["id"] == due.id
    assert logged(crm) == []


def test_a_scheduled_sequence_enrols_each_record_once(crm, make_rule, make_contact, runs,
                                                      monkeypatch):  # fmt: skip
    from crm_automation import schedules
    from crm_automation.schedules import fire_due

    monkeypatch.setattr(schedules, "BATCH", 2)  # enrolled records must not fill the batch
    contacts = [make_contact() for _ in range(3)]
    rule = make_rule({"type": "schedule", "time": "06:00", "weekdays": [0, 1, 2, 3, 4, 5, 6]},
                     LOG, sequence=True)  # fmt: skip
    assert fire_due(crm.app, NOW) == 2
    assert fire_due(crm.app, NOW + dt.timedelta(days=1)) == 1  # the next day: the third only
    assert fire_due(crm.app, NOW + dt.timedelta(days=2)) == 0
    assert sorted(r.record_id for r in runs(rule)) == [c.id for c in contacts]
    assert {r.occurrence for r in runs(rule)} == {"enrolment"}
