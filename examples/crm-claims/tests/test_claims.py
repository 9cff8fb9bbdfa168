"""Tests of the claims example, with the fixtures of the crmcore.testing pytest plugin, as a
third-party author writes them. ``pytest`` runs them on SQLite; ``pytest --crm-db
postgresql://...`` on PostgreSQL."""

import pytest
from crmcore import Access
from crmcore.testing import assert_plugin_migrates_and_survives_disable, assert_references_scoped

pytestmark = pytest.mark.crm_plugins("claims")

URL = "/api/v1/claims"


@pytest.fixture
def rep_and_contact(crm, make_user):
    rep = make_user("sales_rep")
    contact = crm.records(Access.for_user(rep)).create("contacts", {"first_name": "Ana"})
    return rep, contact


def test_a_rep_files_a_claim_for_a_customer(api_as, rep_and_contact):
    rep, contact = rep_and_contact
    r = api_as(rep).post(URL, json={"title": "Broken hinge", "contact_id": contact.id,
                                    "amount": "120.50"})  # fmt: skip
    assert r.status_code == 201, r.get_json()
    claim = r.get_json()
    assert claim["status"] == "open" and claim["amount"] == "120.50"
    assert claim["contact_id"] == contact.id


def test_references_respect_scopes(crm, make_user, rep_and_contact):
    rep, contact = rep_and_contact
    other = make_user("sales_rep")
    crm.records(Access.for_user(other)).create("contacts", {"first_name": "Not hers"})
    crm.records(Access.for_user(other)).create("companies", {"name": "Not hers Ltd"})
    checked = assert_references_scoped(
        crm, "claim", rep, {"title": "T", "contact_id": contact.id}
    )
    assert {"contact_id", "company_id"} <= set(checked)


def test_only_a_decider_files_a_claim_above_the_limit(api_as, make_user, rep_and_contact):
    rep, contact = rep_and_contact
    big = {"title": "New sofa", "contact_id": contact.id, "amount": "2500"}
    refused = api_as(rep).post(URL, json=big)
    assert refused.status_code == 422
    assert "claims.decide" in refused.get_json()["errors"]["amount"][0]
    manager = make_user("manager")
    assert api_as(manager).post(URL, json=big).status_code == 201


def test_approve_and_reject_need_the_plugins_permission(api, api_as, make_user, rep_and_contact):
    rep, contact = rep_and_contact
    claim = api_as(rep).post(URL, json={"title": "Scratch", "contact_id": contact.id}).get_json()
    url = f"{URL}/{claim['id']}/approve"
    assert api_as(rep).post(url, json={}).status_code == 403  # may update it, may not decide
    manager = make_user("manager")
    r = api_as(manager).post(url, json={"note": "Covered by the warranty."})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "approved"
    assert r.get_json()["decision_note"] == "Covered by the warranty."
    assert api_as(manager).post(f"{URL}/{claim['id']}/reject", json={}).status_code == 409
    # a decided claim keeps its amount, and nobody sets the status by editing
    patch = api.patch(f"{URL}/{claim['id']}", json={"amount": "5"}, headers={"If-Match": '"2"'})
    assert patch.status_code == 422
    sneaky = api_as(rep).post(URL, json={"title": "X", "contact_id": contact.id,
                                         "status": "approved"})  # fmt: skip
    assert sneaky.status_code == 422 or sneaky.get_json()["status"] == "open"


def test_the_claim_page_offers_the_actions_to_a_manager_only(web_as, make_user, records,
                                                             rep_and_contact):  # fmt: skip
    rep, contact = rep_and_contact
    claim = records.create("claims", {"title": "<b>Dent</b>", "contact_id": contact.id,
                                      "owner_id": rep.id})  # fmt: skip
    manager_page = web_as(make_user("manager")).get(f"/claims/{claim.id}").get_data(as_text=True)
    assert 'id="action-approve"' in manager_page and 'id="action-reject"' in manager_page
    assert "&lt;b&gt;Dent&lt;/b&gt;" in manager_page and "<b>Dent</b>" not in manager_page
    rep_page = web_as(rep).get(f"/claims/{claim.id}").get_data(as_text=True)
    assert 'id="action-approve"' not in rep_page


def test_migrates_from_empty_and_keeps_data_when_disabled(crm, records, make_contact):
    records.create("claims", {"title": "Kept", "contact_id": make_contact().id})
    assert_plugin_migrates_and_survives_disable(crm, "claims")
