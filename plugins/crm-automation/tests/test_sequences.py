"""The cached rules of the write path, the ``wait`` and ``add_to_static_list`` actions, and
sequences (one enrolment per record, exit conditions and opt-outs checked before each step)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import event, select

pytestmark = [
    pytest.mark.crm_plugins("automation", "autotest"),
    pytest.mark.usefixtures("immediate_jobs"),
]


def builder_form(html, **fields):
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token, "no CSRF token in the page"
    return {"csrf_token": token.group(1), "name": "Welcome", "entity": "contact",
            "active": "on", "trigger_type": "created", "slots": "3", **fields}  # fmt: skip


def fresh(crm, record):
    crm.session.expire_all()
    return crm.session.get(type(record), record.id)


def log(text):
    return {"type": "log", "text": text}


def scheduled(crm):
    """The jobs held back for later (a wait's next step), as (run id, step index, eta)."""
    out = []
    for task in crm.jobs.huey.scheduled():
        _target, args, _kwargs = task.args
        out.append((args[0], args[1], task.eta))
    return out


def pass_time(crm, run_id):
    """Make every wait of the run end now (time passing), and run the held-back steps."""
    from crm_automation import engine
    from crm_automation.models import AutomationRun

    crm.session.expire_all()
    run = crm.session.get(AutomationRun, run_id)
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
    run.results = [{**s, "until": past} if s.get("until") else s for s in run.results]
    crm.session.commit()
    for held_run, index, _eta in scheduled(crm):
        if held_run == run_id:
            engine.attempt_action(crm.app, run_id, index)


# the cached rules ------------------------------------------------------------------------------


def test_a_rule_saved_switched_off_or_removed_is_seen_by_the_next_write(
    crm, records, make_rule, make_contact, runs
):
    make_contact()  # the cache is made
    rule = make_rule({"type": "created"}, [log("new")])
    first = make_contact()
    assert [r.record_id for r in runs(rule)] == [first.id]
    records.update("workflows", rule, {"active": False})
    make_contact()
    assert len(runs(rule)) == 1
    records.update("workflows", rule, {"active": True, "conditions": "last_name=Only"})
    make_contact()
    only = make_contact(last_name="Only")
    assert [r.record_id for r in runs(rule)][1:] == [only.id]
    records.delete("workflows", rule)
    make_contact(last_name="Only")
    assert len(runs(rule)) == 2


def test_a_rule_changed_by_another_process_is_seen(crm, make_rule, make_contact, runs):
    from crm_automation.models import AutomationWorkflow

    rule = make_rule({"type": "created"}, [log("x")])
    make_contact()
    # another process switches it off: no event here, only the table changes
    crm.session.get(AutomationWorkflow, rule.id).active = False
    crm.session.commit()
    with crm.app.app_context():  # the next request (or job) sees it
        make_contact()
    assert len(runs(rule)) == 1


def condition_queries(crm, write):
    """The statements asking rules' conditions (EXISTS) while ``write`` runs."""
    statements = []

    def count(_conn, _cursor, statement, *_args):
        if "EXISTS" in statement.upper():
            statements.append(statement)

    engine = crm.session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        write()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return statements


def test_twenty_rules_cost_at_most_one_condition_query_per_write(crm, make_rule, make_contact):
    for n in range(10):
        make_rule({"type": "created"}, [log(str(n))], conditions=f"email__contains=nobody{n}")
        make_rule({"type": "created"}, [log(str(n))], conditions=f"last_name=Nobody{n}")
    make_contact()  # the cache is made
    # text comparisons and ASCII ``contains`` are judged on the record: no query at all
    assert condition_queries(crm, make_contact) == []
    for n in range(5):
        make_rule({"type": "created"}, [log(str(n))], conditions=f"title__ne=Nobody{n}")
    make_contact()
    # those the record cannot settle are asked together, with their counts of recent runs
    assert len(condition_queries(crm, make_contact)) == 1


def run_inserts(crm, write):
    """The INSERT statements into the run table while ``write`` runs."""
    statements = []

    def seen(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("INSERT INTO AUTOMATION_RUN"):
            statements.append(statement)

    engine = crm.session.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        write()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return statements


def test_the_runs_of_one_write_are_one_insert_and_each_runs_once(crm, records, make_rule,
                                                                 make_contact, runs):  # fmt: skip
    from crmcore.records import RecordEvent

    from crm_automation.engine import on_event

    crm.app.extensions["autotest"] = []
    rules = [make_rule({"type": "updated"}, [log(f"r{n}")], conditions="last_name=Many")
             for n in range(3)]  # fmt: skip
    skipped = make_rule({"type": "updated"}, [log("no")], conditions="last_name=Other")
    contact = make_contact(last_name="Many")
    assert len(run_inserts(crm, lambda: records.update("contacts", contact, {"title": "X"}))) == 1
    assert [len(runs(rule)) for rule in rules] == [1, 1, 1] and runs(skipped) == []
    assert sorted(t for _i, t in crm.app.extensions["autotest"]) == ["r0", "r1", "r2"]
    # the same occurrence again (a replayed event): the insert leaves every run alone
    replay = RecordEvent(records.entity("contacts"), fresh(crm, contact), "update",
                         {"title": (None, "X")}, None, records)  # fmt: skip
    on_event(replay)
    assert [len(runs(rule)) for rule in rules] == [1, 1, 1]
    assert len(crm.app.extensions["autotest"]) == 3


def test_a_refused_batch_of_runs_fires_each_rule_on_its_own(
    make_rule, make_contact, runs, monkeypatch
):
    from crm_automation import engine

    def refuse(session, rows):
        session.execute(select(1))  # a statement ran, then the database said no
        raise RuntimeError("batch refused")

    monkeypatch.setattr(engine, "_insert_runs", refuse)
    first = make_rule({"type": "created"}, [log("a")])
    second = make_rule({"type": "created"}, [log("b")])
    contact = make_contact()
    assert [[r.record_id for r in runs(rule)] for rule in (first, second)] == [[contact.id]] * 2
    assert all(r.status == "done" for r in runs(first) + runs(second))


def test_a_rule_edited_in_another_app_instance_is_seen_by_the_next_write(
    crm, make_rule, make_contact, runs, crm_extra_plugins, tmp_path
):
    """Two app instances on one database (two web nodes, or a node and a worker): a rule
    edited, switched off or removed through one is obeyed by the next write of the other."""
    from crmcore.app import create_app

    rule = make_rule({"type": "created"}, [log("x")])
    make_contact()  # this app's cache is made
    assert len(runs(rule)) == 1
    rule_id = rule.id
    url = crm.engine.url.render_as_string(hide_password=False)
    config = {"database_url": url, "secret_key": crm.settings.secret_key}
    other = create_app(tmp_path, config=config, plugins=crm_extra_plugins)
    other_crm = other.extensions["crm"]
    # the other node shares this test's transaction, so it sees (and is rolled back with) it
    other_crm.sessionmaker.configure(bind=crm.sessionmaker.kw["bind"],
                                     join_transaction_mode="create_savepoint")  # fmt: skip
    try:

        def elsewhere(change):
            crm.session.close()  # one session at a time on the shared connection
            with other.app_context():
                other_crm.records().update("workflows", rule_id, change)

        elsewhere({"conditions": "last_name=Edited"})
        with crm.app.app_context():  # the next request here
            make_contact()
            edited = make_contact(last_name="Edited")
        assert [r.record_id for r in runs(rule)][1:] == [edited.id]
        elsewhere({"active": False})
        with crm.app.app_context():
            make_contact(last_name="Edited")
        assert len(runs(rule)) == 2
        elsewhere({"active": True})
        with other.app_context():
            other_crm.records().delete("workflows", rule_id)
        with crm.app.app_context():
            make_contact(last_name="Edited")
        assert len(runs(rule)) == 2
    finally:
        other_crm.engine.dispose()


@pytest.mark.parametrize(
    "conditions, fields, fires",
    [("first_name=ANA", {"first_name": "ana"}, True),
     ("first_name=Ana", {"first_name": "Eva"}, False),
     ("title=Boss", {}, False),
     ("tags=vip", {"tags": ["vip", "x"]}, True),
     ("tags=vip", {"tags": ["VIP"]}, False),
     ("email_opt_out=false", {}, True),
     ("email_opt_out=true", {}, False),
     ("first_name=Ana&last_name__contains=Gil", {"first_name": "Ana", "last_name": "Gil"}, True),
     ("email__contains=EXAMPLE.org", {"email": "ana@example.org"}, True),
     ("email__contains=example.net", {"email": "ana@example.org"}, False),
     ("email__contains=a_b", {"email": "axb@example.org"}, False),
     ("title__contains=boss", {}, False),
     ("last_name__contains=mez", {"last_name": "Gómez"}, True),
     ("last_name__contains=gil", {"last_name": "Gómez"}, False)],
)  # fmt: skip
def test_conditions_judged_on_the_record_agree_with_sql(make_rule, make_contact, runs,
                                                        conditions, fields, fires):  # fmt: skip
    rule = make_rule({"type": "created"}, [log("x")], conditions=conditions)
    make_contact(**fields)
    assert bool(runs(rule)) is fires


def test_the_batched_check_keeps_each_rules_scope(crm, make_rule, make_user, make_contact, runs):
    from crmcore.permissions import Access

    rep = make_user(role="sales_rep")
    other = make_user(role="sales_rep")
    mine = make_rule({"type": "created"}, [log("rep")],
                     service=crm.records(Access.for_user(rep)))  # fmt: skip
    system = make_rule({"type": "created"}, [log("sys")], system=True)
    theirs = make_contact(owner_id=other.id)
    own = make_contact(owner_id=rep.id)
    assert [r.record_id for r in runs(mine)] == [own.id]  # the rep cannot read the other's
    assert [r.record_id for r in runs(system)] == [theirs.id, own.id]


# wait -----------------------------------------------------------------------------------------


def test_wait_holds_the_later_actions_back_via_the_queue(crm, make_rule, make_contact, runs):
    from crm_automation import engine

    rule = make_rule({"type": "created"}, [log("now"), {"type": "wait", "days": 3}, log("later")])
    crm.app.extensions["autotest"] = []
    contact = make_contact()
    [run] = runs(rule)
    assert [s["status"] for s in run.results] == ["done", "done", "pending"]
    assert run.status == "running" and "Waiting until" in run.results[1]["result"]
    assert crm.app.extensions["autotest"] == [(contact.id, "now")]
    [(held_run, index, eta)] = scheduled(crm)
    assert (held_run, index) == (run.id, 2)
    expected = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=3)
    assert abs((eta - expected).total_seconds()) < 60
    # the step run early (a recovery, a replayed job) does nothing and is held again
    assert engine.attempt_action(crm.app, run.id, 2) == "waiting"
    assert engine.recover_runs(crm.app, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)) == 0
    assert crm.app.extensions["autotest"] == [(contact.id, "now")]
    pass_time(crm, run.id)
    [run] = runs(rule)
    assert run.status == "done"
    assert crm.app.extensions["autotest"] == [(contact.id, "now"), (contact.id, "later")]


@pytest.mark.parametrize(
    "wait, problem",
    [({"days": 0}, "one minute"), ({"days": 400}, "365 days"), ({"hours": -1}, "hours"),
     ({"minutes": "5"}, "minutes")],
)  # fmt: skip
def test_a_bad_wait_is_refused_naming_the_action(api, wait, problem):
    body = {"name": "W", "entity": "contacts", "trigger": {"type": "created"},
            "actions": [log("a"), {"type": "wait", **wait}]}  # fmt: skip
    response = api.post("/api/v1/workflows", json=body)
    assert response.status_code == 422
    [message] = response.json["errors"]["actions"]
    assert message.startswith("Action 2 (wait)") and problem in message


# add to a static list ----------------------------------------------------------------------------


@pytest.mark.crm_plugins("automation", "autotest", "marketing")
def test_add_to_static_list_through_the_record_service(crm, records, make_rule, make_contact,
                                                       runs):  # fmt: skip
    from crm_marketing.models import SegmentMember

    listed = records.create("segments", {"name": "Welcome", "kind": "static"})
    dynamic = records.create("segments", {"name": "All", "kind": "dynamic", "query": ""})
    rule = make_rule({"type": "created"},
                     [{"type": "add_to_static_list", "segment_id": listed.id}])  # fmt: skip
    contact = make_contact()
    assert runs(rule)[0].results[0]["result"] == f"Added to list #{listed.id}"
    members = crm.session.scalars(select(SegmentMember.contact_id)
                                  .where(SegmentMember.segment_id == listed.id))  # fmt: skip
    assert list(members) == [contact.id]
    member = crm.session.scalar(select(SegmentMember).where(SegmentMember.contact_id == contact.id))
    assert member.source == f"automation:{rule.id}"
    from crmcore import ValidationError

    for segment_id, problem in ((dynamic.id, "dynamic, not a static list"),
                                (99999, "choose the static list")):  # fmt: skip
        with pytest.raises(ValidationError) as refused:
            make_rule({"type": "created"},
                      [{"type": "add_to_static_list", "segment_id": segment_id}])  # fmt: skip
        [message] = refused.value.messages["actions"]
        assert message.startswith("Action 1 (add_to_static_list)") and problem in message


def test_add_to_static_list_is_refused_while_marketing_is_disabled(api, web, crm):
    from crm_automation import catalog

    assert "add_to_static_list" not in catalog.actions(crm)
    html = web.get("/automation/rules/new").get_data(as_text=True)
    assert '<option value="wait">' in html and "add_to_static_list" not in html
    body = {"name": "L", "entity": "contacts", "trigger": {"type": "created"},
            "actions": [{"type": "add_to_static_list", "segment_id": 1}]}  # fmt: skip
    response = api.post("/api/v1/workflows", json=body)
    assert response.status_code == 422
    [message] = response.json["errors"]["actions"]
    assert "'add_to_static_list'" in message and "marketing" in message


# sequences ------------------------------------------------------------------------------------

WELCOME = [
    {"type": "send_email", "to": "record", "subject": "Welcome {{ record.first_name }}",
     "body": "Hello"},
    {"type": "wait", "days": 3},
    {"type": "send_email", "to": "record", "subject": "Tips", "body": "Some tips"},
]  # fmt: skip


def welcome(make_rule, **fields):
    return make_rule({"type": "created"}, WELCOME, sequence=True,
                     exit_conditions="tags=customer", **fields)  # fmt: skip


def test_a_welcome_sequence_sends_then_waits_then_sends(crm, make_rule, make_contact, runs,
                                                        smtp_peer):  # fmt: skip
    rule = welcome(make_rule)
    contact = make_contact(first_name="Eva", email="eva@example.com")
    assert [m["Subject"] for m in smtp_peer.parsed()] == ["Welcome Eva"]
    first = smtp_peer.parsed()[0]
    assert "/u/" in first.get_content() and first["List-Unsubscribe"]
    [run] = runs(rule)
    pass_time(crm, run.id)
    assert [m["Subject"] for m in smtp_peer.parsed()] == ["Welcome Eva", "Tips"]
    assert runs(rule)[0].status == "done"
    assert fresh(crm, contact).email == "eva@example.com"


def test_one_enrolment_per_record(crm, records, make_rule, make_contact, runs):
    rule = make_rule({"type": "updated"}, [log("a"), {"type": "wait", "days": 1}, log("b")],
                     sequence=True)  # fmt: skip
    contact = make_contact()
    records.update("contacts", contact, {"first_name": "One"})
    records.update("contacts", contact, {"first_name": "Two"})
    [run] = runs(rule)
    assert run.occurrence == "enrolment"


def test_the_exit_conditions_end_the_sequence_before_the_next_step(
    crm, records, make_rule, make_contact, runs, smtp_peer
):
    rule = welcome(make_rule)
    contact = make_contact(email="buyer@example.com")
    records.update("contacts", fresh(crm, contact), {"tags": ["customer"]})  # they bought
    [run] = runs(rule)
    pass_time(crm, run.id)
    [run] = runs(rule)
    assert [s["status"] for s in run.results] == ["done", "done", "skipped"]
    assert "exit conditions hold" in run.note and run.status == "done"
    assert len(smtp_peer.parsed()) == 1


def test_an_opt_out_ends_the_sequence(crm, records, make_rule, make_contact, runs, smtp_peer):
    rule = welcome(make_rule)
    contact = make_contact(email="out@example.com")
    records.update("contacts", fresh(crm, contact), {"email_opt_out": True})
    [run] = runs(rule)
    pass_time(crm, run.id)
    [run] = runs(rule)
    assert run.results[2]["status"] == "skipped" and "opted out" in run.note
    assert len(smtp_peer.parsed()) == 1


def test_the_history_shows_the_exit(web, crm, records, make_rule, make_contact, runs):
    rule = welcome(make_rule)
    contact = make_contact(email=None)
    records.update("contacts", fresh(crm, contact), {"tags": ["customer"]})
    pass_time(crm, runs(rule)[0].id)
    page = web.get(f"/automation/rules/{rule.id}")
    assert page.status_code == 200 and "Left the sequence" in page.get_data(as_text=True)


@pytest.mark.crm_plugins("automation", "autotest", "marketing")
def test_a_sequence_is_built_in_the_builder(web, records):
    listed = records.create("segments", {"name": "Onboarding", "kind": "static"})
    html = web.get("/automation/rules/new").get_data(as_text=True)
    assert f'<option value="{listed.id}">Onboarding</option>' in html
    fields = {"act-0-type": "send_email", "act-0-to": "record", "act-0-title": "Welcome",
              "act-0-body": "Hi", "act-1-type": "wait", "act-1-days": "3", "act-1-hours": "0",
              "act-2-type": "add_to_static_list", "act-2-segment": str(listed.id),
              "sequence": "on", "exit_conditions": "tags=customer"}  # fmt: skip
    bad = web.post("/automation/rules/new",
                   data=builder_form(html, **{**fields, "exit_conditions": "nope=1"}))  # fmt: skip
    assert bad.status_code == 422 and 'value="nope=1"' in bad.get_data(as_text=True)
    r = web.post("/automation/rules/new", data=builder_form(html, **fields))
    assert r.status_code == 303, r.get_data(as_text=True)
    rule = records.get("workflows", int(r.headers["Location"].rsplit("/", 1)[1]))
    assert rule.sequence and rule.exit_conditions == "tags=customer"
    assert rule.actions[1:] == [
        {"type": "wait", "days": 3, "hours": 0},
        {"type": "add_to_static_list", "segment_id": listed.id},
    ]
    edit = web.get(f"/automation/rules/{rule.id}/edit").get_data(as_text=True)
    assert 'name="act-1-days" type="number" min="0" max="365" value="3"' in edit


@pytest.mark.parametrize(
    "fields, where, problem",
    [({"sequence": True, "exit_conditions": "nope__gte=1"}, "exit_conditions", "nope"),
     ({"exit_conditions": "tags=customer"}, "exit_conditions", "for sequences")],
)  # fmt: skip
def test_bad_exit_conditions_are_refused(api, fields, where, problem):
    body = {"name": "S", "entity": "contacts", "trigger": {"type": "created"},
            "actions": [log("a")], **fields}  # fmt: skip
    response = api.post("/api/v1/workflows", json=body)
    assert response.status_code == 422
    assert problem in response.json["errors"][where][0]
