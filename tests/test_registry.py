"""One entity declared in tests/plugin_widgets.py gets everything from the registry alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.crm_plugins("widgets")

WIDGETS = Path(__file__).with_name("plugin_widgets.py")


def test_the_widgets_plugin_is_small_and_declares_only_an_entity():
    source = WIDGETS.read_text()
    assert len(source.splitlines()) < 40
    tree = ast.parse(source)
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    assert functions == ["crm_entities"]
    assert classes == ["Widget", "WidgetSchema"]


def _create(api, **fields):
    r = api.post("/api/v1/widgets", json={"name": "Sprocket", "colour": "red", **fields})
    assert r.status_code == 201, r.get_json()
    return r


def test_rest_crud(api, admin):
    r = _create(api, tags=["metal"])
    body = r.get_json()
    assert body["name"] == "Sprocket" and body["owner_id"] == admin.id and body["tags"] == ["metal"]
    url = r.headers["Location"]
    assert url.endswith(f"/api/v1/widgets/{body['id']}")
    r = api.get(url)
    assert r.status_code == 200 and r.headers["ETag"] == '"1"'
    r = api.patch(url, json={"colour": "blue"}, headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.get_json()["colour"] == "blue"
    assert api.patch(url, json={"colour": "green"}, headers={"If-Match": '"1"'}).status_code == 412
    listing = api.get("/api/v1/widgets?colour=blue&sort=-name").get_json()
    assert [w["id"] for w in listing["data"]] == [body["id"]]
    assert api.get("/api/v1/widgets?colour=red").get_json()["data"] == []


def test_a_list_sorted_by_a_field_stored_under_another_column_name_pages_on(api):
    """``colour`` is stored in ``colour_code``: the list's plain rows are keyed by the field,
    so a page sorted by it dumps it and makes the cursor of the next page from it."""
    colours = ["red", "green", "blue"]
    ids = [_create(api, name=f"W{n}", colour=c).get_json()["id"] for n, c in enumerate(colours)]
    seen, cursor = [], None
    for _ in range(3):
        url = "/api/v1/widgets?limit=1&sort=colour" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(url)
        assert page.status_code == 200, page.get_json()
        body = page.get_json()
        seen += [(w["id"], w["colour"]) for w in body["data"]]
        cursor = body["next_cursor"]
    assert seen == [(ids[2], "blue"), (ids[1], "green"), (ids[0], "red")]
    assert cursor is None


def test_schema_validation_gives_problem_details(api):
    r = api.post("/api/v1/widgets", json={"name": "", "colour": "purple", "id": 99})
    assert r.status_code == 422
    assert r.mimetype == "application/problem+json"
    errors = r.get_json()["errors"]
    assert set(errors) >= {"name", "colour", "id"}


def test_openapi_entries(api):
    spec = api.get("/api/v1/openapi.json").get_json()
    assert set(spec["paths"]["/api/v1/widgets"]) >= {"get", "post"}
    item = spec["paths"]["/api/v1/widgets/{record_id}"]
    assert set(item) >= {"get", "patch", "delete"}
    assert "post" in spec["paths"]["/api/v1/widgets/{record_id}/restore"]
    assert "get" in spec["paths"]["/api/v1/widgets/{record_id}/history"]
    props = spec["components"]["schemas"]["Widget"]["properties"]
    assert {"name", "colour", "owner_id", "tags", "custom_fields"} <= set(props)


def test_permissions_follow_roles(api_as, make_user, crm, cli):
    rep, reader = make_user("sales_rep"), make_user("read_only")
    r = api_as(make_user("admin")).post("/api/v1/widgets", json={"name": "Cog"})
    widget_url = r.headers["Location"]
    # sales_rep has no grant for widgets; read_only reads "*" until told otherwise
    assert api_as(rep).get("/api/v1/widgets").status_code == 403
    assert api_as(rep).post("/api/v1/widgets", json={"name": "x"}).status_code == 403
    assert api_as(reader).get(widget_url).status_code == 200
    assert api_as(reader).post("/api/v1/widgets", json={"name": "x"}).status_code == 403
    assert api_as(reader).delete(widget_url).status_code == 403

    from sqlalchemy import select

    from crmcore.users.models import Role

    read_only = crm.session.scalar(select(Role).where(Role.name == "read_only"))
    crm.records().update("roles", read_only, {"grants": {"contacts": {"read": "all"}}})
    assert api_as(reader).get("/api/v1/widgets").status_code == 403
    # enabling everyhook grants read_only widgets.read (its crm_role_grants)
    assert cli("plugins", "enable", "everyhook").exit_code == 0
    crm.session.expire_all()
    assert read_only.grants["widgets"] == {"read": "all"}
    assert api_as(reader).get(widget_url).status_code == 200


def test_role_grants_accept_widget_permissions(api):
    r = api.post(
        "/api/v1/roles",
        json={
            "name": "widgeteer",
            "title": "Widgeteer",
            "grants": {"widgets": {"read": "all", "update": "own"}},
        },
    )
    assert r.status_code == 201, r.get_json()
    r = api.post(
        "/api/v1/roles", json={"name": "bad", "title": "Bad", "grants": {"widgets": {"fly": "all"}}}
    )
    assert r.status_code == 422


def test_own_scope_on_widgets(api_as, make_user, api):
    role = api.post(
        "/api/v1/roles",
        json={
            "name": "widget_rep",
            "title": "Widget rep",
            "grants": {"widgets": {"read": "own", "create": "own", "update": "own"}},
        },
    ).get_json()
    assert role.get("id"), role
    me, other = make_user("widget_rep"), make_user("widget_rep")
    mine = _create(api_as(me), name="Mine").get_json()
    theirs = _create(api_as(other), name="Theirs").get_json()
    listed = api_as(me).get("/api/v1/widgets").get_json()["data"]
    assert [w["id"] for w in listed] == [mine["id"]]
    assert api_as(me).get(f"/api/v1/widgets/{theirs['id']}").status_code == 404


def test_audit_history(api, admin):
    url = _create(api).headers["Location"]
    api.patch(url, json={"colour": "green"})
    history = api.get(url + "/history").get_json()["data"]
    assert [h["action"] for h in history] == ["update", "create"]
    assert history[0]["changes"]["colour"] == ["red", "green"]
    assert history[0]["user_id"] == admin.id
    assert history[1]["changes"]["name"] == [None, "Sprocket"]


def test_custom_fields(api):
    r = api.post(
        "/api/v1/custom_fields",
        json={"entity": "widgets", "name": "size", "label": "Size", "type": "number"},
    )
    assert r.status_code == 201, r.get_json()
    r = _create(api, custom_fields={"size": 7})
    assert r.get_json()["custom_fields"] == {"size": 7}
    bad = api.post("/api/v1/widgets", json={"name": "x", "custom_fields": {"size": "big"}})
    assert bad.status_code == 422 and "size" in bad.get_json()["errors"]["custom_fields"]
    unknown = api.post("/api/v1/widgets", json={"name": "x", "custom_fields": {"nope": 1}})
    assert unknown.status_code == 422
    spec = api.get("/api/v1/openapi.json").get_json()
    custom = spec["components"]["schemas"]["Widget"]["properties"]["custom_fields"]
    assert custom["properties"]["size"]["type"] == "number"


def test_search(api):
    _create(api, name="Flux capacitor")
    hits = api.get("/api/v1/search?q=capacitor").get_json()["data"]
    assert [(h["plural"], h["title"]) for h in hits] == [("widgets", "Flux capacitor")]
    listed = api.get("/api/v1/widgets?q=flux").get_json()["data"]
    assert [w["name"] for w in listed] == ["Flux capacitor"]


def test_trash_and_restore(api):
    r = _create(api, name="Gizmo")
    url = r.headers["Location"]
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    assert api.get("/api/v1/widgets").get_json()["data"] == []
    trashed = api.get("/api/v1/widgets?trashed=1").get_json()["data"]
    assert [w["name"] for w in trashed] == ["Gizmo"]
    assert api.get("/api/v1/search?q=gizmo").get_json()["data"] == []
    r = api.post(url + "/restore")
    assert r.status_code == 200 and r.get_json()["name"] == "Gizmo"
    assert api.get(url).status_code == 200
    assert [h["title"] for h in api.get("/api/v1/search?q=gizmo").get_json()["data"]] == ["Gizmo"]
