"""Articles and categories through the API: fields, rules, translations, revisions."""

import pytest
from crm_kb.models import KbRevision

pytestmark = pytest.mark.crm_plugins("kb")


def create(api, **data):
    body = {"title": "Reset a password", "body": "Step **one**.", **data}
    return api.post("/api/v1/articles", json=body)


def test_create_article_renders_and_derives(api, admin):
    r = create(api, tags=["account"])
    assert r.status_code == 201, r.get_json()
    data = r.get_json()
    assert data["slug"] == "reset-a-password"
    assert data["status"] == "draft" and data["visibility"] == "internal"
    assert data["language"] == "en"
    assert data["body_html"] == "<p>Step <strong>one</strong>.</p>\n"
    assert data["summary"] == "Step one."
    assert data["author_id"] == admin.id


def test_script_in_body_and_title_is_neutralised(api, client):
    r = create(api, title="<script>alert(1)</script>", body="<script>alert(2)</script>",
               status="published", visibility="public", slug="xss")  # fmt: skip
    assert "<script" not in r.get_json()["body_html"]
    page = client.get("/help/articles/xss").get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_slug_unique_per_language(api):
    assert create(api, slug="same").status_code == 201
    r = create(api, slug="same")
    assert r.status_code == 422 and "slug" in r.get_json()["errors"]
    assert create(api, slug="same", language="es").status_code == 201


def test_automatic_slugs_get_a_suffix(api):
    first = create(api).get_json()["slug"]
    second = create(api).get_json()["slug"]
    assert (first, second) == ("reset-a-password", "reset-a-password-2")


@pytest.mark.parametrize("slug", ["123", "Has Space", "a--b", "-x"])
def test_bad_slugs_are_refused(api, slug):
    r = create(api, slug=slug)
    assert r.status_code == 422 and "slug" in r.get_json()["errors"]


def test_status_visibility_language_are_validated(api):
    for field, value in (("status", "live"), ("visibility", "secret"), ("language", "fr")):
        r = create(api, **{field: value})
        assert r.status_code == 422 and field in r.get_json()["errors"]


def test_publishing_stamps_date_and_reviewer(api, admin):
    article = create(api, status="in_review").get_json()
    assert article["published_at"] is None
    r = api.patch(f"/api/v1/articles/{article['id']}", json={"status": "published"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["published_at"] and r.get_json()["reviewer_id"] == admin.id


def test_publishing_needs_the_permission(make_user, api_as, api):
    agent = api_as(make_user("support_agent"))
    article = create(agent).get_json()
    r = agent.patch(f"/api/v1/articles/{article['id']}", json={"status": "published"})
    assert r.status_code == 422 and "status" in r.get_json()["errors"]
    r = agent.patch(f"/api/v1/articles/{article['id']}", json={"status": "in_review"})
    assert r.status_code == 200
    manager = api_as(make_user("manager"))
    r = manager.patch(f"/api/v1/articles/{article['id']}", json={"status": "published"})
    assert r.status_code == 200, r.get_json()


def test_unknown_category_is_refused(api):
    r = create(api, category_id=999999)
    assert r.status_code == 422 and "category_id" in r.get_json()["errors"]


def test_category_tree_refuses_cycles(api):
    top = api.post("/api/v1/categories", json={"name": "Top"}).get_json()
    mid = api.post("/api/v1/categories", json={"name": "Mid", "parent_id": top["id"]}).get_json()
    low = api.post("/api/v1/categories", json={"name": "Low", "parent_id": mid["id"]}).get_json()
    assert top["slug"] == "top"
    r = api.patch(f"/api/v1/categories/{top['id']}", json={"parent_id": low["id"]})
    assert r.status_code == 422 and "parent_id" in r.get_json()["errors"]
    r = api.patch(f"/api/v1/categories/{top['id']}", json={"parent_id": top["id"]})
    assert r.status_code == 422
    r = api.patch(f"/api/v1/categories/{low['id']}", json={"parent_id": top["id"]})
    assert r.status_code == 200


def test_translations_are_linked_to_the_original(api):
    en = create(api).get_json()
    es = create(api, title="Restablecer", language="es", translation_of_id=en["id"]).get_json()
    assert es["translation_of_id"] == en["id"]
    # a translation of the translation points at the original
    r = create(api, title="Otra", language="es", translation_of_id=es["id"])
    assert r.status_code == 422 and "language" in r.get_json()["errors"]
    r = create(api, title="Same language", translation_of_id=en["id"])
    assert r.status_code == 422 and "language" in r.get_json()["errors"]
    r = api.get(f"/api/v1/articles?translation_of_id={en['id']}")
    assert [a["id"] for a in r.get_json()["data"]] == [es["id"]]


def test_every_title_or_body_change_makes_a_revision(api, session):
    article = create(api).get_json()
    url = f"/api/v1/articles/{article['id']}"
    api.patch(url, json={"body": "Step two."})
    api.patch(url, json={"status": "in_review"})  # not a revision
    api.patch(url, json={"title": "Reset your password"})
    data = api.get(f"{url}/revisions").get_json()["data"]
    assert [r["number"] for r in data] == [3, 2, 1]
    assert data[0]["title"] == "Reset your password"
    detail = api.get(f"{url}/revisions/2").get_json()
    assert detail["body"] == "Step two."
    assert "-Step **one**." in detail["diff"] and "+Step two." in detail["diff"]


def test_restore_brings_back_a_revision(api):
    article = create(api).get_json()
    url = f"/api/v1/articles/{article['id']}"
    api.patch(url, json={"title": "Changed", "body": "Wrong text."})
    r = api.post(f"{url}/revisions/1/restore")
    assert r.status_code == 200, r.get_json()
    data = r.get_json()["data"]
    assert data[0]["number"] == 3 and data[0]["note"] == "Restored from revision 1"
    current = api.get(url).get_json()
    assert (current["title"], current["body"]) == ("Reset a password", "Step **one**.")
    assert current["body_html"] == "<p>Step <strong>one</strong>.</p>\n"


def test_revisions_of_unknown_things_are_404(api):
    article = create(api).get_json()
    assert api.get("/api/v1/articles/999999/revisions").status_code == 404
    assert api.get(f"/api/v1/articles/{article['id']}/revisions/99").status_code == 404
    assert api.post(f"/api/v1/articles/{article['id']}/revisions/99/restore").status_code == 404


def test_restore_needs_update_rights(api, api_as, make_user):
    article = create(api).get_json()
    rep = api_as(make_user("sales_rep"))
    assert rep.get(f"/api/v1/articles/{article['id']}/revisions").status_code == 200
    r = rep.post(f"/api/v1/articles/{article['id']}/revisions/1/restore")
    assert r.status_code == 403


def test_vetoed_write_leaves_no_revision(api, session):
    article = create(api).get_json()
    r = api.patch(f"/api/v1/articles/{article['id']}", json={"title": "New", "slug": "123"})
    assert r.status_code == 422
    assert session.query(KbRevision).filter_by(article_id=article["id"]).count() == 1


def test_internal_articles_are_searchable_in_the_ui(api, make_article, client, admin, sign_in):
    make_article("Secret refund rules", visibility="internal", body="Refund zebra policy")
    make_article("Public shipping", body="Shipping times")
    sign_in(client, admin)
    page = client.get("/articles?q=zebra").get_data(as_text=True)
    assert "Secret refund rules" in page and "Public shipping" not in page
    r = api.get("/api/v1/articles?q=zebra")
    assert [a["title"] for a in r.get_json()["data"]] == ["Secret refund rules"]


def test_disabling_hides_routes_and_keeps_rows(api, client, cli, make_article, records):
    article = make_article()
    assert cli("plugins", "disable", "kb").exit_code == 0
    assert api.get("/api/v1/articles").status_code == 404
    assert client.get(f"/help/articles/{article.slug}").status_code == 404
    assert cli("plugins", "enable", "kb").exit_code == 0
    assert records.get("articles", article.id).title == article.title
