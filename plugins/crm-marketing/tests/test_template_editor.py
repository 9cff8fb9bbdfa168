"""The template editor: a live preview of what is typed for a contact chosen with the
reference picker, the plain-text part, merge fields, save and a test message; bad input gets a
message on its field and keeps what was typed."""

from __future__ import annotations

import html as html_lib

import pytest
from crm_marketing.models import EmailTemplate
from tracking_kit import csrf_of


@pytest.fixture
def template(records):
    return records.create(
        "email_templates",
        {
            "name": "Spring",
            "subject": "Hello {{ contact.first_name }}",
            "body_html": "<p>Hi {{ contact.first_name }} from {{ company.name }}</p>",
        },
    )


def editor(template):
    return f"/marketing/email_templates/{template.id}/editor"


def form(client, template, **fields):
    page = client.get(editor(template))
    assert page.status_code == 200
    return {"csrf_token": csrf_of(page.get_data(as_text=True)), **fields}


def test_preview_for_a_chosen_contact_with_the_text_part(
    web_as, marketer, template, make_contact, make_company
):
    acme = make_company(name="Acme & Co")
    ana = make_contact(first_name="Ana", email="ana@example.net", company_id=acme.id)
    client = web_as(marketer)
    page = client.get(editor(template) + f"?contact_id={ana.id}").get_data(as_text=True)
    assert 'data-picker data-source="/contacts/picker"' in page  # the core's picker
    assert "{{ contact.first_name }}" in html_lib.unescape(page)  # the merge fields
    assert 'data-testid="preview-subject">Hello Ana<' in page
    data = form(client, template) | {
        "subject": "News for {{ contact.first_name }}",
        "body_html": "<p>Dear {{ contact.first_name }} at {{ company.name }}</p>"
        '<script>alert(1)</script><a href="https://shop.example.com/">shop</a>',
        "body_text": "",
        "contact_id": str(ana.id),
    }
    r = client.post(editor(template) + "/preview", data=data)
    assert r.status_code == 200
    body = r.get_data(as_text=True)
    assert 'data-testid="preview-subject">News for Ana<' in body
    frame = html_lib.unescape(body.split('srcdoc="', 1)[1].split('"', 1)[0])
    assert "Dear Ana at Acme &amp; Co" in frame and "<script" not in frame
    text = body.split('data-testid="preview-text"', 1)[1]
    assert "Dear Ana at Acme & Co" in html_lib.unescape(text)
    assert 'sandbox=""' in body


def test_a_contact_outside_the_scope_previews_as_the_sample(
    web_as, make_user, template, make_contact
):
    hidden = make_contact(first_name="Secret", email="secret@example.net")
    rep = make_user("sales_rep")
    client = web_as(rep)
    page = client.get(editor(template) + f"?contact_id={hidden.id}")
    if page.status_code == 200:
        assert "Secret" not in page.get_data(as_text=True)
    else:
        assert page.status_code in (403, 404)


def test_save_keeps_the_draft_and_a_template_error_is_on_the_field(
    web_as, marketer, template, session
):
    client = web_as(marketer)
    broken = "<p>{% if contact.first_name %}unclosed</p>"
    data = form(client, template) | {
        "subject": "Kept subject",
        "body_html": broken,
        "action": "save",
    }
    r = client.post(editor(template), data=data)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert 'aria-invalid="true"' in page and "Kept subject" in page
    assert html_lib.escape(broken, quote=False) in page
    session.expire_all()
    assert session.get(EmailTemplate, template.id).subject == "Hello {{ contact.first_name }}"

    data |= {"body_html": "<p>Fixed {{ contact.first_name }}</p>"}
    r = client.post(editor(template), data=data)
    assert r.status_code == 303
    session.expire_all()
    saved = session.get(EmailTemplate, template.id)
    assert (saved.subject, saved.body_html) == ("Kept subject", data["body_html"])


def test_a_test_message_is_sent_and_a_bad_address_is_refused(web_as, marketer, template, smtp_peer):
    client = web_as(marketer)
    data = form(client, template) | {
        "subject": "Draft {{ contact.first_name }}",
        "body_html": "<p>Unsaved draft</p>",
        "action": "test",
    }
    bad = client.post(editor(template), data=data | {"to": "not an address"})
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert 'id="to-error"' in page and 'value="not an address"' in page
    assert smtp_peer.messages == []
    ok = client.post(editor(template), data=data | {"to": "me@example.com"})
    assert ok.status_code == 200
    (message,) = smtp_peer.parsed()
    assert message["To"].addresses[0].addr_spec == "me@example.com"
    assert "Unsaved draft" in message.get_body(("html",)).get_content()


def test_read_only_users_cannot_save_or_send(web_as, make_user, template, session, smtp_peer):
    reader = make_user("read_only")
    client = web_as(reader)
    page = client.get(editor(template))
    if page.status_code != 200:
        assert page.status_code in (403, 404)
        return
    data = {"csrf_token": csrf_of(page.get_data(as_text=True)), "subject": "Hacked"}
    assert client.post(editor(template), data=data | {"action": "save"}).status_code in (403, 422)
    client.post(editor(template), data=data | {"action": "test", "to": "me@example.com"})
    assert smtp_peer.messages == []
    session.expire_all()
    assert session.get(EmailTemplate, template.id).subject != "Hacked"
