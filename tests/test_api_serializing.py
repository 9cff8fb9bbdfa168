"""The compiled dumper (``crmcore.api.serializing.dumper``) gives what ``schema.dump`` gives,
for every entity of the core and the first-party plugins, on the API's list and GET one."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from marshmallow import Schema, fields, post_dump
from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, Numeric, String, Time

from crmcore.api.serializing import dumper

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


def test_schemas_with_dump_hooks_keep_marshmallow():
    class Hooked(Schema):
        name = fields.String()

        @post_dump
        def shout(self, data, **_kw):
            return {**data, "name": data["name"].upper()}

    class Thing:
        name = "quiet"

    assert dumper(Hooked())(Thing()) == {"name": "QUIET"}
