"""For agents: ticket panel suggestions, the suggestion API, deflections, reports, widgets."""

from pathlib import Path
from types import SimpleNamespace

import pytest
from babel.messages.pofile import read_po
from crm_kb.models import KbDeflection
from crm_kb.panels import ticket_suggestions
from sqlalchemy import select

from crmcore.settings import base_url

pytestmark = pytest.mark.crm_plugins("kb")
PO = Path(__file__).parents[1] / "crm_kb/translations/es/LC_MESSAGES/messages.po"


def ticket(subject, description=""):
    return SimpleNamespace(id=1, subject=subject, description=description)


@pytest.fixture(autouse=True)
def request_context(app):
    """Panels render inside a page request."""
    with app.test_request_context():
        yield


def test_ticket_panel_suggests_published_articles(crm, records, make_article):
    make_article("Reset your password", body="Use the forgot password link.")
    make_article("Refund rules", visibility="internal", body="Refunds need approval.")
    make_article("Password draft", status="draft", body="password")
    html = ticket_suggestions(
        ticket("Cannot log in", "I forgot my password, please help <script>x</script>"),
        None,
        records,
    )
    assert "Reset your password" in html and "Password draft" not in html
    assert 'class="kb-insert"' in html and 'data-title="Reset your password"' in html
    assert '<script src="/help/assets/kb-insert.js" defer></script>' in html
    assert f"{base_url(crm)}/help/articles/reset-your-password" in html
    html = ticket_suggestions(ticket("Refund", "I want a refund"), None, records)
    assert "Refund rules" in html and "Internal" in html


def test_ticket_panel_escapes_titles(records, make_article):
    make_article("<b>Password</b> help", body="password")
    html = ticket_suggestions(ticket("password"), None, records)
    assert "<b>Password</b>" not in html and "&lt;b&gt;Password&lt;/b&gt;" in html
    assert 'data-title="&lt;b&gt;Password&lt;/b&gt; help"' in html


def test_ticket_panel_is_hidden_without_read_rights(crm, make_user, make_article):
    from crmcore.permissions import Access

    make_article("Reset your password")
    user = make_user("marketer")
    assert ticket_suggestions(ticket("password"), user, crm.records(Access.for_user(user))) is None


def test_ticket_panel_is_harmless_without_support(crm, admin, make_contact, client, sign_in):
    panels = [p for _plugin, p in crm.collect("crm_record_panels") if p.name == "kb-suggestions"]
    assert panels and panels[0].entity == "ticket"
    assert "ticket" not in {e.name for e in crm.entities()}
    contact = make_contact()
    sign_in(client, admin)
    assert client.get(f"/contacts/{contact.id}").status_code == 200


def test_article_page_shows_preview_and_revisions(client, admin, sign_in, make_article, api):
    article = make_article("Pay by card", body="We take **cards**.")
    api.patch(f"/api/v1/articles/{article.id}", json={"body": "We take *cards*."})
    sign_in(client, admin)
    page = client.get(f"/articles/{article.id}").get_data(as_text=True)
    assert "<em>cards</em>" in page and f"/kb/articles/{article.id}/revisions/2" in page
    page = client.get(f"/kb/articles/{article.id}/revisions/2").get_data(as_text=True)
    assert "-We take **cards**." in page and "+We take *cards*." in page


def test_suggest_api_for_anonymous_callers_is_public_only(client, make_article):
    make_article("Reset your password", body="forgot password")
    make_article("Password internals", visibility="internal", body="password")
    r = client.get("/api/v1/kb/suggest?q=I forgot my password")
    assert r.status_code == 200, r.get_json()
    data = r.get_json()["data"]
    assert [a["title"] for a in data] == ["Reset your password"]
    assert data[0]["url"].endswith("/help/articles/reset-your-password")


def test_suggest_api_for_agents_includes_internal(api, make_article):
    make_article("Password internals", visibility="internal", body="password")
    data = api.get("/api/v1/kb/suggest?q=password").get_json()["data"]
    assert [a["title"] for a in data] == ["Password internals"] and data[0]["url"] is None


@pytest.mark.parametrize("q", ["", "   ", '"*()', "the and for", "<script>", "\x00"])
def test_suggest_api_odd_input(client, q):
    r = client.get("/api/v1/kb/suggest", query_string={"q": q})
    assert r.status_code == 200 and r.get_json() == {"data": []}


def test_opening_a_suggestion_counts_a_deflection(client, make_article, session):
    article = make_article("Reset your password", body="password")
    html = client.get("/help/suggest?q=password&source=portal").get_data(as_text=True)
    assert "Reset your password" in html and f"/help/go/{article.id}" in html
    r = client.get(f"/help/go/{article.id}?q=password&source=portal")
    assert r.status_code == 303 and "/help/articles/reset-your-password" in r.headers["Location"]
    rows = session.execute(select(KbDeflection.article_id, KbDeflection.query)).all()
    assert [tuple(r) for r in rows] == [(article.id, "password")]


def test_deflection_api(client, make_article, session):
    article = make_article()
    hidden = make_article("Draft", status="draft")
    r = client.post("/api/v1/kb/deflections", json={"article_id": article.id, "query": "pw"})
    assert r.status_code == 201, r.get_json()
    r = client.post("/api/v1/kb/deflections", json={"article_id": hidden.id})
    assert r.status_code == 422
    assert client.get(f"/help/go/{hidden.id}").status_code == 404
    assert session.scalar(select(KbDeflection.article_id)) == article.id


def test_reports(api, client, make_article, csrf_token):
    popular = make_article("Popular")
    poor = make_article("Poor")
    for _ in range(3):
        client.get(f"/help/articles/{popular.slug}")
    client.get(f"/help/articles/{poor.slug}")
    for n in range(3):
        fresh = client.application.test_client()
        token = csrf_token(fresh.get(f"/help/articles/{poor.id}/feedback").get_data(as_text=True))
        vote = "yes" if n == 0 else "no"
        fresh.post(
            f"/help/articles/{poor.id}/feedback", data={"csrf_token": token, "helpful": vote}
        )
    client.get("/help/search?q=unicorn+saddle")
    client.get("/help/search?q=Unicorn saddle!")
    client.get(f"/help/go/{popular.id}?q=x")
    viewed = api.get("/api/v1/kb/reports/most-viewed").get_json()["data"]
    assert [(r["title"], r["views"]) for r in viewed] == [("Popular", 3), ("Poor", 1)]
    helpful = api.get("/api/v1/kb/reports/least-helpful").get_json()["data"]
    assert helpful == [{"id": poor.id, "title": "Poor", "helpful": 1, "not_helpful": 2,
                        "helpful_share": 0.333}]  # fmt: skip
    gaps = api.get("/api/v1/kb/reports/content-gaps").get_json()["data"]
    assert gaps[0]["terms"] == "unicorn saddle" and gaps[0]["searches"] == 2
    deflections = api.get("/api/v1/kb/reports/deflections").get_json()["data"]
    assert deflections["total"] == 1 and deflections["articles"][0]["id"] == popular.id


def test_reports_need_the_permission(api_as, make_user, api):
    assert api_as(make_user("sales_rep")).get("/api/v1/kb/reports/most-viewed").status_code == 403
    assert api_as(make_user("manager")).get("/api/v1/kb/reports/most-viewed").status_code == 200
    assert api.get("/api/v1/kb/reports/nope").status_code == 404
    assert api.get("/api/v1/kb/reports/most-viewed?days=x").status_code == 422


def test_dashboard_widgets(client, admin, sign_in, make_article, make_user):
    article = make_article("Popular")
    client.get(f"/help/articles/{article.slug}")
    sign_in(client, admin)
    page = client.get("/").get_data(as_text=True)
    assert "Most viewed articles" in page and "Searches without results" in page
    other = client.application.test_client()
    sign_in(other, make_user("sales_rep"))
    assert "Most viewed articles" not in other.get("/").get_data(as_text=True)


def test_every_spanish_message_is_translated():
    with PO.open("rb") as f:
        catalog = read_po(f)
    missing = [
        m.id
        for m in catalog
        if m.id and not (m.string if isinstance(m.string, str) else all(m.string))
    ]
    assert missing == []


@pytest.mark.crm_plugins("kb", "support")
def test_insert_in_reply_sits_beside_the_ticket_reply_box(web_as, make_user, records, make_article):
    make_article("Reset your password", body="Use the forgot password link.")
    agent = make_user("support_agent")
    ticket_ = records.create(
        "tickets", {"subject": "Forgot my password", "description": "password reset please"}
    )
    html = web_as(agent).get(f"/tickets/{ticket_.id}").get_data(as_text=True)
    # the button the script wires and the reply box it writes into, on the same page
    assert 'class="kb-insert"' in html and 'id="reply-body"' in html
    assert "/help/articles/reset-your-password" in html
    script = (Path(__file__).parents[1] / "crm_kb/static/kb-insert.js").read_text()
    assert "textarea#reply-body" in script
