"""Leads: the generic API, conversion and its rules, the public web-to-lead form."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.crm_plugins("sales")


def new_lead(api, **fields):
    data = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@engines.example",
        "company_name": "Analytical Engines",
        "source": "referral",
        "score": 70,
        **fields,
    }
    response = api.post("/api/v1/leads", json=data)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_lead_fields_and_filters(api):
    lead = new_lead(api)
    assert lead["status"] == "new"
    assert lead["score"] == 70
    found = api.get("/api/v1/leads?source=referral").get_json()["data"]
    assert [x["id"] for x in found] == [lead["id"]]
    assert api.post("/api/v1/leads", json={"last_name": "X", "score": 101}).status_code == 422
    bad = api.post("/api/v1/leads", json={"last_name": "X", "status": "maybe"})
    assert "status" in bad.get_json()["errors"]


def test_convert_creates_contact_company_and_deal(api, stages):
    lead = new_lead(api)
    response = api.post(
        f"/api/v1/leads/{lead['id']}/convert", json={"create_deal": True, "deal_title": "Engine"}
    )
    assert response.status_code == 200, response.get_json()
    ids = response.get_json()
    assert set(ids) == {"contact_id", "company_id", "deal_id"}
    contact = api.get(f"/api/v1/contacts/{ids['contact_id']}").get_json()
    assert (contact["email"], contact["company_id"]) == ("ada@engines.example", ids["company_id"])
    company = api.get(f"/api/v1/companies/{ids['company_id']}").get_json()
    assert (company["name"], company["domain"]) == ("Analytical Engines", "engines.example")
    deal = api.get(f"/api/v1/deals/{ids['deal_id']}").get_json()
    assert (deal["title"], deal["contact_id"], deal["stage_id"]) == (
        "Engine",
        ids["contact_id"],
        stages["Prospecting"].id,
    )
    converted = api.get(f"/api/v1/leads/{lead['id']}").get_json()
    assert converted["status"] == "converted"
    assert converted["converted_at"] and converted["deal_id"] == ids["deal_id"]


def test_convert_reuses_company_by_domain_and_contact_by_email(api, make_company, make_contact):
    company = make_company(name="Engines Ltd", domain="engines.example")
    contact = make_contact(email="ADA@engines.example")
    lead = new_lead(api)
    ids = api.post(f"/api/v1/leads/{lead['id']}/convert", json={}).get_json()
    assert ids == {"contact_id": contact.id, "company_id": company.id, "deal_id": None}
    assert api.get("/api/v1/companies?domain=engines.example").get_json()["data"][0]["id"] == (
        company.id
    )


def test_free_mail_domain_is_not_a_company_domain(api):
    lead = new_lead(api, email="ada@gmail.com", company_name="Ada Consulting")
    ids = api.post(f"/api/v1/leads/{lead['id']}/convert", json={}).get_json()
    company = api.get(f"/api/v1/companies/{ids['company_id']}").get_json()
    assert company["domain"] is None


def test_converting_twice_is_a_conflict(api):
    lead = new_lead(api)
    url = f"/api/v1/leads/{lead['id']}/convert"
    assert api.post(url, json={}).status_code == 200
    again = api.post(url, json={"create_deal": True})
    assert again.status_code == 409
    assert again.content_type == "application/problem+json"
    assert "converted already" in again.get_json()["detail"]


def test_status_converted_only_through_the_endpoint(api):
    lead = new_lead(api)
    response = api.patch(f"/api/v1/leads/{lead['id']}", json={"status": "converted"})
    assert response.status_code == 422
    assert "convert" in response.get_json()["errors"]["status"][0]
    assert api.post(f"/api/v1/leads/{lead['id']}/convert", json={}).status_code == 200
    back = api.patch(f"/api/v1/leads/{lead['id']}", json={"status": "new"})
    assert back.status_code == 422


def test_convert_rejects_bad_options(api):
    lead = new_lead(api)
    response = api.post(f"/api/v1/leads/{lead['id']}/convert", json={"create_deal": "perhaps"})
    assert response.status_code == 422
    assert "create_deal" in response.get_json()["errors"]


def test_sales_rep_converts_only_own_leads(api_as, make_user, records):
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    lead = records.create("leads", {"last_name": "Other", "owner_id": other.id})
    response = api_as(rep).post(f"/api/v1/leads/{lead.id}/convert", json={})
    assert response.status_code == 404
    mine = api_as(rep).post("/api/v1/leads", json={"last_name": "Mine", "email": "m@x.example"})
    assert mine.get_json()["owner_id"] == rep.id
    ids = api_as(rep).post(f"/api/v1/leads/{mine.get_json()['id']}/convert", json={}).get_json()
    assert api_as(rep).get(f"/api/v1/contacts/{ids['contact_id']}").status_code == 200


# web-to-lead --------------------------------------------------------------------------------------


def test_web_to_lead_form_creates_a_lead_without_csrf_or_session(client, records):
    page = client.get("/sales/web-to-lead")
    assert page.status_code == 200
    assert 'name="homepage"' in page.get_data(as_text=True)
    response = client.post(
        "/sales/web-to-lead",
        data={
            "first_name": "Wendy",
            "last_name": "Web",
            "email": "wendy@web.example",
            "company_name": "Webco",
            "description": "Call me <b>now</b>",
        },
    )
    assert response.status_code == 200
    assert "Thank you" in response.get_data(as_text=True)
    leads = records.session.scalars(records.query("leads")).all()
    assert [(x.email, x.source, x.status) for x in leads] == [("wendy@web.example", "web", "new")]


def test_web_to_lead_honeypot_stores_nothing(client, records):
    response = client.post(
        "/sales/web-to-lead",
        data={"last_name": "Bot", "email": "bot@spam.example", "homepage": "http://spam"},
    )
    assert response.status_code == 200
    assert records.count("leads") == 0


def test_web_to_lead_validates(client, records):
    response = client.post("/sales/web-to-lead", data={"last_name": "No mail"})
    assert response.status_code == 422
    response = client.post("/sales/web-to-lead", data={"email": "not-an-email"})
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert records.count("leads") == 0


def test_web_to_lead_is_rate_limited(client, records):
    statuses = [
        client.post(
            "/sales/web-to-lead",
            data={"email": f"p{n}@x.example"},
            environ_base={"REMOTE_ADDR": "10.9.9.9"},
        ).status_code
        for n in range(7)
    ]
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429, 429]
    assert records.count("leads") == 5
    other = client.post(
        "/sales/web-to-lead",
        data={"email": "z@x.example"},
        environ_base={"REMOTE_ADDR": "10.9.9.10"},
    )
    assert other.status_code == 200


def test_other_sales_pages_still_need_csrf(app, web_client, csrf_of, make_user, records, stages):
    client = web_client(make_user("admin"))
    deal = records.create("deals", {"title": "D"})
    response = client.post(
        f"/sales/deals/{deal.id}/stage", data={"stage_id": stages["Proposal"].id}
    )
    assert response.status_code == 400
    assert records.get("deals", deal.id).stage_id == stages["Prospecting"].id
