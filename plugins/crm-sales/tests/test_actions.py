"""Sales record actions - convert a lead, send a quote, make an order - through the API and the
pages: permission (403), state (409), unreadable record (404), bad input (422), audit rows,
OpenAPI entries, dialogs, bulk buttons and the lead status only the action sets."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from crmcore.audit import AuditEntry

pytestmark = pytest.mark.crm_plugins("sales")


def audit_of(crm, entity, record_id, action):
    return crm.session.scalars(
        select(AuditEntry).where(
            AuditEntry.entity == entity,
            AuditEntry.record_id == record_id,
            AuditEntry.action == action,
        )
    ).all()


@pytest.fixture
def lead(records, make_user):
    def make(owner=None, **fields):
        values = {"first_name": "Ada", "last_name": "Byron", "company_name": "Engines Ltd"}
        values |= {"email": "ada@engines.example"} | fields
        if owner is not None:
            values["owner_id"] = owner.id
        return records.create("leads", values)

    return make


def test_convert_action_checks_permission_state_input_and_audits(
    api, api_as, make_user, crm, lead, other_pipeline
):
    rep = make_user("sales_rep")
    mine, theirs = lead(owner=rep), lead(owner=make_user("sales_rep"), email="x@y.example")
    url = f"/api/v1/leads/{mine.id}/convert"
    assert api_as(rep).post(f"/api/v1/leads/{theirs.id}/convert", json={}).status_code == 404
    assert api_as(make_user("read_only")).post(url, json={}).status_code == 403
    bad = api_as(rep).post(url, json={"create_deal": True, "deal_title": "", "pipeline_id": "x"})
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    assert set(bad.get_json()["errors"]) == {"deal_title", "pipeline_id"}
    body = {"create_deal": True, "deal_title": "Engine", "pipeline_id": other_pipeline.pipeline_id}
    done = api_as(rep).post(url, json=body)
    assert done.status_code == 200, done.get_json()
    ids = done.get_json()
    assert set(ids) == {"contact_id", "company_id", "deal_id"}
    deal = api.get(f"/api/v1/deals/{ids['deal_id']}").get_json()
    assert (deal["title"], deal["pipeline_id"]) == ("Engine", other_pipeline.pipeline_id)
    (entry,) = audit_of(crm, "lead", mine.id, "convert")
    assert entry.user_id == rep.id
    assert entry.changes["deal_title"] == [None, "Engine"]
    again = api_as(rep).post(url, json={})
    assert again.status_code == 409 and "converted already" in again.get_json()["detail"]
    assert len(audit_of(crm, "lead", mine.id, "convert")) == 1  # refused: no second row


def test_order_action_needs_orders_create_and_a_valid_quote(api, api_as, make_user, crm):
    q = api.post("/api/v1/quotes", json={"lines": [], "valid_until": "2020-01-31"}).get_json()
    url = f"/api/v1/quotes/{q['id']}/order"
    assert api_as(make_user("read_only")).post(url).status_code == 403
    assert api_as(make_user("sales_rep")).post(url).status_code == 404  # not their quote
    expired = api.post(url)
    assert expired.status_code == 409 and "expired on 2020-01-31" in expired.get_json()["detail"]
    api.patch(f"/api/v1/quotes/{q['id']}", json={"valid_until": "2099-01-01"})
    assert api.post(url).status_code == 201
    assert len(audit_of(crm, "quote", q["id"], "order")) == 1
    assert "became order O-000001" in api.post(url).get_json()["detail"]


def test_actions_are_in_the_openapi_document(api):
    paths = api.get("/api/v1/openapi.json").get_json()["paths"]
    for path, status, body in (
        ("/api/v1/leads/{record_id}/convert", "200", True),
        ("/api/v1/quotes/{record_id}/send", "202", True),
        ("/api/v1/quotes/{record_id}/order", "201", False),
    ):
        operation = paths[path]["post"]
        assert {status, "403", "404", "409", "422"} <= set(operation["responses"]), path
        assert ("requestBody" in operation) is body


# pages ---------------------------------------------------------------------------------------


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_sales_rep_converts_a_lead_in_its_dialog_and_lands_on_the_deal(web_as, make_user, lead):
    rep = make_user("sales_rep")
    client = web_as(rep)
    mine = lead(owner=rep)
    page = client.get(f"/leads/{mine.id}").get_data(as_text=True)
    assert 'data-dialog="action-convert"' in page and "<dialog" in page
    assert 'name="deal_title"' in page and 'name="pipeline_id"' in page
    url = f"/leads/{mine.id}/actions/convert"
    assert client.post(url, data={"create_deal": "on"}).status_code == 400  # no CSRF token
    too_long = "T" * 201
    refused = client.post(
        url, data={"csrf_token": csrf(page), "create_deal": "on", "deal_title": too_long}
    )
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "data-reopen" in text and 'aria-invalid="true"' in text
    assert f'value="{too_long}"' in text  # what was typed is kept
    done = client.post(
        url, data={"csrf_token": csrf(page), "create_deal": "on", "deal_title": "Engine"}
    )
    assert done.status_code == 303 and re.search(r"/deals/\d+$", done.headers["Location"])
    deal_page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Engine" in deal_page and "Lead converted" in deal_page
    converted = client.get(f"/leads/{mine.id}").get_data(as_text=True)
    assert "disabled" in converted and "converted already" in converted
    # someone else's lead: no page, no action
    theirs = lead(owner=make_user("sales_rep"), email="o@x.example")
    assert client.post(f"/leads/{theirs.id}/actions/convert", data={}).status_code in (400, 404)
    assert client.get(f"/leads/{theirs.id}/actions/convert").status_code == 404


def test_the_convert_button_is_hidden_without_permission(web_as, make_user, lead):
    record = lead()
    page = web_as(make_user("read_only")).get(f"/leads/{record.id}").get_data(as_text=True)
    assert "action-convert" not in page


def test_a_lead_form_never_offers_converted(web, lead, api):
    record = lead()
    form = web.get(f"/leads/{record.id}/edit").get_data(as_text=True)
    assert 'value="qualified"' in form and 'value="converted"' not in form
    assert f"/leads/{record.id}#action-convert" in form  # the action beside the field
    new = web.get("/leads/new").get_data(as_text=True)
    assert 'value="converted"' not in new
    api.post(f"/api/v1/leads/{record.id}/convert", json={})
    locked = web.get(f"/leads/{record.id}/edit").get_data(as_text=True)
    assert 'name="status"' not in locked and "locked-fields" in locked
    refused = api.patch(f"/api/v1/leads/{lead().id}", json={"status": "converted"})
    assert refused.get_json()["errors"]["status"] == ["Use the Convert action to convert a lead."]


def test_quote_becomes_an_order_by_clicking(web, api, crm):
    q = api.post("/api/v1/quotes", json={"lines": [], "valid_until": "2099-01-31"}).get_json()
    page = web.get(f"/quotes/{q['id']}").get_data(as_text=True)
    assert f'action="/quotes/{q["id"]}/actions/order"' in page
    assert f"/sales/quotes/{q['id']}/pdf" in page
    done = web.post(f"/quotes/{q['id']}/actions/order", data={"csrf_token": csrf(page)})
    assert done.status_code == 303 and re.search(r"/orders/\d+$", done.headers["Location"])
    assert "Order O-000001 created." in html.unescape(
        web.get(done.headers["Location"]).get_data(as_text=True)
    )
    again = web.post(f"/quotes/{q['id']}/actions/order", data={"csrf_token": csrf(page)})
    assert again.status_code == 409
    assert "already became order O-000001" in again.get_data(as_text=True)
    pdf = web.get(f"/sales/quotes/{q['id']}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_send_runs_in_bulk_from_the_list(web, api, crm, make_contact):
    crm.jobs.huey.flush()
    contact = make_contact(email="buyer@example.com")
    ok = api.post("/api/v1/quotes", json={"lines": [], "contact_id": contact.id}).get_json()
    no_mail = api.post("/api/v1/quotes", json={"lines": []}).get_json()
    page = web.get("/quotes").get_data(as_text=True)
    assert 'formaction="/quotes/actions/send/bulk"' in page
    response = web.post(
        "/quotes/actions/send/bulk",
        data={"csrf_token": csrf(page), "ids": [str(ok["id"]), str(no_mail["id"])]},
    )
    assert response.status_code == 303
    listing = html.unescape(web.get(response.headers["Location"]).get_data(as_text=True))
    assert "Send: 1 records done." in listing
    assert "1 records were left as they were" in listing and "no e-mail" in listing
    assert api.get(f"/api/v1/quotes/{ok['id']}").get_json()["status"] == "sent"
    assert api.get(f"/api/v1/quotes/{no_mail['id']}").get_json()["status"] == "draft"
    crm.jobs.huey.flush()


def test_the_dialog_speaks_spanish(web_as, make_user, lead):
    rep = make_user("sales_rep", locale="es")
    record = lead(owner=rep)
    page = html.unescape(web_as(rep).get(f"/leads/{record.id}").get_data(as_text=True))
    for text in ("Convertir", "Crear oportunidad", "Título de la oportunidad", "Embudo"):
        assert text in page, text
    assert "Deal title" not in page and "Create deal" not in page
