"""The batched write path (``RecordService.create_many``) and the narrowed schema loaders it
uses keep every step of ``create``: validation, veto, defaults, audit, search, events."""

from __future__ import annotations

import gc
import weakref

import pytest
from sqlalchemy import select

from crmcore import ValidationError
from crmcore.audit import AuditEntry
from crmcore.contacts.models import Contact

pytestmark = pytest.mark.crm_plugins("widgets", "everyhook")

INPUTS = [
    {"first_name": "Ana", "email": "ANA@Example.com", "phone": "+34 911 234 567"},
    {"last_name": "Ruiz", "tags": ["vip", " vip ", "b"]},
    {"email": "not an address", "phone": "call me"},
    {"first_name": "Ana", "nope": 1},  # unknown field
    {"first_name": "Ana", "id": 5},  # dump-only field
    {"first_name": "Ana", "email_opt_out_at": "2026-01-01T00:00:00Z"},  # dump-only
    {"city": "Madrid"},  # no name nor e-mail: the schema-level check
    {"first_name": "x" * 101},
    {},
]


@pytest.mark.parametrize("data", INPUTS)
def test_narrowed_loader_answers_as_the_full_schema(crm, data):
    entity = crm.registry.get("contacts")
    schema = entity.create_schema
    narrowed = entity.loader(schema, data)
    assert len(narrowed.load_fields) < len(schema.load_fields)
    outcomes = []
    for loader in (schema, narrowed):
        try:
            outcomes.append(("ok", loader.load(dict(data))))
        except Exception as exc:  # the two must fail alike
            outcomes.append(("error", getattr(exc, "messages", str(exc))))
    assert outcomes[0] == outcomes[1]
    assert entity.loader(schema, data) is narrowed  # compiled once per key set


def test_create_many_rows_are_complete_persistent_audited_and_searchable(app, crm, records):
    app.extensions["everyhook"] = []
    rows = [
        {"first_name": "Bulk", "last_name": "One", "phone": "+34 911 234 567", "tags": ["a", "a"]},
        {"first_name": "Bulk", "last_name": "Vetoed"},  # refused by the everyhook veto
        {"first_name": "Bulk", "email": "not an address"},
        {"first_name": "Bulk", "last_name": "Two", "custom_fields": {"loyalty_tier": "gold"}},
    ]
    results = records.create_many("contacts", rows)
    one, vetoed, bad, two = results
    assert not isinstance(one, Exception), one.messages
    assert isinstance(vetoed, ValidationError) and isinstance(bad, ValidationError)
    assert vetoed.messages == {"last_name": ["Vetoed by the everyhook plugin."]}
    for record in (one, two):
        assert record in crm.session and record.id is not None
        assert record.version == 1 and record.created_at is not None
        assert record.emails == [] and record.email_opt_out is False
    crm.session.expire_all()
    stored = crm.session.get(Contact, one.id)
    assert (stored.last_name, stored.tags) == ("One", ["a"])
    assert stored.phone.startswith("+")
    assert crm.session.get(Contact, two.id).custom_fields == {"loyalty_tier": "gold"}
    names = crm.session.scalars(select(Contact.last_name).where(Contact.first_name == "Bulk"))
    assert sorted(names) == ["One", "Two"]  # nothing of a refused row was written
    audit = crm.session.scalars(
        select(AuditEntry).where(AuditEntry.record_id.in_([one.id, two.id]))
    ).all()
    assert {(a.record_id, a.action) for a in audit if a.entity == "contact"} == {
        (one.id, "create"),
        (two.id, "create"),
    }
    by_id = {a.record_id: a.changes for a in audit if a.entity == "contact"}
    assert by_id[two.id]["custom_fields.loyalty_tier"] == [None, "gold"]
    found = records.crm.search.record_ids(records.entity("contacts"), "bulk two")
    assert list(crm.session.scalars(found)) == [two.id]
    created = [e for e in app.extensions["everyhook"] if e[0] == "created"]
    assert sorted(e[2] for e in created) == sorted([one.id, two.id])


def test_create_many_refuses_a_unique_clash_for_the_batch(crm, records):
    from crmcore.errors import Conflict
    from crmcore.users.models import Team

    records.create("teams", {"name": "Taken"})
    with pytest.raises(Conflict):
        records.create_many("teams", [{"name": "Free"}, {"name": "Taken"}])
    assert sorted(crm.session.scalars(select(Team.name))) == ["Taken"]


def test_create_many_with_related_records_takes_the_unit_of_work(crm, records, make_user):
    from crmcore.users.models import Team

    user = make_user()
    first, second = records.create_many(
        "teams", [{"name": "With members", "member_ids": [user.id]}, {"name": "Without"}]
    )
    crm.session.expire_all()
    assert [u.id for u in crm.session.get(Team, first.id).members] == [user.id]
    assert crm.session.get(Team, second.id).members == []


def test_records_of_create_many_take_later_changes_like_loaded_ones(crm, records):
    """The Core insert leaves records in the session as if loaded: a later update through
    the record service (and a plain change on the object) is written and versioned."""
    first, second = records.create_many(
        "contacts", [{"first_name": "Core", "last_name": "One"}, {"last_name": "Two"}]
    )
    assert first in crm.session and not crm.session.dirty
    records.update("contacts", first, {"city": "Sevilla"}, expected_version=1)
    assert first.version == 2
    second.title = "Chief"  # no write path, but the session must notice it
    assert second in crm.session.dirty
    crm.session.rollback()
    crm.session.expire_all()
    stored = crm.session.get(Contact, first.id)
    assert (stored.city, stored.version, stored.first_name) == ("Sevilla", 2, "Core")
    assert crm.session.get(Contact, second.id).title is None


def test_a_plugin_entity_is_created_many_at_once_through_core(app, crm, records):
    """A plugin's entity takes the same batched path: defaults, audit, search, veto, events."""
    from plugin_widgets import Widget

    from crmcore.bulk_insert import insert_plan

    app.extensions["everyhook"] = []
    entity = records.entity("widgets")
    assert insert_plan(entity) is not None
    made = records.create_many(
        "widgets",
        [
            {"name": "Sprocket", "colour": "red", "tags": ["x"]},
            {"name": "Bad", "colour": "purple"},  # not a choice
            {"name": "Cog"},
        ],
    )
    sprocket, bad, cog = made
    assert isinstance(bad, ValidationError) and "colour" in bad.messages
    crm.session.expire_all()
    rows = {w.name: w for w in crm.session.scalars(select(Widget))}
    assert set(rows) == {"Sprocket", "Cog"}
    assert rows["Cog"].tags == [] and rows["Cog"].custom_fields == {}
    assert rows["Sprocket"].version == 1 and rows["Sprocket"].created_at is not None
    audited = crm.session.scalars(
        select(AuditEntry.record_id).where(AuditEntry.entity == "widget")
    ).all()
    assert sorted(audited) == sorted([sprocket.id, cog.id])
    found = crm.session.scalars(crm.search.record_ids(entity, "sprocket"))
    assert list(found) == [sprocket.id]
    created = [e for e in app.extensions["everyhook"] if e[0] == "created" and e[1] == "widget"]
    assert sorted(e[2] for e in created) == sorted([sprocket.id, cog.id])


def test_create_many_after_a_rollback_reuses_ids_cleanly(crm, records):
    """SQLite hands the ids of a rolled-back batch out again (as an import's retry of a
    refused batch does): the new records replace the stale objects left in the session."""
    first = records.create_many(
        "contacts", [{"last_name": "Gone"}, {"last_name": "Too"}], commit=False
    )
    records.rollback()
    again = records.create_many("contacts", [{"last_name": "Kept"}, {"last_name": "Also"}])
    assert all(r in crm.session for r in again)
    crm.session.expire_all()
    names = {c.id: c.last_name for c in crm.session.scalars(select(Contact))}
    assert [names[r.id] for r in again] == ["Kept", "Also"]
    assert "Gone" not in names.values() and len(first) == 2


def test_a_commit_looks_each_event_hook_up_once_and_fires_every_event(app, crm, records):
    """The events of a batch share one caller per hook (not one look-up per record), and
    each still reaches the listener, in order, with its own record."""
    app.extensions["everyhook"] = []
    looked_up: list[str] = []
    real = crm.hook

    def counted(name):
        looked_up.append(name)
        return real(name)

    crm.hook = counted  # an attribute of this app's CRM object only
    try:
        made = records.create_many("contacts", [{"last_name": f"Fired{i}"} for i in range(6)])
    finally:
        del crm.hook
    assert looked_up.count("crm_record_created") == 1
    created = [e[2] for e in app.extensions["everyhook"] if e[0] == "created"]
    assert created == [r.id for r in made]


def test_an_event_hook_no_enabled_plugin_implements_is_not_called(crm, records):
    """No listener: the caller is never invoked for the batch's events (a hook with one is,
    as the test above shows)."""
    calls: list[str] = []
    real = crm.hook

    class Silent:
        def __init__(self, name):
            self.name = name

        def get_hookimpls(self):
            return []

        def __call__(self, **kwargs):
            calls.append(self.name)

    def hooks(name):
        return Silent(name) if name == "crm_record_created" else real(name)

    crm.hook = hooks
    try:
        made = records.create_many("contacts", [{"last_name": "Quiet"}, {"last_name": "Too"}])
    finally:
        del crm.hook
    assert calls == [] and all(r.id for r in made)


def test_records_of_create_many_are_in_the_identity_map_as_loaded(crm, records):
    """The records join the session without its cascade walk: ``get`` answers them from
    the identity map (no SQL), nothing is pending, and their values need no reload."""
    from sqlalchemy import event

    made = records.create_many(
        "contacts", [{"first_name": "Map", "last_name": f"N{i}"} for i in range(3)], commit=False
    )
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(crm.engine, "before_cursor_execute", seen)
    try:
        for record in made:
            assert crm.session.get(Contact, record.id) is record
            assert record.last_name.startswith("N") and record.version == 1
        assert not crm.session.new and not crm.session.dirty
    finally:
        event.remove(crm.engine, "before_cursor_execute", seen)
    assert statements == []
    records.commit()


def test_a_batch_takes_one_timestamp_stored_as_a_single_create_stores_it(crm, records):
    """``created_at``/``updated_at`` (``utcnow`` defaults) are read once per batch, in the
    same stored form as a record created alone; other callable defaults stay per row."""
    import datetime as dt
    import re

    from sqlalchemy import text

    before = dt.datetime.now(dt.UTC)
    made = records.create_many("contacts", [{"last_name": f"Clock{i}"} for i in range(4)])
    alone = records.create("contacts", {"last_name": "Alone"})
    after = dt.datetime.now(dt.UTC)
    stamps = {(r.created_at, r.updated_at) for r in made}
    assert len(stamps) == 1
    [(created, updated)] = stamps
    assert created == updated and before <= created <= after
    assert created.tzinfo is not None
    assert len({id(r.emails) for r in made}) == len(made)  # ``list`` default: one per record
    shape = [
        re.sub(r"\d", "0", str(v))
        for v in crm.session.execute(
            text("SELECT created_at FROM core_contact WHERE id IN (:a, :b)"),
            {"a": made[0].id, "b": alone.id},
        ).scalars()
    ]
    assert len(shape) == 2 and shape[0] == shape[1]


def test_create_many_changes_name_false_and_zero_values_but_not_empty_ones(crm, records):
    first, second = records.create_many(
        "contacts",
        [
            {
                "first_name": "Flags",
                "last_name": "Off",
                "email_opt_out": False,
                "tags": [],
                "city": "",
                "emails": [],
                "phone": "",
            },
            {"first_name": "Flags", "last_name": "On", "email_opt_out": True, "tags": ["x"]},
        ],
    )
    changes = {
        a.record_id: a.changes
        for a in crm.session.scalars(select(AuditEntry).where(AuditEntry.entity == "contact"))
    }
    assert changes[first.id]["email_opt_out"] == [None, False]
    assert "first_name" in changes[first.id]
    assert not {"tags", "city", "emails", "phone"} & set(changes[first.id])
    assert changes[second.id]["email_opt_out"] == [None, True]
    assert changes[second.id]["tags"] == [None, ["x"]]


def test_a_refused_row_leaves_no_cycle_holding_the_batch(app, crm, records):
    """The errors come back without traceback: one would hold ``create_many``'s frame, whose
    results hold the error - a cycle keeping the whole batch alive until a full collection."""
    app.extensions["everyhook"] = []
    rows = [
        {"first_name": "Bulk", "last_name": "Kept"},
        {"first_name": "Bulk", "email": "not an address"},  # refused by the schema
        {"first_name": "Bulk", "last_name": "Vetoed"},  # refused by the veto hook
    ]
    gc.collect()
    gc.disable()
    try:
        results = records.create_many("contacts", rows)
        kept, bad, vetoed = results
        assert isinstance(bad, ValidationError) and isinstance(vetoed, ValidationError)
        assert bad.messages
        assert vetoed.messages == {"last_name": ["Vetoed by the everyhook plugin."]}
        assert bad.__traceback__ is None and vetoed.__traceback__ is None
        refs = [weakref.ref(bad), weakref.ref(vetoed)]
        del results, bad, vetoed
        assert [ref() for ref in refs] == [None, None]  # freed by reference counting alone
    finally:
        gc.enable()
    assert kept.id is not None
