"""Templates and campaigns through the API: save-time checks (templates, header injection,
addresses, frozen content), previews within the caller's scope, and test messages."""

from __future__ import annotations

import pytest
from crm_marketing.models import Campaign

from crmcore.references import MISSING

BODY = '<p>Hello {{ contact.first_name }}, see <a href="https://shop.example/">the shop</a>.</p>'


@pytest.fixture
def segment(records):
    return records.create("segments", {"name": "Everyone", "query": ""})


@pytest.fixture
def template(records):
    return records.create(
        "email_templates",
        {"name": "Welcome", "subject": "Hi {{ contact.first_name }}", "body_html": BODY},
    )


def _campaign(api, segment, **fields):
    data = {
        "name": "Spring",
        "kind": "email",
        "segment_id": segment.id,
        "subject": "Spring for {{ contact.first_name }}",
        "body_html": BODY,
        "from_email": "news@example.com",
    }
    data.update(fields)
    return api.post("/api/v1/campaigns", json=data)


def _problem(response, status=422):
    assert response.status_code == status, response.get_json()
    assert response.headers["Content-Type"].startswith("application/problem+json")
    return response.get_json()


# -- templates at save time --------------------------------------------------------------------


def test_valid_template_is_saved(api):
    r = api.post(
        "/api/v1/email_templates",
        json={"name": "T", "subject": "Hi {{ contact.first_name }}", "body_html": BODY},
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["body_html"] == BODY


@pytest.mark.parametrize(
    ("field", "source", "message"),
    [
        ("body_html", "{{ ''.__class__ }}", "Line 1: '__class__' is not available"),
        ("body_html", "{{ contact.__class__.__mro__ }}", "Line 1: '__mro__' is not available"),
        (
            "body_html",
            "<p>\n{% for x in ().__class__.__base__.__subclasses__() %}{{ x }}{% endfor %}",
            "Line 2: '__subclasses__' is not available",
        ),
        ("body_html", "<p>ok</p>\n<p>{{ contact.first_name }</p>", "Line 2: unexpected '}'"),
        ("body_html", "{{ contact.nickname }}", "Line 1: unknown placeholder contact.nickname"),
        ("body_text", "Hi\n{% if %}", "Line 2: Expected an expression"),
        ("subject", "Hi {{ contact.first_name.__class__ }}", "Line 1: '__class__' is not"),
    ],
)
def test_bad_templates_are_refused_with_the_line(api, field, source, message):
    data = {"name": "Bad", "subject": "Hi", "body_html": "<p>ok</p>", field: source}
    problem = _problem(api.post("/api/v1/email_templates", json=data))
    assert problem["errors"][field][0].startswith(message), problem
    assert set(problem["errors"]) == {field}


def test_template_update_is_checked_too(api, template):
    r = api.patch(
        f"/api/v1/email_templates/{template.id}", json={"body_html": "{{ ''.__class__ }}"}
    )
    assert "body_html" in _problem(r)["errors"]
    r = api.patch(f"/api/v1/email_templates/{template.id}", json={"body_html": "<p>new</p>"})
    assert r.status_code == 200, r.get_json()


@pytest.mark.parametrize("subject", ["Hi\r\nBcc: victim@example.com", "Hi\nthere", "Hi\rthere"])
def test_line_breaks_in_a_template_subject_are_refused(api, subject):
    data = {"name": "T", "subject": subject, "body_html": "<p>x</p>"}
    problem = _problem(api.post("/api/v1/email_templates", json=data))
    assert problem["errors"]["subject"] == [
        "Line breaks are not allowed here (they would add e-mail headers)."
    ]


# -- campaigns at save time --------------------------------------------------------------------


def test_campaign_is_saved_with_a_normalised_address(api, segment):
    r = _campaign(api, segment, from_email="News@Example.COM", from_name="Acme News")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["from_email"] == "news@example.com"
    assert r.get_json()["status"] == "draft"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("subject", "Hello\r\nBcc: victim@example.com", "Line breaks are not allowed"),
        ("subject", "Hello\nthere", "Line breaks are not allowed"),
        ("subject", "Hello\x1bthere", "Control characters are not allowed"),
        ("from_email", "news@example.com\r\nBcc: victim@example.com", "Line breaks"),
        ("from_email", "news@example.com, victim@example.com", "Give one plain address"),
        ("from_email", "Boss <boss@example.com>", "Give one plain address"),
        ("from_email", "not-an-address", "Not a valid e-mail address"),
        ("from_name", "Acme\r\nBcc: victim@example.com", "Line breaks are not allowed"),
        ("from_name", "Bank <security@bank.example>", "Commas and angle brackets"),
        ("from_name", "Acme, victim@example.com", "Commas and angle brackets"),
        ("reply_to", "help@example.com\nBcc: victim@example.com", "Line breaks"),
        ("reply_to", "a@example.com,b@example.com", "Give one plain address"),
        ("reply_to", "<help@example.com>", "Give one plain address"),
    ],
)
def test_header_injection_is_refused(api, segment, field, value, message):
    problem = _problem(_campaign(api, segment, **{field: value}))
    assert problem["errors"][field][0].startswith(message), problem
    assert set(problem["errors"]) == {field}


def test_header_injection_is_refused_on_update_too(api, segment):
    campaign = _campaign(api, segment).get_json()
    r = api.patch(
        f"/api/v1/campaigns/{campaign['id']}", json={"reply_to": "a@example.com\r\nBcc: b@x.org"}
    )
    assert "reply_to" in _problem(r)["errors"]


def test_campaign_templates_are_checked(api, segment):
    problem = _problem(_campaign(api, segment, body_html="<p>{{ ''.__class__ }}</p>"))
    assert problem["errors"]["body_html"][0].startswith("Line 1: '__class__' is not available")
    problem = _problem(_campaign(api, segment, subject="{{ contact.first_name }"))
    assert problem["errors"]["subject"][0].startswith("Line 1: ")


def test_unknown_segment_and_template_are_refused(api, segment, records):
    problem = _problem(_campaign(api, segment, segment_id=999999, template_id=999999))
    # references are checked by the core (crmcore.references), one message for every entity
    assert problem["errors"] == {
        "segment_id": [MISSING],
        "template_id": [MISSING],
    }


def test_template_content_is_copied_when_none_is_given(api, segment, template):
    r = api.post(
        "/api/v1/campaigns",
        json={"name": "From template", "segment_id": segment.id, "template_id": template.id},
    )
    assert r.status_code == 201, r.get_json()
    created = r.get_json()
    assert created["subject"] == "Hi {{ contact.first_name }}"
    assert created["body_html"] == BODY
    # what the campaign gives wins over the template
    r = _campaign(api, segment, template_id=template.id, subject="Own subject")
    assert r.get_json()["subject"] == "Own subject"
    assert r.get_json()["body_html"] == BODY


def test_direct_mail_needs_no_subject_nor_sender(api, segment):
    r = api.post(
        "/api/v1/campaigns",
        json={"name": "Letters", "kind": "direct_mail", "segment_id": segment.id},
    )
    assert r.status_code == 201, r.get_json()


def test_content_is_frozen_once_the_campaign_left_draft(api, segment, session):
    created = _campaign(api, segment).get_json()
    url = f"/api/v1/campaigns/{created['id']}"
    # a draft may change
    assert api.patch(url, json={"subject": "Changed"}).status_code == 200
    campaign = session.get(Campaign, created["id"])
    campaign.status = "sending"
    session.commit()
    for field, value in (
        ("subject", "Other"),
        ("body_html", "<p>Other</p>"),
        ("from_email", "other@example.com"),
        ("segment_id", None),
    ):
        problem = _problem(api.patch(url, json={field: value}))
        assert problem["errors"] == {
            field: ["The campaign is no longer a draft: its content cannot change."]
        }
    # the same value again, and fields that are not content, still go through
    assert api.patch(url, json={"subject": "Changed", "name": "Renamed"}).status_code == 200
    session.expire_all()
    assert session.get(Campaign, created["id"]).subject == "Changed"


# -- previews ----------------------------------------------------------------------------------


def test_campaign_preview_for_a_contact(api, segment, make_contact, make_company):
    company = make_company(name="Engines <Ltd>")
    contact = make_contact(first_name="<script>alert(1)</script>", company_id=company.id)
    campaign = _campaign(
        api, segment, body_html=BODY + "<p>{{ company.name }}</p><img src=x onerror=alert(2)>"
    ).get_json()
    r = api.post(f"/api/v1/campaigns/{campaign['id']}/preview", json={"contact_id": contact.id})
    assert r.status_code == 200, r.get_json()
    preview = r.get_json()
    assert set(preview) == {"subject", "html", "text"}
    assert preview["subject"] == "Spring for <script>alert(1)</script>"
    html = preview["html"]
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Engines &lt;Ltd&gt;" in html
    assert "<script" not in html and "onerror" not in html
    # no tracking in previews: the link stays as written, no pixel
    assert 'href="https://shop.example/"' in html and "/m/o/" not in html
    assert preview["text"].startswith(
        "Hello <script>alert(1)</script>, see the shop (https://shop.example/)."
    )


def test_template_preview_without_contact_uses_the_sample(api, template):
    r = api.post(f"/api/v1/email_templates/{template.id}/preview", json={})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["subject"] == "Hi Ada"
    assert "Hello Ada" in r.get_json()["html"]


def test_preview_respects_the_contact_scope(api_as, make_user, make_contact, records, template):
    records.create(
        "roles",
        {
            "name": "campaign_viewer",
            "title": "Campaign viewer",
            "grants": {"email_templates": {"read": "all"}, "contacts": {"read": "own"}},
        },
    )
    viewer = make_user("campaign_viewer")
    mine = make_contact(first_name="Mine", owner_id=viewer.id)
    theirs = make_contact(first_name="Theirs")
    client = api_as(viewer)
    url = f"/api/v1/email_templates/{template.id}/preview"
    r = client.post(url, json={"contact_id": mine.id})
    assert r.status_code == 200 and r.get_json()["subject"] == "Hi Mine", r.get_json()
    problem = _problem(client.post(url, json={"contact_id": theirs.id}))
    assert problem["errors"] == {"contact_id": ["No such contact."]}
    assert "Theirs" not in str(problem)
    problem = _problem(client.post(url, json={"contact_id": 99999999}))
    assert problem["errors"] == {"contact_id": ["No such contact."]}


def test_preview_needs_read_access_to_the_campaign(api_as, make_user, segment, api):
    campaign = _campaign(api, segment).get_json()
    rep = make_user("sales_rep")
    r = api_as(rep).post(f"/api/v1/campaigns/{campaign['id']}/preview", json={})
    assert r.status_code in (403, 404)


# -- test messages -----------------------------------------------------------------------------


def test_test_message_arrives_with_unsubscribe_headers(
    api_as, marketer, segment, smtp_peer, make_contact
):
    client = api_as(marketer)
    campaign = _campaign(client, segment, from_name="Ünïcode News").get_json()
    contact = make_contact(first_name="Grace")
    r = client.post(
        f"/api/v1/campaigns/{campaign['id']}/test",
        json={"to": "tester@example.com", "contact_id": contact.id},
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"to": "tester@example.com", "subject": "[Test] Spring for Grace"}
    (envelope,) = smtp_peer.messages
    assert envelope["rcpt_tos"] == ["tester@example.com"]
    (message,) = smtp_peer.parsed()
    assert message["Subject"] == "[Test] Spring for Grace"
    assert message["To"] == "tester@example.com"
    assert message["From"].addresses[0].display_name == "Ünïcode News"
    assert message["From"].addresses[0].addr_spec == "news@example.com"
    assert message["List-Unsubscribe"].strip().startswith("<http")
    assert message["List-Unsubscribe"].endswith("/m/u/preview>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["X-CRM-Campaign"] == str(campaign["id"])
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Hello Grace" in text and "Hello Grace" in html
    assert 'href="https://shop.example/"' in html  # test messages are not tracked


def test_template_test_message(api, template, smtp_peer):
    r = api.post(f"/api/v1/email_templates/{template.id}/test", json={"to": "t@example.com"})
    assert r.status_code == 200, r.get_json()
    (message,) = smtp_peer.parsed()
    assert message["Subject"] == "[Test] Hi Ada"
    assert "X-CRM-Campaign" not in message


@pytest.mark.parametrize(
    "to",
    [
        "victim@example.com\r\nBcc: other@example.com",
        "a@example.com, b@example.com",
        "Someone <a@example.com>",
        "not-an-address",
    ],
)
def test_test_message_address_is_validated(api, template, smtp_peer, to):
    problem = _problem(api.post(f"/api/v1/email_templates/{template.id}/test", json={"to": to}))
    assert list(problem["errors"]) == ["to"]
    assert smtp_peer.messages == []


def test_test_message_needs_marketing_send(api_as, make_user, template, smtp_peer):
    manager = make_user("manager")  # reads templates, may not send
    r = api_as(manager).post(
        f"/api/v1/email_templates/{template.id}/test", json={"to": "t@example.com"}
    )
    assert _problem(r, 403)
    assert smtp_peer.messages == []


def test_test_messages_are_rate_limited(api_as, marketer, template, smtp_peer):
    client = api_as(marketer)
    url = f"/api/v1/email_templates/{template.id}/test"
    statuses = [client.post(url, json={"to": "t@example.com"}).status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    assert len(smtp_peer.messages) == 10
    assert _problem(client.post(url, json={"to": "t@example.com"}), 429)["title"] == (
        "Too many requests"
    )


def test_test_message_mail_server_failure_is_a_502(api, template, crm):
    crm.settings.smtp_url = "smtp://127.0.0.1:9"  # nothing listens there
    try:
        r = api.post(f"/api/v1/email_templates/{template.id}/test", json={"to": "t@example.com"})
    finally:
        crm.settings.smtp_url = None
    assert _problem(r, 502)["detail"].startswith("The mail server did not take the test message")


def test_what_keeps_a_campaign_from_being_sent(records, segment):
    from crm_marketing.content import ready_problems

    draft = records.create("campaigns", {"name": "Empty"})
    assert ready_problems(draft) == {
        "segment_id": ["Choose the segment to send to."],
        "subject": ["An e-mail campaign needs a subject."],
        "body_html": ["An e-mail campaign needs a body."],
    }
    letters = records.create(
        "campaigns", {"name": "Letters", "kind": "direct_mail", "segment_id": segment.id}
    )
    assert ready_problems(letters) == {}


def test_preview_shows_the_company_only_to_who_may_read_it(
    api, api_as, make_user, make_contact, make_company, records
):
    records.create(
        "roles",
        {
            "name": "template_viewer",
            "title": "Template viewer",
            "grants": {"email_templates": {"read": "all"}, "contacts": {"read": "all"}},
        },
    )
    template = records.create(
        "email_templates",
        {"name": "Co", "subject": "For {{ company.name or 'you' }}", "body_html": "<p>x</p>"},
    )
    contact = make_contact(company_id=make_company(name="Secret Co").id)
    url = f"/api/v1/email_templates/{template.id}/preview"
    assert api.post(url, json={"contact_id": contact.id}).get_json()["subject"] == "For Secret Co"
    viewer = api_as(make_user("template_viewer"))
    assert viewer.post(url, json={"contact_id": contact.id}).get_json()["subject"] == "For you"
