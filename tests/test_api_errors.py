"""Every error is problem+json; bad bodies, read-only fields, unknown ids, methods; the OpenAPI."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openapi_spec_validator import validate

CONTACTS = "/api/v1/contacts"
PROBLEM = "application/problem+json"


def problem(response: Any, status: int) -> dict[str, Any]:
    """Check the RFC 9457 shape and return the body."""
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body  # type: ignore[no-any-return]


def raw_post(
    api: Any, url: str, data: bytes | str, content_type: str | None, method: str = "post"
) -> Any:
    headers = {"Content-Type": content_type} if content_type else {}
    return getattr(api, method)(url, data=data, headers=headers)


# shape ---------------------------------------------------------------------------------------


def test_validation_error_has_per_field_errors(api: Any) -> None:
    body = problem(api.post(CONTACTS, json={"email": "nope", "country": "XX"}), 422)
    assert set(body["errors"]) == {"email", "country"}
    assert all(isinstance(m, list) and m and isinstance(m[0], str) for m in body["errors"].values())
    assert body["instance"] == CONTACTS


def test_nested_field_errors_name_the_item(api: Any) -> None:
    body = problem(
        api.post(
            CONTACTS,
            json={"last_name": "X", "emails": [{"value": "ok@example.com"}, {"value": "bad"}]},
        ),
        422,
    )
    assert "1" in body["errors"]["emails"]
    assert "value" in body["errors"]["emails"]["1"]


def test_unauthenticated_is_problem_json(client: Any) -> None:
    r = client.get(CONTACTS)
    problem(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    problem(client.get(CONTACTS, headers={"Authorization": "Bearer nonsense"}), 401)
    problem(client.get(CONTACTS, headers={"Authorization": "Basic Zm9vOmJhcg=="}), 401)


def test_forbidden_is_problem_json(api_as: Any, make_user: Any) -> None:
    reader = api_as(make_user("read_only"))
    problem(reader.post(CONTACTS, json={"last_name": "X"}), 403)


def test_conflict_is_problem_json(api: Any) -> None:
    assert api.post("/api/v1/teams", json={"name": "Red"}).status_code == 201
    body = problem(api.post("/api/v1/teams", json={"name": "Red"}), 409)
    assert "password" not in body["detail"].lower() and "sql" not in body["detail"].lower()


# bodies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", ['{"last_name": ', "{'last_name': 'x'}", "{", "nan", '{"a": 1,}', "\xff\xfe"]
)
def test_malformed_json_is_400(api: Any, data: str) -> None:
    problem(raw_post(api, CONTACTS, data, "application/json"), 400)
    assert api.get(CONTACTS).get_json()["data"] == []


def test_empty_body_is_400(api: Any, make_contact: Any) -> None:
    problem(raw_post(api, CONTACTS, b"", "application/json"), 400)
    problem(raw_post(api, f"{CONTACTS}/{make_contact().id}", b"", "application/json", "patch"), 400)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
    ],
)
def test_wrong_content_type_is_415(api: Any, make_contact: Any, content_type: str | None) -> None:
    body = '{"last_name": "X"}'
    problem(raw_post(api, CONTACTS, body, content_type), 415)
    url = f"{CONTACTS}/{make_contact().id}"
    problem(raw_post(api, url, body, content_type, "patch"), 415)
    assert api.get(CONTACTS).get_json()["data"][0]["last_name"] != "X"


def test_json_with_charset_is_accepted(api: Any) -> None:
    r = raw_post(api, CONTACTS, '{"last_name": "Ünïcode"}', "application/json; charset=utf-8")
    assert r.status_code == 201, r.get_json()


def test_body_over_one_megabyte_is_413(api: Any) -> None:
    big = json.dumps({"last_name": "X", "description": "x" * (1024 * 1024)})
    problem(raw_post(api, CONTACTS, big, "application/json"), 413)
    assert api.get(CONTACTS).get_json()["data"] == []


@pytest.mark.parametrize("data", ["[]", '[{"last_name": "X"}]', '"text"', "42", "true", "null"])
def test_json_that_is_not_an_object_is_422(api: Any, make_contact: Any, data: str) -> None:
    problem(raw_post(api, CONTACTS, data, "application/json"), 422)
    problem(
        raw_post(api, f"{CONTACTS}/{make_contact().id}", data, "application/json", "patch"), 422
    )


def test_unknown_fields_are_named(api: Any, make_contact: Any) -> None:
    body = problem(api.post(CONTACTS, json={"last_name": "X", "shoe": 42, "is_admin": True}), 422)
    assert {"shoe", "is_admin"} <= set(body["errors"])
    url = f"{CONTACTS}/{make_contact().id}"
    body = problem(api.patch(url, json={"colour": "red"}), 422)
    assert "colour" in body["errors"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("id", 999),
        ("created_at", "2001-01-01T00:00:00Z"),
        ("updated_at", "2001-01-01T00:00:00Z"),
        ("version", 99),
        ("deleted_at", "2001-01-01T00:00:00Z"),
        ("email_opt_out_at", "2001-01-01T00:00:00Z"),
    ],
)
def test_read_only_fields_are_refused_and_never_applied(
    api: Any, make_contact: Any, field: str, value: Any
) -> None:
    body = problem(api.post(CONTACTS, json={"last_name": "X", field: value}), 422)
    assert field in body["errors"]
    assert api.get(CONTACTS).get_json()["data"] == []
    contact = make_contact()
    url = f"{CONTACTS}/{contact.id}"
    before = api.get(url)
    body = problem(api.patch(url, json={"title": "Changed", field: value}), 422)
    assert field in body["errors"]
    after = api.get(url)
    assert after.get_json() == before.get_json()
    assert after.headers["ETag"] == before.headers["ETag"]


@pytest.mark.parametrize(
    "url, data, field",
    [
        ("/api/v1/teams", {"name": "T", "member_ids": [2**70]}, "member_ids"),
        ("/api/v1/users", {"email": "big@example.com", "role_id": 2**40}, "role_id"),
        (
            "/api/v1/custom_fields",
            {
                "entity": "contacts",
                "name": "big",
                "label": "Big",
                "type": "text",
                "position": 2**40,
            },
            "position",
        ),
    ],
)
def test_numbers_too_big_for_their_column_are_422(
    api: Any, url: str, data: dict[str, Any], field: str
) -> None:
    body = problem(api.post(url, json=data), 422)
    assert field in body["errors"]


def test_users_cannot_set_password_hash_or_role_of_themselves(api_as: Any, make_user: Any) -> None:
    user = make_user("admin")
    client = api_as(user)
    body = problem(client.patch(f"/api/v1/users/{user.id}", json={"password_hash": "x"}), 422)
    assert "password_hash" in body["errors"]


# ids and methods -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/999999",
        "/abc",
        "/1.5",
        "/-1",
        "/0x10",
        "/%20",
        "/999999/history",
        "/999999/timeline",
        "/abc/history",
    ],
)
def test_unknown_or_malformed_ids_are_404(api: Any, path: str) -> None:
    problem(api.get(CONTACTS + path), 404)


def test_unknown_ids_for_writes_are_404(api: Any) -> None:
    problem(api.patch(f"{CONTACTS}/999999", json={"title": "x"}), 404)
    problem(api.delete(f"{CONTACTS}/999999"), 404)
    problem(api.post(f"{CONTACTS}/999999/restore"), 404)
    problem(api.patch(f"{CONTACTS}/abc", json={"title": "x"}), 404)


def test_unknown_collection_is_404(api: Any) -> None:
    problem(api.get("/api/v1/nothings"), 404)
    problem(api.get("/api/v1/nothings/1"), 404)


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("put", "/1", {"GET", "PATCH", "DELETE"}),
        ("post", "/1", {"GET", "PATCH", "DELETE"}),
        ("delete", "", {"GET", "POST"}),
        ("patch", "", {"GET", "POST"}),
        ("get", "/1/restore", {"POST"}),
    ],
)
def test_wrong_method_is_405_with_allow(
    api: Any, make_contact: Any, method: str, path: str, allowed: set[str]
) -> None:
    contact = make_contact()
    url = CONTACTS + path.replace("/1", f"/{contact.id}", 1)
    r = api.client.open(url, method=method.upper(), headers=api._headers(None), json={})
    problem(r, 405)
    allow = {m.strip() for m in r.headers["Allow"].split(",")}
    assert allowed <= allow
    assert method.upper() not in allow


# OpenAPI and docs ----------------------------------------------------------------------------


def test_openapi_document_is_valid_and_complete(api: Any, client: Any) -> None:
    r = api.post(
        "/api/v1/custom_fields",
        json={
            "entity": "contacts",
            "name": "shoe_size",
            "label": "Shoe size",
            "type": "choice",
            "choices": ["S", "M", "L"],
            "required": False,
        },
    )
    assert r.status_code == 201, r.get_json()
    r = api.post(
        "/api/v1/custom_fields",
        json={"entity": "contacts", "name": "loyalty", "label": "Loyalty", "type": "number"},
    )
    assert r.status_code == 201, r.get_json()
    r = client.get("/api/v1/openapi.json")  # public: no token needed
    assert r.status_code == 200 and r.mimetype == "application/json"
    spec = r.get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for plural in (
        "contacts",
        "companies",
        "users",
        "roles",
        "teams",
        "notes",
        "tasks",
        "activities",
        "custom_fields",
    ):
        assert f"/api/v1/{plural}" in paths, plural
        assert f"/api/v1/{plural}/{{record_id}}" in paths, plural
        assert {"get", "post"} <= set(paths[f"/api/v1/{plural}"]), plural
        assert {"get", "patch", "delete"} <= set(paths[f"/api/v1/{plural}/{{record_id}}"])
        assert "post" in paths[f"/api/v1/{plural}/{{record_id}}/restore"]
    assert "/api/v1/search" in paths and "/api/v1/auth/token" in paths
    schemas = spec["components"]["schemas"]
    contact = _resolve(spec, paths["/api/v1/contacts/{record_id}"]["get"]["responses"]["200"])
    custom = contact["properties"]["custom_fields"]
    assert custom["properties"]["shoe_size"]["enum"] == ["S", "M", "L"]
    assert custom["properties"]["loyalty"]["type"] == "number"
    assert "Problem" in schemas
    user = _resolve(spec, paths["/api/v1/users/{record_id}"]["get"]["responses"]["200"])
    assert "password_hash" not in user["properties"]
    assert user["properties"].get("password", {}).get("writeOnly") is True


def _resolve(spec: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    schema = response["content"]["application/json"]["schema"]
    ref = schema["$ref"].rsplit("/", 1)[-1]
    return spec["components"]["schemas"][ref]  # type: ignore[no-any-return]


def test_openapi_custom_fields_follow_the_definitions(api: Any, client: Any) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    contact = _resolve(
        spec, spec["paths"]["/api/v1/contacts/{record_id}"]["get"]["responses"]["200"]
    )
    assert "tier" not in contact["properties"]["custom_fields"].get("properties", {})
    api.post(
        "/api/v1/custom_fields",
        json={
            "entity": "contacts",
            "name": "tier",
            "label": "Tier",
            "type": "text",
            "required": True,
        },
    )
    spec = client.get("/api/v1/openapi.json").get_json()
    validate(spec)
    contact = _resolve(
        spec, spec["paths"]["/api/v1/contacts/{record_id}"]["get"]["responses"]["200"]
    )
    assert contact["properties"]["custom_fields"]["properties"]["tier"]["type"] == "string"
    assert contact["properties"]["custom_fields"]["required"] == ["tier"]


def test_docs_page_and_assets(client: Any) -> None:
    r = client.get("/api/v1/docs")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 3
    for asset in assets:
        r = client.get(asset)
        assert r.status_code == 200, asset
        assert len(r.data) > 50
    js = client.get("/api/v1/docs/assets/docs.js").get_data(as_text=True)
    assert "/api/v1/openapi.json" in js
    problem(client.get("/api/v1/docs/assets/../__init__.py"), 404)
    problem(client.get("/api/v1/docs/assets/index.html"), 404)
