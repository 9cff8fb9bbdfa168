"""Loaders compiled per schema and key set (``crmcore.loading``) answer exactly as marshmallow's
``schema.load``: the same values for valid input, and for any other input either the same
values or ``Unsure`` - never a different result - so that the write path's fallback to
marshmallow gives the same messages. Checked on every registered entity's create and update
schema (core, first-party and the test plugins) with generated valid and invalid input."""

from __future__ import annotations

import datetime as dt
import decimal
import random
from typing import Any

import marshmallow
import pytest
from marshmallow import fields, validate

from crmcore.columns import value_problem
from crmcore.fields import Email, Phone, batch_region
from crmcore.loading import Unsure, compile_loader

pytestmark = pytest.mark.crm_plugins("sales", "marketing", "support", "kb")

ROUNDS = 120  # generated inputs per schema

#: values any field may get: wrong types, blanks, NUL characters, odd containers
ANYTHING: list[Any] = [
    None,
    "",
    "   ",
    "abc",
    "a\x00b",
    0,
    -3,
    7,
    True,
    False,
    1.5,
    [],
    ["a"],
    {},
    {"a": 1},
    b"bytes",
    ("t",),
    {"x"},
]


def _choices(field: fields.Field) -> list[Any]:
    found: list[Any] = []
    for check in field.validators:
        if isinstance(check, validate.OneOf):
            found.extend(check.choices)
        if isinstance(check, validate.Length):
            top = check.max or check.equal or 20
            found.extend(["x" * top, "y" * (top + 1), "z" * max((check.min or 0) - 1, 0)])
        if isinstance(check, validate.Range):
            found.extend(v for v in (check.min, check.max) if v is not None)
            found.extend(v + d for v in (check.min, check.max) if v is not None for d in (-1, 1))
    return found


def _values(field: fields.Field, rnd: random.Random, depth: int = 0, noise: float = 0.1) -> Any:
    """A value for ``field``: mostly of its kind (valid or nearly), sometimes anything."""
    if rnd.random() < noise:
        return rnd.choice(ANYTHING)
    special = _choices(field)
    if special and rnd.random() < noise * 3:
        return rnd.choice(special)
    if isinstance(field, Phone):
        return rnd.choice(
            ["91 234 56 78", "+34 911 234 567", "+1 202 555 0100", "call me", "123", "9" * 41,
             " ", "(0)20 7946 0958", "600 11 22 33 ext. 4", "+44 20 7946 0958#12"]
        )  # fmt: skip
    if isinstance(field, Email):
        return rnd.choice(
            ["ana@example.com", "Ana.Ruiz@Example.COM", "not an address", "a@b", "ü@example.com",
             "x@" + "d" * 70 + ".com", " ana@example.es ", "a" * 65 + "@example.com"]
        )  # fmt: skip
    if isinstance(field, fields.Boolean):
        return rnd.choice([True, False, "true", "False", "yes", "0", 1, 0, 2, "maybe"])
    if isinstance(field, fields.Integer):
        return rnd.choice([0, 1, 42, -7, "12", " 7 ", "1_000", "abc", 2**70, 3.7, "٣", 10**40])
    if isinstance(field, fields.Decimal | fields.Float):
        return rnd.choice(["12.50", 3, 2.5, "nan", "1e3", "abc", decimal.Decimal("9.99"), -1])
    if isinstance(field, fields.AwareDateTime | fields.NaiveDateTime | fields.DateTime):
        return rnd.choice(
            ["2026-01-02T10:00:00+02:00", "2026-01-02T10:00:00", "2026-01-02", "yesterday",
             dt.datetime(2026, 1, 2, tzinfo=dt.UTC), "9999-12-31T23:59:59-14:00"]
        )  # fmt: skip
    if isinstance(field, fields.Date):
        return rnd.choice(["2026-01-02", "2026-02-30", "02/01/2026", dt.date(2026, 1, 2), ""])
    if isinstance(field, fields.Time):
        return rnd.choice(["10:30", "10:30:15", "25:00", dt.time(9, 0), "nine"])
    if isinstance(field, fields.Url):
        return rnd.choice(["https://example.com", "ftp://example.com", "example", ""])
    if isinstance(field, fields.Nested):
        schema = field.schema
        return {
            name: _values(inner, rnd, depth + 1, noise)
            for name, inner in schema.load_fields.items()
            if rnd.random() < 0.7
        }
    if isinstance(field, fields.List):
        if depth > 2:
            return []
        return [
            _values(field.inner, rnd, depth + 1, noise) for _ in range(rnd.choice([0, 1, 2, 3]))
        ]
    if isinstance(field, fields.Dict | fields.Mapping):
        inner = field.value_field
        return {
            rnd.choice(["level", "a", "b c", ""]): (
                _values(inner, rnd, depth + 1, noise) if inner is not None else rnd.choice(ANYTHING)
            )
            for _ in range(rnd.choice([0, 1, 2]))
        }
    if isinstance(field, fields.String):
        return rnd.choice(["Ana", "", " ", "Ruiz García", "x" * 30, "a\x00b", "ES", "es"])
    return rnd.choice(ANYTHING)


def _input(schema: marshmallow.Schema, rnd: random.Random) -> dict[str, Any]:
    names = list(schema.load_fields.items())
    data: dict[str, Any] = {}
    noise = rnd.choice([0.0, 0.0, 0.05, 0.2])  # some inputs near valid, some full of faults
    for name, field in names:
        key = field.data_key or name
        if (field.required and rnd.random() < 0.95) or rnd.random() < 0.25:
            data[key] = _values(field, rnd, noise=noise)
    if rnd.random() < 0.05:
        data["not_a_field"] = 1
    if rnd.random() < 0.05:
        data["id"] = 5  # dump-only
    return data


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", _typed(call())
    except marshmallow.ValidationError as exc:
        return "error", exc.messages


def _typed(value: Any) -> Any:
    """``value`` with the type of every part, so that ``1 == 1.0 == True`` tell apart."""
    if isinstance(value, dict):
        return ("dict", [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_typed(v) for v in value])
    return (type(value).__name__, value)


def test_compiled_loaders_answer_as_marshmallow_for_every_entity(crm):
    rnd = random.Random(19)
    fast = tried = 0
    compiled_entities = set()
    with batch_region():
        for entity in crm.registry:
            for schema in (entity.create_schema, entity.update_schema):
                for _ in range(ROUNDS):
                    data = _input(schema, rnd)
                    expected = _outcome(lambda d=data: schema.load(dict(d)))
                    # the write path's answer: compiled when sure, else marshmallow's
                    got = _outcome(lambda d=data: entity.load(schema, dict(d)))
                    assert got == expected, (entity.name, data)
                    tried += 1
                    loader = compile_loader(schema, data)
                    if loader is None:
                        continue
                    compiled_entities.add(entity.name)
                    try:
                        direct = _outcome(lambda d=data, load=loader: load(dict(d)))
                    except Unsure:
                        continue
                    fast += 1
                    assert direct == expected, (entity.name, data)
    # the comparison means something only if the compiled loaders do the work often
    assert fast > tried * 0.25, (fast, tried)
    assert {"contact", "company", "deal", "ticket", "article", "lead"} <= compiled_entities


def test_an_import_row_takes_the_compiled_loader(crm):
    contacts = crm.registry.get("contacts")
    row = {
        "first_name": "Ana",
        "last_name": "Ruiz",
        "email": "Ana.Ruiz@Example.COM",
        "phone": "(202) 555-0100",  # local: read in the instance's region (US here)
        "city": "Madrid",
        "tags": ["vip", "madrid"],
        "custom_fields": {"level": "gold"},
    }
    loader = compile_loader(contacts.create_schema, row)
    assert loader is not None
    with batch_region():
        loaded = loader(dict(row))
        expected = contacts.create_schema.load(dict(row))
    assert loaded == expected
    assert list(loaded) == list(expected)  # marshmallow's order, load defaults included
    assert loaded["email"] == "ana.ruiz@example.com"
    assert loaded["phone"] == "+12025550100"


@pytest.mark.parametrize("entity_name", ["contacts", "companies"])
def test_strings_at_their_limits_take_the_compiled_loader(crm, entity_name):
    """Valid input near a boundary is the compiled loader's to load, not marshmallow's."""
    entity = crm.registry.get(entity_name)
    schema = entity.create_schema
    data: dict[str, Any] = {}
    for name, field in schema.load_fields.items():
        lengths = [v for v in field.validators if isinstance(v, validate.Length)]
        if type(field) is fields.String and lengths and lengths[0].max:
            data[name] = "x" * lengths[0].max
    assert len(data) >= 5
    data["email"] = "ana@example.com" if entity_name == "contacts" else None
    data.pop("domain", None)  # a pattern, not only a length
    data = {k: v for k, v in data.items() if k in schema.load_fields}
    loader = compile_loader(schema, data)
    assert loader is not None
    assert loader(dict(data)) == schema.load(dict(data))
    for shorter in ({k: v[:-1] if v else v for k, v in data.items()}, {k: None for k in data}):
        if all(schema.load_fields[k].allow_none for k, v in shorter.items() if v is None):
            assert loader(dict(shorter)) == schema.load(dict(shorter))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"first_name": "Ana", "phone": "call me"}, "phone"),
        ({"first_name": "Ana", "email": "not an address"}, "email"),
        ({"first_name": "Ana", "tags": ["ok", " "]}, "tags"),
        ({"first_name": "Ana", "company_id": "twelve"}, "company_id"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"city": "Madrid"}, "last_name"),  # the schema-level check
        ({"first_name": "Ana", "locale": "fr"}, "locale"),
    ],
)
def test_refused_rows_get_marshmallows_messages(crm, data, field):
    contacts = crm.registry.get("contacts")
    loader = compile_loader(contacts.create_schema, data)
    assert loader is not None
    with batch_region():
        with pytest.raises(marshmallow.ValidationError) as expected:
            contacts.create_schema.load(dict(data))
        if field in ("phone", "email"):  # refused by the loader itself, in marshmallow's words
            with pytest.raises(marshmallow.ValidationError) as direct:
                loader(dict(data))
            assert direct.value.messages == expected.value.messages
        else:
            with pytest.raises(Unsure):
                loader(dict(data))
        with pytest.raises(marshmallow.ValidationError) as got:
            contacts.load(contacts.create_schema, dict(data))
    assert got.value.messages == expected.value.messages
    assert field in got.value.messages


def test_a_refused_address_and_number_are_both_reported_without_the_schema_check(crm):
    """As marshmallow: every field refused is named, and the schema-level check (a name is
    required) is not run once a field is refused."""
    contacts = crm.registry.get("contacts")
    data = {"city": "Madrid", "email": "nope", "phone": "call me", "tags": ["a"]}
    loader = compile_loader(contacts.create_schema, data)
    assert loader is not None
    with batch_region():
        with pytest.raises(marshmallow.ValidationError) as direct:
            loader(dict(data))
        with pytest.raises(marshmallow.ValidationError) as expected:
            contacts.create_schema.load(dict(data))
    assert direct.value.messages == expected.value.messages
    assert set(direct.value.messages) == {"email", "phone"}


def test_a_refused_item_of_a_list_is_left_to_marshmallow(crm):
    """marshmallow files a list item's message under its index: the loader does not guess."""

    class Mailing(marshmallow.Schema):
        addresses = fields.List(Email())

    loader = compile_loader(Mailing(), {"addresses"})
    assert loader is not None
    assert loader({"addresses": ["A@Example.com"]}) == {"addresses": ["a@example.com"]}
    with pytest.raises(Unsure):
        loader({"addresses": ["a@example.com", "nope"]})


def test_schemas_with_hooks_or_unknown_keys_get_no_compiled_loader(crm):
    class Hooked(marshmallow.Schema):
        name = fields.String()

        @marshmallow.pre_load
        def strip(self, data: dict[str, Any], **_kw: Any) -> dict[str, Any]:
            return {k: v.strip() for k, v in data.items()}

    assert compile_loader(Hooked(), {"name"}) is None
    contacts = crm.registry.get("contacts")
    assert compile_loader(contacts.create_schema, {"first_name", "nope"}) is None
    companies = crm.registry.get("companies")
    assert compile_loader(companies.create_schema, {"domain"}) is None  # name is required
    assert compile_loader(companies.update_schema, {"domain"}) is not None  # partial


def test_column_checks_answer_as_value_problem_for_every_column(crm):
    """``Entity.column_checks`` (worked out once per entity) refuses exactly what
    ``value_problem`` refuses, with the same message, for every column and non-column."""
    far = dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-14)))
    values: list[Any] = [
        None, "", "abc", "a\x00b", "x" * 20, "x" * 21, "x" * 255, "x" * 256, "x" * 10001,
        0, -(2**15), 2**15, 2**31 - 1, 2**31, -(2**31) - 1, 2**63, -(2**63), True, False,
        1.5, decimal.Decimal("1e40"), dt.date(2026, 1, 2), far, dt.datetime(2026, 1, 2),
        [], ["a", "b"], ["a\x00"], [1, 2**64], [None], ("a",), {}, {"level": "gold"},
        {"a": None}, {"a\x00": "b"}, {"a": "b\x00"}, {"a": 2**64}, {"a": ["x\x00"]}, {1: "a"},
    ]  # fmt: skip
    checked = 0
    for entity in crm.registry:
        checks = entity.column_checks
        for name, column_type in [*entity.column_types.items(), ("not_a_column", None)]:
            for value in values:
                assert checks.problem(name, value) == value_problem(column_type, value), (
                    entity.name,
                    name,
                    value,
                )
                checked += 1
    assert checked > 10_000
