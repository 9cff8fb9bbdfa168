"""Forms start valid: every generated create form of the core and of every first-party plugin
submits its own defaults successfully once its required fields are filled, and the query string
prefills any field of the form."""

from __future__ import annotations

import itertools
import re
import secrets
from typing import Any

import pytest

from crmcore.testing.forms import form_data

FIRST_PARTY = {"sales", "marketing", "support", "kb", "automation", "insights"}
pytestmark = pytest.mark.crm_plugins(*sorted(FIRST_PARTY))
_n = itertools.count(1)


def _required_blank(html: str) -> list[str]:
    """Names of the inputs marked required (a visible asterisk) in a form."""
    return re.findall(r'<label for="f-([\w.-]+)">[^<]*<span aria-hidden="true">\*</span>', html)


def fill(entity: Any, data: dict[str, Any], html: str, parents: dict[str, int]) -> None:
    """Fill the required inputs the way a person would: text, a number, the first choice."""
    n = next(_n)
    for name in _required_blank(html):
        if data.get(name):
            continue
        if name.endswith("_id") and name.removesuffix("_id") in parents:
            data[name] = str(parents[name.removesuffix("_id")])
        elif "email" in name:
            data[name] = f"form{n}@example.com"
        elif re.search(rf'id="f-{re.escape(name)}"[^>]*type="number"', html):
            data[name] = "5"
        else:
            data[name] = f"value{n}"
    special = {
        # values a schema constrains beyond "required"
        "custom_field": {"name": f"field_{n}", "entity": "contact", "type": "text"},
        "note": {"record_type": "contact", "record_id": str(parents["contact"])},
        "activity": {
            "record_type": "contact",
            "record_id": str(parents["contact"]),
            "kind": "call",
            "occurred_at": "2026-01-02T10:00",
        },
        "user": {"email": f"form-user-{secrets.token_hex(4)}@example.com"},
        "role": {"name": f"role_{n}"},
        "stage": {"pipeline_id": str(parents["pipeline"])},
        "shipment": {"order_id": str(parents["order"])},
        "email_template": {"body_html": "<p>Hello</p>"},
        "contact": {"last_name": f"Person {n}"},
        "lead": {"last_name": f"Lead {n}"},
        "sla_policy": {"priority": "high", "first_response_minutes": "60"},
        "quota": {"period": "2026-Q1", "amount": "1000"},
        # a public address written as digits: the webhook's guard needs no DNS to accept it
        "webhook": {"url": "https://93.184.216.34/hook", "entities": "contacts"},
    }
    data.update(special.get(entity.name, {}))


@pytest.fixture
def parents(records, make_contact):
    contact = make_contact()
    pipeline = records.create("pipelines", {"name": "Form pipeline"})
    # a confirmed order, so that a shipment may be made of it
    order = records.create("orders", {"contact_id": contact.id, "status": "confirmed"})
    return {"contact": contact.id, "pipeline": pipeline.id, "order": order.id}


def test_every_create_form_submits_its_defaults(crm, web, parents):
    checked = []
    for entity in crm.entities():
        if entity.plugin not in FIRST_PARTY | crm.builtin_names or not entity.api_create:
            continue
        if entity.editor_url:  # a plugin's own editor: the generated form sends the user there
            response = web.get(f"/{entity.plural}/new?x=1")
            assert response.status_code == 302, entity.plural
            assert response.headers["Location"].endswith(f"{entity.editor_url}/new?x=1")
            continue
        url = f"/{entity.plural}/new"
        response = web.get(url)
        assert response.status_code == 200, (url, response.status_code)
        html = response.get_data(as_text=True)
        data = form_data(html)
        assert "csrf_token" in data
        fill(entity, data, html, parents)
        response = web.post(url, data=data)
        assert response.status_code == 303, (
            url,
            response.status_code,
            re.findall(r'class="field-error"[^>]*>(.*?)</p>', response.get_data(as_text=True)),
        )
        checked.append(entity.plural)
    assert {"quotes", "orders", "products", "tickets", "articles", "campaigns"} <= set(checked)


def test_defaults_come_from_schema_model_and_settings(crm, web, records):
    from crmcore.settings import Setting

    crm.session.merge(Setting(key="default_currency", value="GBP"))
    crm.session.flush()
    data = form_data(web.get("/quotes/new").get_data(as_text=True))
    assert data["status"] == "draft" and data["currency"] == "GBP"
    assert form_data(web.get("/products/new").get_data(as_text=True)).get("active") == "on"
    # a ticket made in the page starts open (the API's default stays "new")
    assert form_data(web.get("/tickets/new").get_data(as_text=True))["status"] == "open"
    # a status that cannot be empty offers no empty choice
    html = web.get("/quotes/new").get_data(as_text=True)
    status = re.search(r'<select id="f-status".*?</select>', html, re.S).group(0)
    assert 'value=""' not in status


def test_a_blank_slug_is_derived_from_the_title(crm, web, records):
    data = form_data(web.get("/articles/new").get_data(as_text=True))
    data.update(title="Resetting your password", slug="")
    response = web.post("/articles/new", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    article = records.get("articles", int(response.headers["Location"].rsplit("/", 1)[1]))
    assert article.slug.startswith("resetting-your-password")


def test_query_string_prefills_any_field(web):
    html = web.get("/campaigns/new?name=Spring%20sale&kind=email").get_data(as_text=True)
    data = form_data(html)
    assert data["name"] == "Spring sale" and data["kind"] == "email"
    hostile = web.get('/campaigns/new?name="><script>alert(1)</script>').get_data(as_text=True)
    assert "<script>alert(1)" not in hostile
    # unknown and write-only names are ignored
    data = form_data(web.get("/users/new?password=x&nope=1").get_data(as_text=True))
    assert data.get("password", "") == "" and "nope" not in data


def test_template_prefills_a_campaign(web, records):
    template = records.create(
        "email_templates", {"name": "Welcome", "subject": "Hi", "body_html": "<p>Hi</p>"}
    )
    data = form_data(web.get(f"/campaigns/new?template_id={template.id}").get_data(as_text=True))
    assert data["template_id"] == str(template.id)
    data["name"] = "From a template"
    response = web.post("/campaigns/new", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    campaign = records.get("campaigns", int(response.headers["Location"].rsplit("/", 1)[1]))
    assert campaign.template_id == template.id and campaign.subject == "Hi"
