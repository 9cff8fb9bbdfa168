"""Custom fields: definitions through the API, values validated, audited and filterable."""

from __future__ import annotations

from typing import Any

import pytest

CONTACTS = "/api/v1/contacts"
FIELDS = "/api/v1/custom_fields"

DEFINITIONS = [
    {"entity": "contacts", "name": "nickname", "label": "Nickname", "type": "text"},
    {"entity": "contacts", "name": "score", "label": "Score", "type": "number"},
    {"entity": "contacts", "name": "birthday", "label": "Birthday", "type": "date"},
    {
        "entity": "contacts",
        "name": "tier",
        "label": "Tier",
        "type": "choice",
        "choices": ["gold", "silver"],
    },
    {"entity": "contacts", "name": "newsletter", "label": "Newsletter", "type": "boolean"},
]


@pytest.fixture
def defined(api: Any) -> list[dict[str, Any]]:
    out = []
    for definition in DEFINITIONS:
        r = api.post(FIELDS, json=definition)
        assert r.status_code == 201, r.get_json()
        out.append(r.get_json())
    return out


def errors_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    return response.get_json()["errors"]  # type: ignore[no-any-return]


def test_admin_defines_each_type(api: Any, defined: list[dict[str, Any]]) -> None:
    assert [d["type"] for d in defined] == ["text", "number", "date", "choice", "boolean"]
    listed = api.get(f"{FIELDS}?entity=contacts").get_json()["data"]
    assert {d["name"] for d in listed} == {d["name"] for d in DEFINITIONS}
    assert api.get(f"{FIELDS}?entity=companies").get_json()["data"] == []


def test_definition_validation(api: Any) -> None:
    base = {"entity": "contacts", "name": "x_field", "label": "X", "type": "text"}
    assert "type" in errors_of(api.post(FIELDS, json={**base, "type": "blob"}))
    assert "name" in errors_of(api.post(FIELDS, json={**base, "name": "Bad Name"}))
    assert "name" in errors_of(api.post(FIELDS, json={**base, "name": "x" * 51}))
    assert "choices" in errors_of(api.post(FIELDS, json={**base, "type": "choice"}))
    assert "entity" in errors_of(api.post(FIELDS, json={**base, "entity": "nothings"}))
    assert "entity" in errors_of(api.post(FIELDS, json={**base, "entity": "roles"}))


def test_definitions_need_admin(api_as: Any, make_user: Any) -> None:
    for role in ("sales_rep", "manager"):
        r = api_as(make_user(role)).post(FIELDS, json=DEFINITIONS[0])
        assert r.status_code == 403, (role, r.get_json())


def test_values_round_trip(api: Any, defined: list[dict[str, Any]]) -> None:
    r = api.post(
        CONTACTS,
        json={
            "last_name": "X",
            "custom_fields": {
                "nickname": "Ace",
                "score": "41.5",
                "birthday": "1990-02-03",
                "tier": "gold",
                "newsletter": "yes",
            },
        },
    )
    assert r.status_code == 201, r.get_json()
    values = r.get_json()["custom_fields"]
    assert values == {
        "nickname": "Ace",
        "score": 41.5,
        "birthday": "1990-02-03",
        "tier": "gold",
        "newsletter": True,
    }
    url = r.headers["Location"]
    assert api.get(url).get_json()["custom_fields"] == values
    r = api.patch(url, json={"custom_fields": {"score": 7, "tier": None}})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["custom_fields"] == {**values, "score": 7, "tier": None}
    assert api.get(url).get_json()["custom_fields"]["nickname"] == "Ace"


@pytest.mark.parametrize(
    "values, field",
    [
        ({"score": "eleven"}, "score"),
        ({"score": True}, "score"),
        ({"score": [1]}, "score"),
        ({"birthday": "03/02/1990"}, "birthday"),
        ({"birthday": "1990-02-30"}, "birthday"),
        ({"tier": "bronze"}, "tier"),
        ({"tier": "GOLD"}, "tier"),
        ({"newsletter": "perhaps"}, "newsletter"),
        ({"nickname": {"a": 1}}, "nickname"),
        ({"nickname": "x" * 2001}, "nickname"),
        ({"shoe_size": 42}, "shoe_size"),
    ],
)
def test_bad_values_are_refused(
    api: Any, make_contact: Any, defined: list[dict[str, Any]], values: dict[str, Any], field: str
) -> None:
    errors = errors_of(api.post(CONTACTS, json={"last_name": "X", "custom_fields": values}))
    assert field in errors["custom_fields"], errors
    contact = make_contact(custom_fields={"score": 1})
    url = f"{CONTACTS}/{contact.id}"
    errors = errors_of(api.patch(url, json={"custom_fields": values}))
    assert field in errors["custom_fields"]
    assert api.get(url).get_json()["custom_fields"] == {"score": 1}


def test_custom_fields_must_be_an_object(api: Any, defined: list[dict[str, Any]]) -> None:
    assert "custom_fields" in errors_of(
        api.post(CONTACTS, json={"last_name": "X", "custom_fields": ["score"]})
    )


def test_required_field(api: Any, make_contact: Any) -> None:
    old = make_contact()  # made before the field existed
    r = api.post(
        FIELDS,
        json={
            "entity": "contacts",
            "name": "region_code",
            "label": "Region",
            "type": "text",
            "required": True,
        },
    )
    assert r.status_code == 201
    errors = errors_of(api.post(CONTACTS, json={"last_name": "X"}))
    assert "region_code" in errors["custom_fields"]
    errors = errors_of(
        api.post(CONTACTS, json={"last_name": "X", "custom_fields": {"region_code": ""}})
    )
    assert "region_code" in errors["custom_fields"]
    r = api.post(CONTACTS, json={"last_name": "X", "custom_fields": {"region_code": "N"}})
    assert r.status_code == 201
    # older records may still be edited without it, but cannot clear a value once set
    assert api.patch(f"{CONTACTS}/{old.id}", json={"title": "Boss"}).status_code == 200
    errors = errors_of(
        api.patch(r.headers["Location"], json={"custom_fields": {"region_code": None}})
    )
    assert "region_code" in errors["custom_fields"]


def test_values_in_history(api: Any, defined: list[dict[str, Any]]) -> None:
    r = api.post(CONTACTS, json={"last_name": "X", "custom_fields": {"score": 1}})
    url = r.headers["Location"]
    api.patch(url, json={"custom_fields": {"score": 2, "tier": "silver"}})
    update, create = api.get(f"{url}/history").get_json()["data"]
    assert create["changes"]["custom_fields.score"] == [None, 1]
    assert update["changes"] == {
        "custom_fields.score": [1, 2],
        "custom_fields.tier": [None, "silver"],
    }


def test_values_are_filterable(api: Any, make_contact: Any, defined: list[dict[str, Any]]) -> None:
    gold = make_contact(
        custom_fields={
            "tier": "gold",
            "score": 10,
            "nickname": "Bee",
            "birthday": "1990-05-01",
            "newsletter": True,
        }
    )
    silver = make_contact(
        custom_fields={
            "tier": "silver",
            "score": 2.5,
            "birthday": "2001-01-01",
            "newsletter": False,
        }
    )
    empty = make_contact()

    def ids(query: str) -> set[int]:
        r = api.get(f"{CONTACTS}?{query}")
        assert r.status_code == 200, (query, r.get_json())
        return {row["id"] for row in r.get_json()["data"]}

    assert ids("custom.tier=gold") == {gold.id}
    assert ids("custom.tier__in=gold,silver") == {gold.id, silver.id}
    assert ids("custom.nickname=bee") == {gold.id}
    assert ids("custom.nickname__contains=e") == {gold.id}
    assert ids("custom.score=10") == {gold.id}
    assert ids("custom.score__gte=3") == {gold.id}
    assert ids("custom.score__lt=3") == {silver.id}
    assert ids("custom.birthday__lte=1995-12-31") == {gold.id}
    assert ids("custom.newsletter=true") == {gold.id}
    assert ids("custom.newsletter=false") == {silver.id}
    assert ids("custom.tier__isnull=true") == {empty.id}
    assert ids("custom.tier__ne=gold") == {silver.id, empty.id}
    for bad in (
        "custom.score=abc",
        "custom.birthday__gte=someday",
        "custom.tier=bronze",
        "custom.tier__contains=g",
        "custom.nothing=1",
        "custom.score__regex=1",
        'custom.x"y=1',
        "custom.=1",
    ):
        r = api.get(f"{CONTACTS}?{bad}")
        assert r.status_code == 400, (bad, r.get_json())
        assert r.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    "name",
    [
        "email",
        "first_name",
        "owner_id",
        "tags",
        "custom_fields",
        "id",
        "created_at",
        "version",
        "deleted_at",
        "company_id",
    ],
)
def test_name_clashing_with_a_built_in_field_is_refused(api: Any, name: str) -> None:
    errors = errors_of(
        api.post(
            FIELDS, json={"entity": "contacts", "name": name, "label": "Clash", "type": "text"}
        )
    )
    assert "name" in errors


def test_same_name_twice_is_refused(api: Any, defined: list[dict[str, Any]]) -> None:
    r = api.post(FIELDS, json=DEFINITIONS[0])
    assert r.status_code in (409, 422), r.get_json()
    assert r.mimetype == "application/problem+json"
    r = api.post(FIELDS, json={**DEFINITIONS[0], "entity": "companies"})
    assert r.status_code == 201, r.get_json()


def test_changing_the_type_is_refused(api: Any, defined: list[dict[str, Any]]) -> None:
    url = f"{FIELDS}/{defined[0]['id']}"
    errors = errors_of(api.patch(url, json={"type": "number"}))
    assert "type" in errors
    assert api.get(url).get_json()["type"] == "text"
    r = api.patch(url, json={"label": "Alias", "type": "text"})
    assert r.status_code == 200 and r.get_json()["label"] == "Alias"


def test_new_choice_becomes_valid(api: Any, defined: list[dict[str, Any]]) -> None:
    tier = next(d for d in defined if d["name"] == "tier")
    assert errors_of(
        api.post(CONTACTS, json={"last_name": "X", "custom_fields": {"tier": "bronze"}})
    )
    r = api.patch(f"{FIELDS}/{tier['id']}", json={"choices": ["gold", "silver", "bronze"]})
    assert r.status_code == 200
    r = api.post(CONTACTS, json={"last_name": "X", "custom_fields": {"tier": "bronze"}})
    assert r.status_code == 201, r.get_json()


def test_trashed_definition_no_longer_accepts_values(
    api: Any, defined: list[dict[str, Any]]
) -> None:
    assert api.delete(f"{FIELDS}/{defined[0]['id']}").status_code == 204
    errors = errors_of(
        api.post(CONTACTS, json={"last_name": "X", "custom_fields": {"nickname": "Ace"}})
    )
    assert "nickname" in errors["custom_fields"]


def test_entity_without_custom_fields_refuses_values(api: Any) -> None:
    errors = errors_of(
        api.post(
            "/api/v1/roles", json={"name": "tester", "title": "Tester", "custom_fields": {"a": 1}}
        )
    )
    assert "custom_fields" in errors
