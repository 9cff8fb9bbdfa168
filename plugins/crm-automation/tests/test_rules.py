"""Saving rules: every part is checked, and refused with a message naming it; who may make
system rules; the API's paths."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.crm_plugins("automation", "autotest")

GOOD = {
    "name": "Tag big deals",
    "entity": "contacts",
    "trigger": {"type": "field_changed", "field": "last_name", "to": "Big"},
    "conditions": "email__contains=example&tags=lead",
    "actions": [{"type": "add_tags", "tags": ["big"]}],
}


def errors_of(response):
    body = response.get_json()
    return str(body.get("errors", body))


def test_a_good_rule_is_saved_through_the_api(api):
    r = api.post("/api/v1/workflows", json=GOOD)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["entity"] == "contact"  # the plural is stored as the entity's name
    assert body["active"] is True and body["system"] is False
    assert api.get(f"/api/v1/workflows/{body['id']}").status_code == 200


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"entity": "spaceships"}, "entity", "spaceships"),
        ({"entity": "workflows"}, "entity", "rules"),
        ({"trigger": {"type": "full_moon"}}, "trigger", "full_moon"),
        ({"trigger": {}}, "trigger", "trigger"),
        ({"trigger": {"type": "field_changed", "field": "shoe_size"}}, "trigger", "shoe_size"),
        ({"trigger": {"type": "action", "action": "launch"}}, "trigger", "launch"),
        ({"conditions": "shoe_size=42"}, "conditions", "shoe_size"),
        ({"conditions": "created_at__gte=yesterday"}, "conditions", "yesterday"),
        ({"conditions": "status__near=open"}, "conditions", "near"),
        ({"conditions": "limit=5"}, "conditions", "limit"),
        ({"actions": []}, "actions", "at least one"),
        ({"actions": [{"type": "teleport"}]}, "actions", "teleport"),
        ({"actions": [{"type": "add_tags", "tags": ["ok"]},
                      {"type": "update_fields", "values": {"shoe_size": 42}}]},
         "actions", "Action 2 (update_fields)"),
        ({"actions": [{"type": "update_fields", "values": {"email": "not an address"}}]},
         "actions", "email"),
        ({"actions": [{"type": "update_fields", "values": {"id": 5}}]}, "actions", "'id'"),
        ({"actions": [{"type": "notify", "rule_owner": True, "title": "Hi {{ record.name"}]},
         "actions", "title"),
        ({"actions": [{"type": "send_email", "subject": "Hi", "body": "{% for %}"}]},
         "actions", "body"),
        ({"actions": [{"type": "create_task", "title": "Call", "due_in_days": -1}]},
         "actions", "due_in_days"),
        ({"actions": [{"type": "assign_owner", "mode": "round_robin", "team_id": 999999}]},
         "actions", "team"),
        ({"actions": [{"type": "run_action", "action": "explode"}]}, "actions", "explode"),
        ({"actions": [{"type": "log"}]}, "actions", "text is required"),
    ],
)  # fmt: skip
def test_a_bad_part_is_refused_naming_it(api, change, field, words):
    r = api.post("/api/v1/workflows", json={**GOOD, **change})
    assert r.status_code == 422, r.get_json()
    body = r.get_json()
    assert field in body["errors"], body
    assert words in str(body["errors"][field]), body


def test_an_update_is_checked_with_the_stored_parts(api):
    rule = api.post("/api/v1/workflows", json=GOOD).get_json()
    r = api.patch(
        f"/api/v1/workflows/{rule['id']}",
        json={"actions": [{"type": "remove_tags"}]},
        headers={"If-Match": api.get(f"/api/v1/workflows/{rule['id']}").headers["ETag"]},
    )
    assert r.status_code == 422 and "Action 1 (remove_tags)" in errors_of(r)


def test_only_administrators_make_or_change_system_rules(api, api_as, make_user):
    rep = api_as(make_user("sales_rep"))
    r = rep.post("/api/v1/workflows", json={**GOOD, "system": True})
    assert r.status_code == 403
    made = api.post("/api/v1/workflows", json={**GOOD, "system": True})
    assert made.status_code == 201 and made.get_json()["system"] is True


def test_a_manager_cannot_edit_a_system_rule(api, api_as, make_user):
    rule = api.post("/api/v1/workflows", json={**GOOD, "system": True}).get_json()
    manager = api_as(make_user("manager"))
    etag = manager.get(f"/api/v1/workflows/{rule['id']}").headers["ETag"]
    r = manager.patch(
        f"/api/v1/workflows/{rule['id']}",
        json={"actions": [{"type": "update_fields", "values": {"email_opt_out": False}}]},
        headers={"If-Match": etag},
    )
    assert r.status_code == 403


def test_a_rep_sees_only_their_own_rules(api, api_as, make_user):
    theirs = api.post("/api/v1/workflows", json=GOOD).get_json()
    rep = api_as(make_user("sales_rep"))
    mine = rep.post("/api/v1/workflows", json={**GOOD, "name": "Mine"})
    assert mine.status_code == 201
    listed = [w["id"] for w in rep.get("/api/v1/workflows").get_json()["data"]]
    assert listed == [mine.get_json()["id"]]
    assert rep.get(f"/api/v1/workflows/{theirs['id']}").status_code == 404


def test_a_rule_on_an_entity_its_owner_cannot_read_is_refused(api, make_user):
    user = make_user(None)  # no role: reads nothing
    r = api.post("/api/v1/workflows", json={**GOOD, "owner_id": user.id})
    assert r.status_code == 422 and "may not read" in errors_of(r)


def test_plugins_add_triggers_and_actions_through_the_hooks(crm):
    from crm_automation import catalog

    assert "became_vip" in catalog.triggers(crm)
    assert {"log", "add_tags", "run_action"} <= set(catalog.actions(crm))


def test_two_plugins_declaring_one_trigger_are_refused(crm, monkeypatch):
    from crmcore import PluginConflictError

    from crm_automation import catalog
    from crm_automation.triggers import TriggerType

    found = crm.collect("crm_automation_triggers")
    again = ("other", TriggerType("created", "Again", lambda config, event: True))
    monkeypatch.setattr(crm, "collect", lambda hook: [*found, again])
    with pytest.raises(PluginConflictError, match="'automation' and 'other'"):
        catalog.triggers(crm)
