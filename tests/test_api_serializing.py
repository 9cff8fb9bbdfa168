"""The compiled dumper (``crmcore.api.serializing.dumper``) gives what ``schema.dump`` gives,
for every entity of the core and the first-party plugins, on the API's list and GET one; a list
read as plain rows (``row_columns``) and written by orjson (``json_response``) answers the
same JSON as whole records written by Flask."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math

import pytest
from marshmallow import Schema, fields, post_dump
from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, Numeric, String, Time, select

from crmcore.api.serializing import dumper, json_response, row_columns, row_dumper
from crmcore.db import json_loads

PLUGINS = ("sales", "support", "kb", "marketing")


def sample(entity):
    """A transient record of ``entity`` with a value of the right type in every column."""
    record = entity.model()
    for name, column_type in entity.column_types.items():
        impl = getattr(column_type, "impl_instance", column_type)
        if isinstance(impl, JSON):
            continue  # their defaults (empty lists and dicts) are set on flush, not here
        if isinstance(impl, Boolean):
            value = True
        elif isinstance(impl, Integer):
            value = 7
        elif isinstance(impl, Numeric):
            value = decimal.Decimal("12.50")
        elif isinstance(impl, DateTime):
            value = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
        elif isinstance(impl, Date):
            value = dt.date(2026, 3, 4)
        elif isinstance(impl, Time):
            value = dt.time(9, 30)
        elif isinstance(impl, String):
            value = "Text <b>ñ</b>"
        else:
            continue
        setattr(record, name, value)
    return record


@pytest.mark.crm_plugins(*PLUGINS)
def test_dumper_equals_schema_dump_for_every_entity(crm):
    entities = list(crm.entities())
    assert {e.plural for e in entities} >= {"contacts", "deals", "tickets", "articles"}
    for entity in entities:
        schema = entity.dump_schema
        for record in (entity.model(), sample(entity)):
            assert dumper(schema)(record) == schema.dump(record), entity.name


def test_dumper_on_stored_records_and_the_api(api, make_contact, make_company, records):
    company = make_company(name="Acme")
    contact = records.create(
        "contacts",
        {
            "first_name": "Dump",
            "email": "dump@example.com",
            "tags": ["a", "b"],
            "company_id": company.id,
            "emails": [{"label": "work", "value": "w@example.com"}],
            "best_time_from": "09:30",
            "consent_at": "2026-01-02T03:04:05+01:00",
        },
    )
    entity = records.entity("contacts")
    assert dumper(entity.dump_schema)(contact) == entity.dump_schema.dump(contact)
    listed = api.get("/api/v1/contacts?limit=5").get_json()["data"]
    one = api.get(f"/api/v1/contacts/{contact.id}").get_json()
    assert listed[0] == one == entity.dump_schema.dump(contact)
    assert one["emails"] == [{"label": "work", "value": "w@example.com"}]
    assert one["consent_at"] == "2026-01-02T02:04:05+00:00"


def test_plain_mappings_are_copied_as_marshmallow_copies_them():
    schema = Schema.from_dict({"plain": fields.Dict(), "typed": fields.Dict(values=fields.Str())})()

    class Thing:
        plain = {"a": [1, {"b": None}], "ñ": 2.5}
        typed = {"x": 1}

    dumped = dumper(schema)(Thing())
    assert dumped == schema.dump(Thing()) == {"plain": Thing.plain, "typed": {"x": "1"}}
    assert dumped["plain"] is not Thing.plain


def test_lists_of_nested_objects_dump_as_marshmallow_dumps_them():
    class Item(Schema):
        value = fields.String()
        n = fields.Integer()

    schema = Schema.from_dict({"items": fields.List(fields.Nested(Item))})()
    for items in ([], [{"value": "a", "n": 1}, {"value": None, "extra": 2}], None, ()):
        thing = type("Thing", (), {"items": items})()
        assert dumper(schema)(thing) == schema.dump(thing), items


def test_schemas_with_dump_hooks_keep_marshmallow():
    class Hooked(Schema):
        name = fields.String()

        @post_dump
        def shout(self, data, **_kw):
            return {**data, "name": data["name"].upper()}

    class Thing:
        name = "quiet"

    assert dumper(Hooked())(Thing()) == {"name": "QUIET"}


def test_a_list_reads_rows_that_dump_as_the_records(api, records, make_company, make_contact):
    company = make_company(name="Rows")
    make_contact(last_name="Abel")  # older, and before it by name: the second page
    contact = records.create(
        "contacts",
        {
            "first_name": "Ñandú",
            "last_name": "Zoë <b>Row</b>",
            "email": "rows@example.com",
            "tags": ["vip", "ñ"],
            "company_id": company.id,
            "phones": [{"label": "work", "value": "+34 910 000 001"}],
            "best_time_from": "09:30",
            "consent_at": "2026-01-02T03:04:05+01:00",
        },
    )
    entity = records.entity("contacts")
    columns = row_columns(entity, entity.dump_schema)
    assert columns is not None and "last_name" in columns
    row = records.session.execute(
        select(*columns.values()).where(entity.model.id == contact.id)
    ).one()
    assert row_dumper(entity.dump_schema, list(columns))(row) == entity.dump_schema.dump(contact)
    assert dumper(entity.dump_schema)(row) == entity.dump_schema.dump(contact)
    for url in ("/api/v1/contacts?limit=1", "/api/v1/contacts?limit=1&sort=-last_name"):
        page = api.get(url)
        assert page.status_code == 200 and page.mimetype == "application/json"
        assert page.get_json()["data"] == [entity.dump_schema.dump(contact)]
        follow = api.get(f"{url}&cursor={page.get_json()['next_cursor']}").get_json()
        assert follow["data"] and follow["data"][0]["id"] != contact.id  # the cursor still walks


@pytest.mark.crm_plugins("marketing")
def test_lists_that_need_whole_records_keep_them(crm, api):
    users, segments = crm.registry.get("users"), crm.registry.get("segments")
    assert row_columns(users, users.dump_schema) is None  # team_ids: an eager relation
    assert row_columns(segments, segments.dump_schema) is None  # member_count: a method
    listed = api.get("/api/v1/users?limit=5").get_json()["data"]
    assert listed and all("team_ids" in user for user in listed)

    class Hooked(Schema):
        id = fields.Integer()

        @post_dump
        def mark(self, data, **_kw):
            return data

    assert row_columns(crm.registry.get("contacts"), Hooked()) is None


def test_json_response_gives_flasks_json_value(app):
    payload = {
        "data": [
            {
                "name": "Ñandú <b>\u2028",
                "when": dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC),
                "day": dt.date(2026, 3, 4),
                "amount": decimal.Decimal("12.50"),
                "ratio": 0.1,
                "none": None,
            }
        ],
        "next_cursor": None,
    }
    with app.app_context():
        ours, flasks = json_response(app, payload), app.json.response(payload)
        assert ours.mimetype == flasks.mimetype == "application/json"
        assert json.loads(ours.get_data()) == json.loads(flasks.get_data())
        # what orjson refuses (keys that are not strings, integers past 64 bits) goes to Flask
        odd = {1: "one", "big": 2**70}
        assert json.loads(json_response(app, odd).get_data()) == {"1": "one", "big": 2**70}


def test_json_columns_read_back_what_orjson_refuses():
    assert json_loads(b'{"\xc3\xb1": [1, 2.5, null, "x"]}') == {"ñ": [1, 2.5, None, "x"]}
    assert math.isnan(json_loads('{"a": NaN}')["a"])
    assert json_loads("[123456789012345678901234567890]") == [123456789012345678901234567890]
    with pytest.raises(ValueError):
        json_loads("{not json")


def test_json_numbers_stored_as_numbers_read_back(crm):
    """SQLite stores a JSON column holding a bare number as a number (its JSON affinity): the
    reader must hand it back, as SQLAlchemy's own JSON reader does."""
    from crmcore.settings import Setting, get_settings

    crm.session.add(Setting(key="a_number_setting", value=30))
    crm.session.commit()
    crm.session.expire_all()
    assert get_settings(crm.session)["a_number_setting"] == 30
