"""The rule builder, the rules list and a rule's history page, in English and Spanish."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.crm_plugins("automation", "autotest")


def token(html):
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def builder_form(html, **fields):
    data = {"csrf_token": token(html), "name": "Welcome", "entity": "contact", "active": "on",
            "trigger_type": "created", "slots": "3"}  # fmt: skip
    data.update(fields)
    return data


def test_a_rule_is_built_in_the_browser_and_runs(crm, web, make_user, make_contact, records):
    from crmcore.users.models import Team
    from sqlalchemy import select

    user = make_user("sales_rep", teams=("Inbound",))
    team = crm.session.scalar(select(Team).where(Team.name == "Inbound"))
    page = web.get("/automation/rules/new")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'<option value="{team.id}">Inbound</option>' in html  # a team picker, not an id
    assert f'value="{user.id}"' in html  # a user picker
    r = web.post("/automation/rules/new", data=builder_form(
        html,
        **{"cond-0-field": "last_name", "cond-0-op": "contains", "cond-0-value": "Corp",
           "act-0-type": "add_tags", "act-0-tags": "new, inbound",
           "act-1-type": "assign_owner", "act-1-mode": "round_robin", "act-1-team": str(team.id),
           "act-2-type": "notify", "act-2-title": "New {{ title }}", "act-2-record_owner": "on"},
    ))  # fmt: skip
    assert r.status_code == 303, r.get_data(as_text=True)
    rule_id = int(r.headers["Location"].rsplit("/", 1)[1])
    rule = records.get("workflows", rule_id)
    assert rule.conditions == "last_name__contains=Corp"
    assert rule.actions[0] == {"type": "add_tags", "tags": ["new", "inbound"]}
    assert rule.actions[1] == {"type": "assign_owner", "mode": "round_robin", "team_id": team.id}
    assert rule.trigger == {"type": "created"}
    edit = web.get(f"/automation/rules/{rule_id}/edit").get_data(as_text=True)
    assert 'value="new, inbound"' in edit and "last_name" in edit
    assert web.get(f"/automation/rules/{rule_id}").status_code == 200
    assert "Welcome" in web.get("/automation/rules").get_data(as_text=True)


def test_a_bad_rule_keeps_the_input_and_names_the_part(web):
    html = web.get("/automation/rules/new").get_data(as_text=True)
    r = web.post("/automation/rules/new", data=builder_form(
        html, **{"cond-0-field": "created_at", "cond-0-op": "gte", "cond-0-value": "soon",
                 "act-0-type": "add_tags", "act-0-tags": "kept"}))  # fmt: skip
    body = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "soon" in body and 'value="kept"' in body and 'id="error-summary"' in body
    r = web.post("/automation/rules/new", data=builder_form(html))
    assert r.status_code == 422 and "Add at least one action." in r.get_data(as_text=True)


def test_a_schedule_and_a_date_trigger_from_the_form(web, records):
    html = web.get("/automation/rules/new").get_data(as_text=True)
    r = web.post("/automation/rules/new", data=builder_form(
        html, trigger_type="schedule", time="08:00", weekdays=["0", "2"],
        **{"act-0-type": "add_tags", "act-0-tags": "weekly"}))  # fmt: skip
    assert r.status_code == 303
    rule = records.get("workflows", int(r.headers["Location"].rsplit("/", 1)[1]))
    assert rule.trigger == {"type": "schedule", "time": "08:00", "weekdays": [0, 2]}


def test_the_dry_run_button_changes_nothing(web, make_rule, make_contact, crm):
    rule = make_rule({"type": "updated"}, [{"type": "add_tags", "tags": ["x"]}],
                     conditions="last_name=Dry")  # fmt: skip
    contact = make_contact(last_name="Dry")
    page = web.get(f"/automation/rules/{rule.id}").get_data(as_text=True)
    r = web.post(f"/automation/rules/{rule.id}", data={"csrf_token": token(page)})
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and f"/contacts/{contact.id}" in body and "Add tags" in body
    crm.session.expire_all()
    assert crm.session.get(type(contact), contact.id).tags == []


def test_a_rep_cannot_edit_anothers_rule(web_as, make_user, make_rule):
    rule = make_rule({"type": "created"}, [{"type": "add_tags", "tags": ["x"]}])
    rep = web_as(make_user("sales_rep"))
    assert rep.get(f"/automation/rules/{rule.id}/edit").status_code == 404
    assert rep.get("/automation/rules/new").status_code == 200


def test_a_form_without_csrf_is_refused(web):
    r = web.post("/automation/rules/new", data={"name": "x", "entity": "contact"})
    assert r.status_code == 400


def test_the_builder_in_spanish(web_as, make_user, crm):
    admin = make_user("admin", locale="es")
    html = web_as(admin).get("/automation/rules/new").get_data(as_text=True)
    for english in ("New rule", "Save rule", "A record is created", "Add tags"):
        assert english not in html, english


def test_the_rules_record_page_links_to_the_builder(web, web_as, make_user, make_rule):
    rule = make_rule({"type": "created"}, [{"type": "add_tags", "tags": ["x"]}])
    html = web.get(f"/workflows/{rule.id}").get_data(as_text=True)
    assert f'href="/automation/rules/{rule.id}/edit"' in html
    assert f'href="/automation/rules/{rule.id}"' in html
    manager = web_as(make_user("manager"))
    assert manager.get(f"/workflows/{rule.id}").status_code == 200
