"""The article editor: publish and unpublish as record actions (the status read-only in the
form), the slug derived when left empty, the visibility explained, bad input kept."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.crm_plugins("kb")


def _form(client, url):
    page = client.get(url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, page
    return page, token.group(1)


def test_publish_and_unpublish_are_actions_the_help_centre_follows(
    records, make_user, api_as, client
):
    agent, manager = make_user("support_agent"), make_user("manager")
    draft = api_as(agent).post(
        "/api/v1/articles",
        json={"title": "Reset the router", "body": "Hold *reset*.", "visibility": "public"},
    )
    assert draft.status_code == 201 and draft.get_json()["status"] == "draft"
    article = draft.get_json()
    assert client.get("/help/articles/reset-the-router").status_code == 404
    url = f"/api/v1/articles/{article['id']}"
    assert api_as(agent).post(f"{url}/publish", json={}).status_code == 403  # no kb.publish
    done = api_as(manager).post(f"{url}/publish", json={})
    assert done.status_code == 200 and done.get_json()["status"] == "published"
    assert done.get_json()["published_at"]
    assert "<em>reset</em>" in client.get("/help/articles/reset-the-router").get_data(as_text=True)
    again = api_as(manager).post(f"{url}/publish", json={})
    assert again.status_code == 409
    back = api_as(manager).post(f"{url}/unpublish", json={})
    assert back.status_code == 200 and back.get_json()["status"] == "draft"
    assert client.get("/help/articles/reset-the-router").status_code == 404
    assert api_as(manager).post(f"{url}/unpublish", json={}).status_code == 409


def test_form_locks_status_explains_visibility_and_derives_the_slug(web):
    page, token = _form(web, "/articles/new")
    status = re.search(r'<select id="f-status" name="status".*?</select>', page, re.S)
    assert status and 'value="in_review"' in status.group(0)
    assert 'value="published"' not in status.group(0)  # only the action publishes
    assert "anyone finds it in the help centre" in page and 'id="f-visibility-hint"' in page
    assert "derive it from the title" in page
    r = web.post(
        "/articles/new",
        data={"csrf_token": token, "title": "Change the Wi-Fi name", "slug": "", "body": "x",
              "visibility": "public", "language": "en"},
    )  # fmt: skip
    assert r.status_code == 303, r.get_data(as_text=True)
    show = web.get(r.headers["Location"]).get_data(as_text=True)
    assert "change-the-wi-fi-name" in show and "action-publish" in show
    article_id = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    done = web.post(f"/articles/{article_id}/actions/publish", data={"csrf_token": token})
    assert done.status_code == 303
    edit = web.get(f"/articles/{article_id}/edit").get_data(as_text=True)
    assert 'name="status"' not in edit  # published: read-only beside the form
    assert "action-unpublish" in web.get(f"/articles/{article_id}").get_data(as_text=True)


def test_bad_slug_gets_a_message_on_the_field_and_keeps_the_text(web):
    _page, token = _form(web, "/articles/new")
    r = web.post(
        "/articles/new",
        data={"csrf_token": token, "title": "Ports", "slug": "Bad Slug!", "body": "Keep me typed",
              "visibility": "internal", "language": "en"},
    )  # fmt: skip
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "Use lower-case letters, digits and single hyphens." in html
    assert "Keep me typed" in html and 'value="Bad Slug!"' in html


def test_spanish_form_explains_visibility(web_as, make_user):
    page = web_as(make_user("admin", locale="es")).get("/articles/new").get_data(as_text=True)
    assert "centro de ayuda" in page and "Déjelo vacío" in page


def test_markdown_preview_beside_the_body_live_and_without_javascript(web, web_as, make_user):
    page, token = _form(web, "/articles/new")
    assert 'hx-post="/articles/preview/body"' in page and 'id="f-body-preview"' in page
    hostile = "# Steps\n\n*Hold* reset.\n\n<script>alert(1)</script> [x](javascript:alert(2))"
    # as one types (htmx): the partial, sanitised by the plugin's renderer
    live = web.post("/articles/preview/body", data={"csrf_token": token, "body": hostile})
    html = live.get_data(as_text=True)
    assert live.status_code == 200 and html.startswith('<div class="text-preview"')
    assert "<h1>Steps</h1>" in html and "<em>Hold</em>" in html
    assert "<script" not in html and "&lt;script&gt;" in html and "href=" not in html
    # without JavaScript: the Preview button draws the form again, nothing saved, text kept
    typed = {"csrf_token": token, "title": "Router", "body": "Press **reset**.",
             "visibility": "internal", "language": "en", "_preview": "body"}  # fmt: skip
    again = web.post("/articles/new", data=typed)
    text = again.get_data(as_text=True)
    assert again.status_code == 200 and "<strong>reset</strong>" in text
    assert "Press **reset**." in text and 'value="Router"' in text
    assert web.get("/api/v1/articles?q=Router").status_code in (200, 401)
    # the edit form previews the stored body at once
    saved = web.post("/articles/new", data={**typed, "_preview": ""})
    assert saved.status_code == 303
    edit = web.get(saved.headers["Location"] + "/edit").get_data(as_text=True)
    assert '<div class="text-preview" id="f-body-preview"' in edit
    assert "<strong>reset</strong>" in edit
    # no preview for fields without one, nor for readers who cannot write articles
    assert web.post("/articles/preview/title", data={"csrf_token": token}).status_code == 404
    assert web.post("/contacts/preview/notes", data={"csrf_token": token}).status_code == 404
    rep = web_as(make_user("sales_rep"))
    _p, rep_token = _form(rep, "/articles")
    refused = rep.post("/articles/preview/body", data={"csrf_token": rep_token, "body": "x"})
    assert refused.status_code == 403
    # CSRF applies
    assert web.post("/articles/preview/body", data={"body": "x"}).status_code == 400


def test_spanish_preview(web_as, make_user):
    page = web_as(make_user("admin", locale="es")).get("/articles/new").get_data(as_text=True)
    assert "Vista previa" in page and "Nada que previsualizar todavía." in page
