"""The campaign wizard: audience -> content -> schedule -> review (recipients after opt-outs,
spam-risk hints) -> send; Back and Next keep every answer; bad input is shown on its field."""

from __future__ import annotations

import pytest
from crm_marketing import wizard
from crm_marketing.models import Campaign
from sqlalchemy import select
from tracking_kit import csrf_of

WIZARD = "/marketing/campaigns/wizard"


@pytest.fixture
def setup(records, make_contact):
    for name, out in (("ana", False), ("luis", False), ("eva", True)):
        make_contact(first_name=name, email=f"{name}@example.net", tags=["wiz"], email_opt_out=out)
    make_contact(first_name="noemail", tags=["wiz"], email=None)
    segment = records.create("segments", {"name": "Wizard people", "query": "tags=wiz"})
    template = records.create(
        "email_templates",
        {
            "name": "Wizard news",
            "subject": "BIG WINTER SALE NOW!!",
            "body_html": "<p>Hello {{ contact.first_name }}</p>",
        },
    )
    return segment, template


def post(client, data):
    return client.post(WIZARD, data=data)


def start(client):
    page = client.get(WIZARD)
    assert page.status_code == 200
    return {"csrf_token": csrf_of(page.get_data(as_text=True))}


def test_the_whole_way_with_back_and_next(
    web_as, marketer, setup, session, smtp_peer, immediate_jobs
):
    segment, template = setup
    client = web_as(marketer)
    data = start(client) | {"step": "audience", "name": "Winter", "segment_id": str(segment.id)}
    page = post(client, data | {"action": "next"}).get_data(as_text=True)
    assert 'name="template_id"' in page and 'value="Winter"' in page  # carried along
    data |= {"step": "content", "template_id": str(template.id), "from_email": "news@shop.example"}
    back = post(client, data | {"action": "back"}).get_data(as_text=True)
    assert 'id="wizard-name"' in back and f'value="{template.id}"' in back  # nothing lost
    page = post(client, data | {"action": "next"}).get_data(as_text=True)
    assert 'id="wizard-at"' in page
    data |= {"step": "schedule", "when": "now"}
    review = post(client, data | {"action": "next"}).get_data(as_text=True)
    assert 'data-testid="wizard-recipients">2<' in review  # eva opted out, one has no e-mail
    assert "4 members: 1 opted out, 1 without an e-mail address." in review
    assert "The subject is in capitals." in review
    assert "no unsubscribe link" in review and "exclamation" in review
    data |= {"step": "review"}
    sent = post(client, data | {"action": "send"})
    assert sent.status_code == 303, sent.get_data(as_text=True).split("error-summary")[-1][:600]
    campaign = session.scalar(select(Campaign).where(Campaign.name == "Winter"))
    assert campaign.segment_id == segment.id and campaign.subject == template.subject
    assert sorted(m["To"].addresses[0].addr_spec for m in smtp_peer.parsed()) == [
        "ana@example.net",
        "luis@example.net",
    ]


@pytest.mark.parametrize(
    ("step", "fields", "field", "message"),
    [
        ("audience", {"name": "", "segment_id": "1"}, "name", "Give the campaign a name."),
        ("audience", {"name": "X", "segment_id": ""}, "segment_id", "Choose a segment"),
        ("audience", {"name": "X", "segment_id": "999999"}, "segment_id", "No such segment."),
        ("content", {"template_id": "abc"}, "template_id", "Choose a template."),
        ("content", {"from_email": "not an address"}, "from_email", "address"),
        ("schedule", {"when": "later", "at": "tomorrow"}, "at", "Give a date and time."),
        ("schedule", {"when": "later", "at": "2001-01-01T10:00"}, "at", "in the future"),
    ],
)
def test_bad_answers_stay_on_their_step_with_a_message(
    web_as, marketer, setup, session, step, fields, field, message
):
    segment, template = setup
    client = web_as(marketer)
    data = start(client) | {
        "name": "Kept name",
        "segment_id": str(segment.id),
        "template_id": str(template.id),
        "from_email": "news@shop.example",
        "step": step,
        **fields,
        "action": "next",
    }
    r = post(client, data)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert message in html and f'id="{field}-error"' in html
    assert session.scalar(select(Campaign)) is None


def test_a_hand_made_send_skips_no_check(web_as, marketer, setup, session):
    segment, _template = setup
    client = web_as(marketer)
    data = start(client) | {"step": "review", "name": "Sneaky", "segment_id": str(segment.id)}
    r = post(client, data | {"action": "send"})
    assert r.status_code == 422 and 'id="template_id-error"' in r.get_data(as_text=True)
    assert session.scalar(select(Campaign)) is None


def test_without_the_send_permission_nothing_is_sent(web_as, make_user, setup, session):
    segment, template = setup
    client = web_as(make_user("read_only"))
    page = client.get(WIZARD)
    if page.status_code != 200:
        return
    data = {"csrf_token": csrf_of(page.get_data(as_text=True)), "step": "review"}
    data |= {"name": "No", "segment_id": str(segment.id), "template_id": str(template.id)}
    r = post(client, data | {"action": "send"})
    assert r.status_code in (403, 422)
    assert session.scalar(select(Campaign)) is None


def test_spam_hints():
    assert wizard.spam_hints("Spring news", '<a href="{{ unsubscribe_url }}">x</a>', None) == []
    many = "".join(f'<a href="https://e.example/{i}">{i}</a>' for i in range(20))
    hints = wizard.spam_hints("Spring news", many + "{{ unsubscribe_url }}", None)
    assert any("20 links" in h for h in hints)
    assert wizard.spam_hints("OK", "{{ unsubscribe_url }}", None) == []  # short caps are fine
