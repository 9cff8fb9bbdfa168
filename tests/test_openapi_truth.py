"""The OpenAPI document tells the truth, for every operation and schema of the core and of
every first-party plugin: nullable fields, decimals as strings, problem+json errors with the
statuses each operation can answer, PATCH bodies without required fields, JSON types enforced
as documented, and a disabled plugin's schemas left out."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import fields
from openapi_spec_validator import validate

from crmcore.api import jsontypes
from crmcore.api.openapi import METHODS, public_operations

PROBLEM = "application/problem+json"
FIRST_PARTY = ("sales", "marketing", "support", "kb", "automation", "insights")
every_plugin = pytest.mark.crm_plugins(*FIRST_PARTY)


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref", "")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else node


def component(entity: Any) -> str:
    name: str = entity.full_schema.__name__
    return name.removesuffix("Schema") or name


@pytest.fixture
def spec(client: Any) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    return document


@every_plugin
def test_every_error_is_problem_json_with_the_statuses_it_can_answer(
    spec: dict[str, Any], app: Any
) -> None:
    ops = operations(spec)
    assert len(ops) > 200  # the core and the four plugins
    plugin_paths = {"/api/v1/deals", "/api/v1/tickets", "/api/v1/articles", "/api/v1/campaigns"}
    assert plugin_paths <= set(spec["paths"])
    public = public_operations(app)
    assert ("/api/v1/auth/token", "post") in public
    for path, method, op in ops:
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        assert "default" not in responses, where
        codes = {int(code) for code in responses}
        assert any(200 <= c < 400 for c in codes), where
        for code, answer in responses.items():
            if int(code) >= 400:
                assert set(answer["content"]) == {PROBLEM}, where
                schema = answer["content"][PROBLEM]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}, where
        assert {400, 429, 503} <= codes, where
        if (path, method) not in public:
            assert {401, 403} <= codes, where
        if "{" in path:
            assert 404 in codes, where
        if "requestBody" in op:
            assert {413, 415, 422} <= codes, where
        if method in ("post", "patch", "put", "delete"):
            assert {409, 412} <= codes, where
    token = spec["paths"]["/api/v1/auth/token"]["post"]
    assert token["security"] == [] and "401" in token["responses"]
    assert "403" not in token["responses"]
    assert "404" not in spec["paths"]["/api/v1/contacts"]["get"]["responses"]
    assert "415" not in spec["paths"]["/api/v1/contacts/{record_id}"]["get"]["responses"]
    assert "responses" not in spec["components"]  # flask-smorest's DEFAULT_ERROR is gone
    assert "Error" not in spec["components"]["schemas"]


@every_plugin
def test_patch_bodies_require_nothing_and_create_bodies_keep_their_required(
    spec: dict[str, Any], crm: Any
) -> None:
    for path, method, op in operations(spec):
        if method != "patch" or "requestBody" not in op:
            continue
        body = op["requestBody"]["content"]["application/json"]["schema"]
        schema = resolve(spec, body)
        assert not schema.get("required"), f"PATCH {path}"
        for prop in schema.get("properties", {}).values():
            assert not prop.get("required"), f"PATCH {path}"
    for entity in crm.entities():
        name = component(entity)
        if entity.api_create:
            post = spec["paths"][f"/api/v1/{entity.plural}"]["post"]
            body = post["requestBody"]["content"]["application/json"]["schema"]
            assert body == {"$ref": f"#/components/schemas/{name}"}
        patch = spec["paths"][f"/api/v1/{entity.plural}/{{record_id}}"]["patch"]
        body = patch["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{name}Patch"}
    assert spec["components"]["schemas"]["Deal"]["required"] == ["title"]


@every_plugin
def test_nullable_and_decimal_fields_are_declared_as_served(spec: dict[str, Any], crm: Any) -> None:
    schemas = spec["components"]["schemas"]
    decimals = 0
    for entity in crm.entities():
        properties = schemas[component(entity)]["properties"]
        columns = entity.model.__table__.c
        for name, field in entity.full_schema().fields.items():
            key = field.data_key or name
            if key not in properties:
                continue
            prop = properties[key]
            where = f"{entity.plural}.{key}"
            column = columns.get(field.attribute or name)
            if field.allow_none or (field.dump_only and column is not None and column.nullable):
                assert prop.get("nullable") is True, where
            elif prop.get("nullable"):
                pytest.fail(f"{where} is documented nullable but refuses null")
            if isinstance(field, fields.Decimal):
                assert prop["type"] == "string" and prop["format"] == "decimal", where
                decimals += 1
            if isinstance(field, fields.Dict) and isinstance(field.value_field, fields.Decimal):
                assert prop["additionalProperties"]["type"] == "string", where
    assert decimals >= 3  # deal amount, product price, tax rate...
    assert schemas["Contact"]["properties"]["email_opt_out_at"]["nullable"] is True
    assert schemas["User"]["properties"]["last_login_at"]["nullable"] is True
    assert "minimum" not in schemas["Deal"]["properties"]["amount"]


@every_plugin
def test_served_decimals_are_strings_and_nulls_are_allowed(api: Any) -> None:
    from openapi_schema_validator import OAS30Validator

    spec = api.get("/api/v1/openapi.json").get_json()
    r = api.post("/api/v1/deals", json={"title": "Solar roof", "amount": "1200.50"})
    assert r.status_code == 201, r.get_json()
    deal = r.get_json()
    assert deal["amount"] == "1200.50" and deal["close_date"] is None
    r = api.post("/api/v1/contacts", json={"first_name": "Ada", "last_name": "Lovelace"})
    contact = r.get_json()
    assert contact["email_opt_out_at"] is None
    for name, body in (("Deal", deal), ("Contact", contact)):
        schema = {**spec["components"]["schemas"][name], "components": spec["components"]}
        errors = [e.message for e in OAS30Validator(schema).iter_errors(body)]
        assert errors == [], (name, errors)


@every_plugin
def test_json_types_are_enforced_as_documented(api: Any, crm: Any) -> None:
    """An integer field refuses "5", 5.5 and true; a boolean refuses "true" - on every entity."""
    checked = 0
    for entity in crm.entities():
        schema = entity.update_schema
        for name, field in schema.fields.items():
            if field.dump_only:
                continue
            key = field.data_key or name
            if isinstance(field, fields.Integer):
                for wrong in ("5", 5.5, True):
                    assert key in jsontypes.problems(schema, {key: wrong}), (entity.plural, key)
                assert not jsontypes.problems(schema, {key: 5})
                checked += 1
            elif isinstance(field, fields.Boolean):
                assert key in jsontypes.problems(schema, {key: "true"}), (entity.plural, key)
                assert not jsontypes.problems(schema, {key: False})
    assert checked >= 10
    # through the API: the loader refuses what the document refuses, naming the field
    r = api.post("/api/v1/deals", json={"title": "x", "probability": "50"})
    assert r.status_code == 422 and "probability" in r.get_json()["errors"]
    r = api.post("/api/v1/contacts", json={"first_name": "x", "owner_id": "1"})
    assert r.status_code == 422 and "owner_id" in r.get_json()["errors"]
    r = api.post("/api/v1/deals", json={"title": "x", "amount": "12.50", "probability": 50})
    assert r.status_code == 201, r.get_json()
    deal = r.get_json()
    r = api.patch(f"/api/v1/deals/{deal['id']}", json={"probability": "60"})
    assert r.status_code == 422 and "probability" in r.get_json()["errors"]
    r = api.post("/api/v1/tickets", json={"subject": "Broken", "contact_id": "1"})
    assert r.status_code == 422 and "contact_id" in r.get_json()["errors"]


def test_disabled_plugins_schemas_are_left_out(client: Any, crm: Any) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    validate(spec)
    schemas = set(spec["components"]["schemas"])
    assert {"Contact", "ContactPatch", "ContactPage", "Problem"} <= schemas
    for entity in crm.registry:
        if entity.plugin in FIRST_PARTY:
            name = component(entity)
            assert not {name, f"{name}Patch"} & schemas, entity.plural
    assert not {"ConvertResult", "Results", "SendQuote", "SuggestionList"} & schemas
    assert not any(path.startswith(("/api/v1/deals", "/api/v1/tickets")) for path in spec["paths"])


@every_plugin
def test_enabled_plugins_schemas_are_in(client: Any, crm: Any) -> None:
    schemas = set(client.get("/api/v1/openapi.json").get_json()["components"]["schemas"])
    for entity in crm.entities():
        assert {component(entity), f"{component(entity)}Patch"} <= schemas, entity.plural
    assert {"Convert", "SendQuote", "SuggestionList"} <= schemas  # record actions' inputs too


def test_the_document_built_on_first_read_is_the_same_for_threads_reading_it_at_once(
    core_database, tmp_path
):
    """The app documents its blueprints when the document is first read; requests that
    read it at the same time (a threaded server) wait for one build and all get it whole."""
    import json
    import threading

    from crmcore.testing.plugin import build_app

    app = build_app([], core_database, tmp_path / "instance")
    crm = app.extensions["crm"]
    assert crm.api._undocumented  # nothing documented yet
    start = threading.Barrier(4)
    answers: list[tuple[int, str]] = []

    def read() -> None:
        client = app.test_client()
        start.wait()
        response = client.get("/api/v1/openapi.json")
        answers.append((response.status_code, response.get_data(as_text=True)))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in answers] == [200] * 4
    assert len({body for _, body in answers}) == 1
    spec = json.loads(answers[0][1])
    validate(spec)
    assert "/api/v1/contacts" in spec["paths"] and "Contact" in spec["components"]["schemas"]
