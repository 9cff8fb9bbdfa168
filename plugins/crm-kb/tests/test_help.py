"""The public help centre: what anonymous visitors see, caching, feedback, views, search."""

import pytest
from crm_kb.models import KbFeedback, KbSearch, KbViewDay
from sqlalchemy import func, select

from crmcore.links import base_url
from crmcore.settings import Setting

pytestmark = pytest.mark.crm_plugins("kb")

HIDDEN = (
    {"status": "draft"},
    {"status": "in_review"},
    {"status": "archived"},
    {"visibility": "internal"},
)


def text(client, url, status=200):
    r = client.get(url)
    assert r.status_code == status, (url, r.status_code)
    return r.get_data(as_text=True)


def test_help_centre_needs_no_sign_in(client, make_article, records):
    category = records.create("categories", {"name": "Getting started", "description": "Basics"})
    make_article("Welcome aboard", category_id=category.id)
    page = text(client, "/help/")
    assert "Getting started" in page and "Welcome aboard" in page
    page = text(client, "/help/categories/getting-started")
    assert "Welcome aboard" in page and "<title>Getting started" in page
    assert '<meta name="description" content="Basics">' in page


def test_article_page_by_slug_and_id(client, make_article):
    article = make_article("Reset a password", body="Open **settings**.", tags=["account"])
    page = text(client, "/help/articles/reset-a-password")
    assert "<strong>settings</strong>" in page
    assert "<title>Reset a password · " in page
    assert '<meta name="description" content="Open settings.">' in page
    # the canonical link is on the instance's public address, never the request's Host
    assert f'rel="canonical" href="{base_url()}/help/articles/reset-a-password"' in page
    assert "Reset a password" in text(client, f"/help/articles/{article.id}")


@pytest.mark.parametrize("hidden", HIDDEN, ids=lambda h: next(iter(h.values())))
def test_unpublished_or_internal_articles_are_never_shown(client, make_article, hidden):
    article = make_article("Zebra secret", body="zebra words", **hidden)
    make_article("Visible one", body="zebra words too")
    text(client, f"/help/articles/{article.slug}", 404)
    text(client, f"/help/articles/{article.id}", 404)
    assert "Zebra secret" not in text(client, "/help/")
    found = text(client, "/help/search?q=zebra")
    assert "Zebra secret" not in found and "Visible one" in found
    assert client.get(f"/help/articles/{article.id}/feedback").status_code == 404


def test_trashed_articles_are_not_shown(client, make_article, records):
    article = make_article("Gone soon")
    records.delete("articles", article.id)
    text(client, f"/help/articles/{article.slug}", 404)


@pytest.mark.parametrize(
    "ref", ["nope", "99999999", "9" * 40, "a" * 500, "%3Cscript%3E", "..%2F..%2Fetc", "%00"]
)
def test_unknown_articles_are_404_not_500(client, ref):
    assert client.get(f"/help/articles/{ref}").status_code == 404


@pytest.mark.parametrize("slug", ["nothing-here", "%00", "a" * 400, "Bad Slug"])
def test_unknown_category_is_404(client, slug):
    text(client, f"/help/categories/{slug}", 404)


@pytest.mark.parametrize(
    "q",
    ['"', "'", "*", "a AND", "NOT", "(", ")", "-x", 'x"y', "foo:bar", "^", "~", "&|!",
     "NEAR(a b)", "%", "%00", "_", "\\", "<script>alert(1)</script>", "a" * 300, "💥"],
)  # fmt: skip
def test_search_syntax_never_breaks(client, make_article, q):
    make_article("Anything", body="anything at all")
    page = text(client, f"/help/search?q={q}")
    assert "<script>alert(1)</script>" not in page


def test_search_finds_published_public_articles(client, make_article):
    make_article("Shipping times", body="We ship parcels in two days.")
    make_article("Returns", body="Send the parcel back.")
    page = text(client, "/help/search?q=parcel")
    assert "Shipping times" in page and "Returns" in page
    assert "Returns" not in text(client, "/help/search?q=ship+days")


def test_searches_are_logged_with_their_result_count(client, session, make_article):
    make_article("Shipping times", body="We ship parcels.")
    client.get("/help/search?q=parcels")
    client.get("/help/search?q=unicorn")
    rows = session.execute(select(KbSearch.terms, KbSearch.results).order_by(KbSearch.id)).all()
    assert [tuple(r) for r in rows] == [("parcels", 1), ("unicorn", 0)]


def test_pages_are_cacheable_and_conditional(client, make_article):
    article = make_article()
    r = client.get(f"/help/articles/{article.slug}")
    assert "public" in r.headers["Cache-Control"] and "max-age=300" in r.headers["Cache-Control"]
    assert "no-store" not in r.headers["Cache-Control"]
    assert r.headers["ETag"] and r.headers["Last-Modified"]
    assert "csrf_token" not in r.get_data(as_text=True)  # a shared page holds no session token
    again = client.get(
        f"/help/articles/{article.slug}", headers={"If-None-Match": r.headers["ETag"]}
    )
    assert again.status_code == 304


def test_views_are_counted(client, make_article, session):
    article = make_article()
    for _ in range(3):
        client.get(f"/help/articles/{article.slug}")
    views = session.scalar(
        select(func.sum(KbViewDay.views)).where(KbViewDay.article_id == article.id)
    )
    assert views == 3


def test_branding_and_spanish(client, make_article, session):
    session.add(Setting(key="company_name", value="Acme <Corp>"))
    session.commit()
    make_article("Pay by card", body="We take cards.")
    page = text(client, "/help/?lang=es")
    assert "Acme &lt;Corp&gt;" in page and '<html lang="es">' in page
    assert "Centro de ayuda" in page and "Últimos artículos" in page
    assert "Pay by card" in page  # no Spanish article yet: every language is listed
    assert "Centro de ayuda" not in text(client, "/help/?lang=en")
    page = client.get("/help/", headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert "Centro de ayuda" in page.get_data(as_text=True)


def test_translations_are_linked(client, make_article):
    en = make_article("Reset a password")
    make_article("Restablecer la contraseña", language="es", translation_of_id=en.id)
    page = text(client, "/help/articles/reset-a-password")
    assert 'hreflang="es"' in page and "restablecer-la-contrasena" in page


def test_related_articles_share_category_or_tags(client, make_article, records):
    cat = records.create("categories", {"name": "Billing"})
    main = make_article("Invoices", category_id=cat.id)
    make_article("Refunds", category_id=cat.id)
    make_article("Card fees", tags=["cards"])
    make_article("Unrelated")
    make_article("Tagged", tags=["cards"])
    page = text(client, f"/help/articles/{main.slug}")
    assert "Refunds" in page and "Unrelated" not in page
    tagged = make_article("Card limits", tags=["cards"])
    page = text(client, f"/help/articles/{tagged.slug}")
    assert "Card fees" in page and "Tagged" in page and "Unrelated" not in page


def feedback_form(client, article, csrf_token):
    return csrf_token(text(client, f"/help/articles/{article.id}/feedback"))


def test_feedback_needs_a_csrf_token(client, make_article, session):
    article = make_article()
    r = client.post(f"/help/articles/{article.id}/feedback", data={"helpful": "yes"})
    assert r.status_code == 400
    assert session.scalar(select(func.count(KbFeedback.id))) == 0


def test_one_vote_per_session(client, make_article, session, csrf_token):
    article = make_article()
    token = feedback_form(client, article, csrf_token)
    url = f"/help/articles/{article.id}/feedback"
    r = client.post(url, data={"csrf_token": token, "helpful": "no"}, headers={"HX-Request": "1"})
    assert r.status_code == 200 and "Thank you" in r.get_data(as_text=True)
    client.post(url, data={"csrf_token": token, "helpful": "no"})
    votes = session.scalars(select(KbFeedback.helpful).where(KbFeedback.article_id == article.id))
    assert list(votes) == [False]
    assert "Thank you" in text(client, url)


def test_bad_vote_is_refused(client, make_article, csrf_token):
    article = make_article()
    token = feedback_form(client, article, csrf_token)
    r = client.post(
        f"/help/articles/{article.id}/feedback", data={"csrf_token": token, "helpful": "maybe"}
    )
    assert r.status_code == 400


def test_feedback_is_rate_limited(app, make_article, csrf_token):
    statuses = []
    for n in range(12):
        article = make_article(f"Article {n}")
        fresh = app.test_client()  # a new session each time, same address
        token = feedback_form(fresh, article, csrf_token)
        r = fresh.post(
            f"/help/articles/{article.id}/feedback", data={"csrf_token": token, "helpful": "yes"}
        )
        statuses.append(r.status_code)
    assert statuses[:10] == [200] * 10 and statuses[10:] == [429, 429]


def test_demo_data_makes_a_working_help_centre(records, client):
    import random

    from crm_kb.demo import create_demo

    from crmcore import DemoContext

    create_demo(DemoContext(records=records, random=random.Random(1)))
    page = text(client, "/help/?lang=es")
    assert "¿Cómo restablezco mi contraseña?" in page
    assert "Refund policy for agents" not in text(client, "/help/search?q=refund")
    page = text(client, "/help/articles/how-do-i-reset-my-password")
    assert 'hreflang="es"' in page
