"""Rules firing on record events: every trigger and action, through the record service as the
rule's owner; loops, the rate limit, idempotency, retries, dry runs, history and the CLI."""

from __future__ import annotations

import pytest
from sqlalchemy import select

pytestmark = [
    pytest.mark.crm_plugins("automation", "autotest"),
    pytest.mark.usefixtures("immediate_jobs"),
]

TAG = [{"type": "add_tags", "tags": ["touched"]}]


def fresh(crm, record):
    crm.session.expire_all()
    return crm.session.get(type(record), record.id)


# triggers -------------------------------------------------------------------------------------


def test_created_fires_with_conditions_in_sql(crm, make_rule, make_contact, runs):
    rule = make_rule({"type": "created"}, TAG, conditions="last_name=Match")
    hit = make_contact(last_name="Match")
    miss = make_contact(last_name="Other")
    assert fresh(crm, hit).tags == ["touched"]
    assert fresh(crm, miss).tags == []
    [run] = runs(rule)
    assert (run.record_id, run.status, run.trigger) == (hit.id, "done", "created")
    assert run.results[0]["status"] == "done"


def test_updated_deleted_and_restored(crm, records, make_rule, make_contact, runs):
    updated = make_rule({"type": "updated"}, [{"type": "log", "text": "updated"}])
    deleted = make_rule({"type": "deleted"}, [{"type": "log", "text": "deleted"}])
    restored = make_rule({"type": "restored"}, [{"type": "log", "text": "restored"}])
    contact = make_contact()
    assert runs(updated) == []  # a create is not an update
    records.update("contacts", contact, {"first_name": "Changed"})
    records.delete("contacts", contact)
    records.restore("contacts", contact.id)
    log = crm.app.extensions["autotest"]
    assert [text for _id, text in log[-3:]] == ["updated", "deleted", "restored"]
    assert [len(runs(r)) for r in (updated, deleted, restored)] == [1, 1, 1]


def test_field_changed_from_and_to(crm, records, make_rule, make_contact, runs):
    rule = make_rule(
        {"type": "field_changed", "field": "title", "from": "Lead", "to": "Customer"}, TAG
    )
    contact = make_contact(title="Lead")
    records.update("contacts", contact, {"title": "Prospect"})
    records.update("contacts", contact, {"title": "Customer"})  # from Prospect: no
    assert runs(rule) == []
    records.update("contacts", contact, {"title": "Lead"})
    records.update("contacts", contact, {"title": "Customer"})
    assert len(runs(rule)) == 1 and fresh(crm, contact).tags == ["touched"]


def test_action_performed(crm, records, make_rule, make_contact, runs):
    from crmcore import run_action

    rule = make_rule({"type": "action", "action": "stamp"}, [{"type": "log", "text": "stamped"}])
    contact = make_contact()
    run_action(records, "contacts", contact, "stamp")
    run_action(records, "contacts", contact, "stamp")
    assert len(runs(rule)) == 2  # each performance is an occurrence
    assert fresh(crm, contact).title == "Stamped"


def test_a_plugins_trigger_kind(crm, records, make_rule, make_contact, runs):
    rule = make_rule({"type": "became_vip"}, [{"type": "log", "text": "vip"}])
    contact = make_contact()
    records.update("contacts", contact, {"first_name": "Plain"})
    assert runs(rule) == []
    records.update("contacts", contact, {"tags": ["vip"]})
    assert crm.app.extensions["autotest"][-1] == (contact.id, "vip")


def test_an_inactive_or_trashed_rule_does_not_fire(records, make_rule, make_contact, runs):
    inactive = make_rule({"type": "created"}, TAG, active=False)
    trashed = make_rule({"type": "created"}, TAG)
    records.delete("workflows", trashed)
    make_contact()
    assert runs(inactive) == [] and runs(trashed) == []


# actions --------------------------------------------------------------------------------------


def test_update_fields_and_remove_tags(crm, make_rule, make_contact):
    make_rule(
        {"type": "created"},
        [
            {"type": "update_fields", "values": {"title": "Auto", "source": "rule"}},
            {"type": "remove_tags", "tags": ["cold"]},
        ],
    )
    contact = fresh(crm, make_contact(tags=["cold", "keep"]))
    assert (contact.title, contact.source, contact.tags) == ("Auto", "rule", ["keep"])


def test_create_task_for_the_record_owner(crm, make_rule, make_contact, make_user):
    from crmcore.activities.models import Task

    rep = make_user("sales_rep")
    make_rule(
        {"type": "created"},
        [{"type": "create_task", "title": "Call {{ record.last_name }}", "due_in_days": 2,
          "priority": "high"}],
    )  # fmt: skip
    contact = make_contact(last_name="Nadal", owner_id=rep.id)
    task = crm.session.scalar(select(Task).where(Task.record_id == contact.id))
    assert (task.title, task.assignee_id, task.priority) == ("Call Nadal", rep.id, "high")
    assert task.record_type == "contact" and task.due_at is not None


def test_assign_fixed_round_robin_and_least_loaded(
    crm, records, make_rule, make_user, make_contact
):
    from crmcore.users.models import Team

    a = make_user("sales_rep", teams=("North",))
    b = make_user("sales_rep", teams=("North",))
    team = crm.session.scalar(select(Team).where(Team.name == "North"))
    rule = make_rule(
        {"type": "created"}, [{"type": "assign_owner", "mode": "round_robin", "team_id": team.id}]
    )
    owners = [fresh(crm, make_contact()).owner_id for _ in range(3)]
    assert owners == [a.id, b.id, a.id]
    records.update("workflows", rule, {"actions": [
        {"type": "assign_owner", "mode": "least_loaded", "team_id": team.id}]})  # fmt: skip
    assert fresh(crm, make_contact()).owner_id == b.id  # b owns one, a two
    records.update("workflows", rule, {"actions": [
        {"type": "assign_owner", "mode": "fixed", "user_id": a.id}]})  # fmt: skip
    assert fresh(crm, make_contact()).owner_id == a.id


def test_notify_users_in_app(crm, make_rule, make_contact, make_user):
    from crmcore.notifications import Notification

    rep = make_user("sales_rep")
    make_rule(
        {"type": "created"},
        [{"type": "notify", "record_owner": True, "title": "New: {{ title }}"}],
    )
    contact = make_contact(first_name="Ana", last_name="Gil", owner_id=rep.id)
    note = crm.session.scalar(select(Notification).where(Notification.user_id == rep.id))
    assert note.title == "New: Ana Gil" and note.link_id == contact.id


def test_send_email_from_a_sandboxed_template_honours_opt_out(crm, make_rule, make_contact,
                                                              smtp_peer):  # fmt: skip
    make_rule(
        {"type": "created"},
        [{"type": "send_email", "to": "record", "subject": "Hello {{ record.first_name }}",
          "body": "Dear {{ record.first_name }}"}],
    )  # fmt: skip
    make_contact(first_name="Eva", email="eva@example.com")
    make_contact(first_name="Out", email="out@example.com", email_opt_out=True)
    messages = smtp_peer.parsed()
    assert [m["To"] for m in messages] == ["eva@example.com"]
    assert messages[0]["Subject"] == "Hello Eva"


def test_a_template_escaping_the_sandbox_fails_the_action_only(crm, make_rule, make_contact,
                                                              runs):  # fmt: skip
    rule = make_rule(
        {"type": "created"},
        [{"type": "notify", "rule_owner": True,
          "title": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}, *TAG],
    )  # fmt: skip
    contact = make_contact()
    [run] = runs(rule)
    assert run.results[0]["status"] == "failed" and "unsafe" in run.results[0]["error"].lower()
    assert run.results[1]["status"] == "done" and fresh(crm, contact).tags == ["touched"]


def test_run_a_record_action(crm, make_rule, make_contact):
    make_rule({"type": "created"}, [{"type": "run_action", "action": "stamp"}])
    assert fresh(crm, make_contact()).title == "Stamped"


# permissions ----------------------------------------------------------------------------------


def test_a_reps_rule_cannot_touch_what_the_rep_may_not_update(
    crm, records, make_rule, make_user, make_contact, runs
):
    rep = make_user("sales_rep")
    other = make_user("sales_rep")
    rule = make_rule({"type": "created"}, TAG, service=crm.records(_access(rep)))
    assert rule.owner_id == rep.id
    theirs = make_contact(owner_id=other.id)
    mine = make_contact(owner_id=rep.id)
    assert fresh(crm, mine).tags == ["touched"]
    assert fresh(crm, theirs).tags == []
    by_record = {r.record_id: r for r in runs(rule)}
    # a rep reads only their own contacts: the other's never matched
    assert set(by_record) == {mine.id}


def test_a_reps_rule_on_a_readable_but_not_updatable_record_fails(
    crm, records, make_rule, make_user, make_contact, runs
):
    from crmcore.users.models import Role

    rep = make_user("sales_rep")
    role = crm.session.get(Role, rep.role_id)
    grants = dict(role.grants)
    grants["contacts"] = {**grants.get("contacts", {}), "read": "all", "update": "own"}
    role.grants = grants
    crm.session.commit()
    rule = make_rule({"type": "created"}, TAG, service=crm.records(_access(rep)))
    theirs = make_contact(owner_id=make_user("sales_rep").id)
    [run] = runs(rule)
    assert run.record_id == theirs.id and run.status == "failed"
    assert run.results[0]["attempts"] == 1  # a refusal is not retried
    assert fresh(crm, theirs).tags == []


def test_a_system_rule_acts_with_the_systems_rights(crm, make_rule, make_user, make_contact):
    make_rule({"type": "created"}, TAG, system=True)
    contact = make_contact(owner_id=make_user("sales_rep").id)
    assert fresh(crm, contact).tags == ["touched"]


def _access(user):
    from crmcore.permissions import Access

    return Access.for_user(user)


# safety ---------------------------------------------------------------------------------------


def test_rules_that_retrigger_each_other_stop_at_the_depth(crm, records, make_rule,
                                                           make_contact, runs):  # fmt: skip
    from crm_automation.engine import MAX_DEPTH

    ping = make_rule({"type": "updated"}, [{"type": "update_fields", "values": {"title": "Ping"}}])
    pong = make_rule({"type": "updated"}, [{"type": "update_fields", "values": {"title": "Pong"}}])
    contact = make_contact()
    records.update("contacts", contact, {"first_name": "Go"})
    all_runs = runs(ping) + runs(pong)
    assert max(len(r.chain) for r in all_runs) == MAX_DEPTH + 1
    skipped = [r for r in all_runs if r.status == "skipped"]
    assert skipped and all("Loop" in r.note for r in skipped)
    assert len(all_runs) < 20


def test_a_rule_runs_at_most_the_rate_limit_on_one_record(
    crm, records, make_rule, make_contact, runs, monkeypatch
):
    from crm_automation import engine

    monkeypatch.setattr(engine, "RATE_LIMIT", 2)
    rule = make_rule({"type": "updated"}, [{"type": "log", "text": "x"}])
    contact = make_contact()
    for n in range(4):
        records.update("contacts", contact, {"first_name": f"N{n}"})
    statuses = [r.status for r in runs(rule)]
    assert statuses == ["done", "done", "skipped", "skipped"]


def test_an_occurrence_runs_once(crm, records, make_rule, make_contact, runs):
    from crmcore.records import RecordEvent

    from crm_automation.engine import on_event

    rule = make_rule({"type": "updated"}, [{"type": "log", "text": "once"}])
    contact = make_contact()
    records.update("contacts", contact, {"first_name": "Once"})
    entity = records.entity("contacts")
    replay = RecordEvent(entity, fresh(crm, contact), "update",
                         {"first_name": ("Test", "Once")}, None, records)  # fmt: skip
    on_event(replay)
    on_event(replay)
    assert len(runs(rule)) == 1
    assert [t for _i, t in crm.app.extensions["autotest"]].count("once") == 1


def test_a_failing_action_is_retried_with_backoff_then_failed(crm, make_rule, make_contact,
                                                              runs):  # fmt: skip
    from crm_automation import engine

    rule = make_rule({"type": "created"}, [{"type": "log", "text": "boom", "explode": True}, *TAG])
    contact = make_contact()
    [run] = runs(rule)
    assert run.results[0]["status"] == "retrying" and run.status == "running"
    assert run.results[1]["status"] == "done"  # the others go on
    assert fresh(crm, contact).tags == ["touched"]
    scheduled = crm.jobs.huey.scheduled()
    assert len(scheduled) == 1 and scheduled[0].args[1] == (run.id, 0)
    statuses = [engine.attempt_action(crm.app, run.id, 0) for _ in range(engine.RETRIES)]
    assert statuses == ["retrying"] * (engine.RETRIES - 1) + ["failed"]
    [run] = runs(rule)
    assert run.status == "failed" and run.results[0]["attempts"] == engine.RETRIES + 1
    assert "outside service is down" in run.results[0]["error"]
    assert engine.attempt_action(crm.app, run.id, 0) == "failed"  # a late duplicate: no-op


def test_dry_run_changes_nothing(crm, records, make_rule, make_contact, runs):
    from crm_automation.engine import dry_run

    rule = make_rule({"type": "updated"}, TAG, conditions="last_name=Dry", active=False)
    one = make_contact(last_name="Dry")
    make_contact(last_name="Wet")
    plan = dry_run(crm, rule)
    assert plan["total"] == 1 and plan["records"] == [{"id": one.id, "title": "Test Dry"}]
    assert "Add tags" in plan["actions"][0]
    assert runs(rule) == [] and fresh(crm, one).tags == []


# history and CLI ------------------------------------------------------------------------------


def test_runs_on_the_records_timeline(api, make_rule, make_contact):
    make_rule({"type": "created"}, TAG, name="Tagger")
    contact = make_contact()
    items = api.get(f"/api/v1/contacts/{contact.id}/timeline?kind=automation").get_json()
    [item] = items["data"]
    assert "Tagger" in item["title"] and "Add tags: done" in item["summary"]


def test_old_runs_are_purged(crm, make_rule, make_contact, runs):
    import datetime as dt

    from crm_automation.history import purge_old_runs

    rule = make_rule({"type": "created"}, TAG)
    make_contact()
    make_contact()
    old, new = runs(rule)
    old.created_at = old.created_at - dt.timedelta(days=91)
    crm.session.commit()
    assert purge_old_runs(crm.app) == 1
    assert [r.id for r in runs(rule)] == [new.id]


def test_cli_list_run_and_history(cli, crm, make_rule, make_contact, runs):
    rule = make_rule({"type": "updated"}, TAG, name="Sweep", conditions="last_name=Cli")
    contact = make_contact(last_name="Cli")
    assert "Sweep" in cli("automation", "list").output
    dry = cli("automation", "run", "Sweep", "--dry-run")
    assert '"total": 1' in dry.output and fresh(crm, contact).tags == []
    assert "1 run(s) queued" in cli("automation", "run", str(rule.id)).output
    assert fresh(crm, contact).tags == ["touched"]
    assert "add_tags: done" in cli("automation", "history", "Sweep").output
    assert cli("automation", "run", "Nope").exit_code != 0


def test_a_step_cut_short_by_a_killed_worker_is_failed_not_redone(crm, make_rule, make_contact,
                                                                  runs):  # fmt: skip
    import datetime as dt

    from crm_automation import engine
    from crm_automation.models import AutomationRun

    rule = make_rule({"type": "created"}, [{"type": "log", "text": "a"},
                                           {"type": "log", "text": "b"}])  # fmt: skip
    contact = make_contact()
    [run] = runs(rule)
    # as a worker killed after starting step 1 (its job gone) and before step 2 was queued
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    crm.session.get(AutomationRun, run.id).created_at = long_ago
    crm.session.get(AutomationRun, run.id).results = [
        {"type": "log", "status": "started", "attempts": 1, "result": "", "error": "",
         "started_at": long_ago.isoformat()},
        {"type": "log", "status": "pending", "attempts": 0, "result": "", "error": ""},
    ]  # fmt: skip
    crm.session.get(AutomationRun, run.id).status = "running"
    crm.session.commit()
    crm.app.extensions["autotest"] = []
    assert engine.attempt_action(crm.app, run.id, 0) == "started"  # never done twice
    assert engine.recover_runs(crm.app) == 1
    [run] = runs(rule)
    assert [s["status"] for s in run.results] == ["failed", "done"]
    assert "Cut short" in run.results[0]["error"] and run.status == "failed"
    assert crm.app.extensions["autotest"] == [(contact.id, "b")]  # a not redone, b done once
    assert engine.recover_runs(crm.app) == 0


def test_a_lost_job_of_a_pending_step_is_queued_again(crm, make_rule, make_contact, runs):
    import datetime as dt

    from crm_automation import engine
    from crm_automation.models import AutomationRun

    rule = make_rule({"type": "created"}, [{"type": "log", "text": "lost"}])
    contact = make_contact()
    [run] = runs(rule)
    row = crm.session.get(AutomationRun, run.id)
    row.results = [{"type": "log", "status": "pending", "attempts": 0, "result": "",
                    "error": ""}]  # fmt: skip
    row.status = "pending"
    row.created_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    crm.session.commit()
    crm.app.extensions["autotest"] = []
    assert engine.recover_runs(crm.app) == 1
    assert runs(rule)[0].status == "done"
    assert crm.app.extensions["autotest"] == [(contact.id, "lost")]
