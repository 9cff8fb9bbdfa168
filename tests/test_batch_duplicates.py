"""Likely duplicates of an import batch: the database is asked about the records outside the
batch, the pairs within it are found in memory - and the hints are those of one look-up over
every readable record (``candidates_for``, which still reads the batch back)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, update

from crmcore.contacts.models import Contact
from crmcore.duplicates import candidates_for, check_records, matching
from crmcore.importing import ImportOptions, import_file
from crmcore.permissions import Access


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def read_back(service: Any, entity: Any, records: list[Any]) -> list[list[Any]]:
    """The hints as one look-up over the table finds them, the batch included."""
    rule = matching.RULES[entity.name]
    rows = [{n: getattr(r, n, None) for n in rule.columns} for r in records]
    ids = [r.id for r in records]
    members = set(ids)
    return candidates_for(
        service,
        entity,
        rows,
        lambda index, other: other == ids[index] or (other > ids[index] and other in members),
    )


def ids_of(found: list[Any]) -> list[int]:
    return [c.id for c in found]


def test_pairs_within_a_batch_by_phone_and_name_are_hinted_on_the_later_row(
    crm, tmp_path, make_contact
) -> None:
    known = make_contact(first_name="Old", last_name="Timer", phone="+34911000001")
    path = write_csv(
        tmp_path / "people.csv",
        [
            ["First name", "Last name", "Phone", "Mobile", "Company"],
            ["Ana", "Ruiz", "", "", "Acme"],  # line 2
            ["Carla", "Sanz", "+34 911 00 00 02", "", ""],  # 3
            ["Dora", "Vila", "", "+34911000002", ""],  # 4: line 3's phone as a mobile
            ["Ana María", "RUIZ", "", "", "Acme"],  # 5: line 2 by company and last name
            ["Luis", "Ruiz", "", "", "Acme"],  # 6: another first name: not the same person
            ["Eva", "Mora", "+34 911 00 00 01", "", ""],  # 7: the record outside the file
            ["Fina", "Gil", "", "+34911000002", "Acme"],  # 8: lines 3 and 4
        ],
    )
    result = import_file(crm, Access.system(), path, ImportOptions(entity="contacts"))
    assert result.created == 7, result.rejected
    id_of = {
        name: crm.session.scalar(select(Contact.id).where(Contact.first_name == name))
        for name in ("Ana", "Carla", "Dora", "Ana María", "Luis", "Eva", "Fina")
    }
    hinted = {d["line"]: d["duplicates"] for d in result.duplicates}
    assert sorted(hinted) == [4, 5, 7, 8]  # each pair once, on its later row
    assert [(d["id"], d["reasons"]) for d in hinted[4]] == [(id_of["Carla"], ["phone"])]
    assert [(d["id"], d["reasons"]) for d in hinted[5]] == [(id_of["Ana"], ["name"])]
    assert hinted[5][0]["title"] == "Ana Ruiz"
    assert [(d["id"], d["reasons"]) for d in hinted[7]] == [(known.id, ["phone"])]
    assert [d["id"] for d in hinted[8]] == [id_of["Carla"], id_of["Dora"]]
    # the same as reading the whole batch back from the database
    service = crm.records()
    entity = crm.registry.get("contacts")
    created = list(
        crm.session.scalars(select(Contact).where(Contact.id.in_(id_of.values())).order_by("id"))
    )
    assert check_records(service, entity, created) == read_back(service, entity, created)
    # records whose values are not loaded (expired) are read through the ORM: the same hints
    expected = check_records(service, entity, created)
    for record in created[::2]:
        crm.session.expire(record)
    assert "email" not in created[0].__dict__
    assert check_records(service, entity, created) == expected


def test_a_batch_boundary_changes_nothing(crm, tmp_path) -> None:
    hints = {}
    for size in (2, 3, 100):
        # rows 0, 3, 6 share a phone, and so do 1, 4 and 2, 5
        people = [[f"P{n}", f"Size {size}", f"+349{size:03d}0{n % 3:04d}"] for n in range(7)]
        path = write_csv(tmp_path / f"p{size}.csv", [["First name", "Last name", "Phone"], *people])
        options = ImportOptions(entity="contacts", batch_size=size)
        result = import_file(crm, Access.system(), path, options)
        assert result.created == 7
        first = crm.session.scalar(
            select(func.min(Contact.id)).where(Contact.last_name == f"Size {size}")
        )
        hints[size] = {
            d["line"] - 2: [c["id"] - first for c in d["duplicates"]] for d in result.duplicates
        }
    # each later row names the earlier ones, an earlier row never a later one
    expected = {3: [0], 4: [1], 5: [2], 6: [0, 3]}
    assert hints == {2: expected, 3: expected, 100: expected}


def test_a_batch_hints_only_records_the_user_may_read(crm, records, make_user) -> None:
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    phone = "+34911222333"
    mine_first = records.create("contacts", {"last_name": "A", "owner_id": rep.id, "phone": phone})
    theirs = records.create("contacts", {"last_name": "B", "owner_id": other.id, "phone": phone})
    mine_last = records.create("contacts", {"last_name": "C", "owner_id": rep.id, "phone": phone})
    batch = [mine_first, theirs, mine_last]
    entity = crm.registry.get("contacts")
    service = crm.records(access=Access.for_user(rep))
    found = check_records(service, entity, batch)
    # ``theirs`` is no one's hint; its own hints are the rep's records
    assert [ids_of(f) for f in found] == [[], [mine_first.id], [mine_first.id]]
    assert found == read_back(service, entity, batch)
    # the system reads them all
    everyone = check_records(crm.records(), entity, batch)
    assert [ids_of(f) for f in everyone] == [[], [mine_first.id], [mine_first.id, theirs.id]]


def test_a_pair_of_the_batch_with_one_readable_record_is_hinted(crm, records, make_user) -> None:
    # the readable record shares its key with no other readable one: only the other's row
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    phone = "+34911222444"
    mine = records.create("contacts", {"last_name": "A", "owner_id": rep.id, "phone": phone})
    theirs = records.create("contacts", {"last_name": "B", "owner_id": other.id, "phone": phone})
    entity = crm.registry.get("contacts")
    service = crm.records(access=Access.for_user(rep))
    found = check_records(service, entity, [mine, theirs])
    assert [ids_of(f) for f in found] == [[], [mine.id]]
    assert found == read_back(service, entity, [mine, theirs])


def test_a_record_between_the_batch_ids_is_looked_up(crm, records, make_contact) -> None:
    first, between, last = (make_contact(email="same@example.com") for _ in range(3))
    entity = crm.registry.get("contacts")
    service = crm.records()
    found = check_records(service, entity, [first, last])
    # ``between`` is not in the batch: an existing record for both
    assert [ids_of(f) for f in found] == [[between.id], [first.id, between.id]]
    assert found == read_back(service, entity, [first, last])


def test_the_database_is_not_asked_about_the_batch(crm, make_contact, monkeypatch) -> None:
    outside = make_contact(email="twin@example.com")
    batch = [make_contact(email="twin@example.com") for _ in range(3)]
    read: list[int] = []
    look_up = matching._look_up

    def recording(*args: Any, **kwargs: Any) -> list[Any]:
        found = look_up(*args, **kwargs)
        read.extend(row.id for row in found)
        return found

    monkeypatch.setattr(matching, "_look_up", recording)
    found = check_records(crm.records(), crm.registry.get("contacts"), batch)
    assert read == [outside.id]
    assert [ids_of(f) for f in found] == [
        [outside.id],
        [outside.id, batch[0].id],
        [outside.id, batch[0].id, batch[1].id],
    ]


def test_companies_within_a_batch_as_the_look_up_finds_them(crm, records) -> None:
    names = ["Acme S.L.", "(Acme)", "ACME", "Zeta", "Zeta Tools", "Other"]
    batch = [records.create("companies", {"name": n}) for n in names]
    batch.append(records.create("companies", {"name": "Nothing", "website": "https://acme.es"}))
    batch.append(records.create("companies", {"name": "Again", "domain": "acme.es"}))
    entity = crm.registry.get("companies")
    service = crm.records()
    found = check_records(service, entity, batch)
    assert found == read_back(service, entity, batch)
    by_name = dict(zip([*names, "Nothing", "Again"], found, strict=True))
    # a name starting with no word is never looked up by its name, so it is nobody's hint
    assert ids_of(by_name["ACME"]) == [batch[0].id]
    assert ids_of(by_name["Again"]) == [batch[6].id]
    assert by_name["Again"][0].reasons == ("domain",)


def test_a_user_who_may_not_read_gets_no_hint(crm, records, make_user) -> None:
    batch = [records.create("contacts", {"last_name": n, "phone": "+34911222444"}) for n in "XY"]
    entity = crm.registry.get("contacts")
    assert ids_of(check_records(crm.records(), entity, batch)[1]) == [batch[0].id]
    nobody = crm.records(access=Access.for_user(make_user(None)))
    assert check_records(nobody, entity, batch) == [[], []]


# the existing-key look-up -------------------------------------------------------------------


def test_a_trashed_record_does_not_make_a_row_a_duplicate(crm, records, tmp_path) -> None:
    gone = records.create("contacts", {"last_name": "Gone", "email": "gone@example.com"})
    records.delete("contacts", gone.id)
    live = records.create("contacts", {"last_name": "Live", "email": "live@example.com"})
    path = write_csv(
        tmp_path / "c.csv",
        [["Last name", "E-mail"], ["New", "gone@example.com"], ["Again", "live@example.com"]],
    )
    result = import_file(crm, Access.system(), path, ImportOptions(entity="contacts"))
    assert (result.created, result.skipped) == (1, 1)
    created = crm.session.scalar(select(Contact).where(Contact.last_name == "New"))
    assert created is not None and created.id not in (gone.id, live.id)


def test_an_address_stored_in_capitals_is_the_same_address(crm, records, tmp_path) -> None:
    """A row matches a record whatever the case either has (``lower(email)``'s index): one
    written before addresses were lower-cased, or by another tool, is not imported twice."""
    known = records.create("contacts", {"last_name": "Known", "email": "known@example.com"})
    crm.session.execute(
        update(Contact).where(Contact.id == known.id).values(email="Known@Example.COM")
    )
    crm.session.commit()
    path = write_csv(tmp_path / "c.csv", [["Last name", "E-mail"], ["Again", "KNOWN@example.com"]])
    result = import_file(crm, Access.system(), path, ImportOptions(entity="contacts"))
    assert (result.created, result.skipped) == (0, 1)


@pytest.mark.crm_sqlite_only
def test_the_existing_key_look_up_uses_the_email_index(crm, tmp_path, make_contact) -> None:
    """Not the ``deleted_at`` index, which walks the whole table for every batch."""
    make_contact(email="known@example.com")
    seen: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if statement.startswith("SELECT lower(core_contact.email)") and "JOIN" in statement:
            seen.append((statement, parameters))

    # a batch's worth of keys: with one, SQLite picks the e-mail index anyway
    rows = [["Last name", "E-mail"], ["K", "known@example.com"]]
    rows += [[f"N{n}", f"new{n}@example.com"] for n in range(300)]
    path = write_csv(tmp_path / "c.csv", rows)
    event.listen(crm.engine, "before_cursor_execute", before)
    try:
        import_file(crm, Access.system(), path, ImportOptions(entity="contacts"))
    finally:
        event.remove(crm.engine, "before_cursor_execute", before)
    assert len(seen) == 1
    statement, parameters = seen[0]
    plan = " ".join(
        str(row[-1])
        for row in crm.session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, parameters
        )
    )
    assert "ix_core_contact_email_lower " in plan + " " and "deleted_at" not in plan, plan


@pytest.mark.crm_sqlite_only
def test_the_look_up_by_company_and_last_name_reads_the_index_alone(
    crm, make_company, make_contact
) -> None:
    """Not every contact of each company named (its rows for their last names): each pair
    is found by both columns of the index on ``(company_id, lower(last_name))``."""
    acme = make_company(name="Acme")
    batch = [make_contact(company_id=acme.id, last_name=f"Name {n}") for n in range(3)]
    seen: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if "core_contact.company_id =" in statement:
            seen.append((statement, parameters))

    event.listen(crm.engine, "before_cursor_execute", before)
    try:
        check_records(crm.records(), crm.registry.get("contacts"), batch)
    finally:
        event.remove(crm.engine, "before_cursor_execute", before)
    assert len(seen) == 1
    statement, parameters = seen[0]
    plan = [
        str(row[-1])
        for row in crm.session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, parameters
        )
    ]
    explained = "\n".join([statement, *plan])
    assert any(
        "ix_core_contact_company_last_name (company_id=? AND <expr>=?" in step for step in plan
    ), explained
    # nor a walk through the ids outside the batch
    assert not any("core_contact USING INTEGER PRIMARY KEY (rowid<" in step for step in plan), (
        explained
    )
    # and one search per value: the batch's ids are left out by a test of each entry found,
    # not by two searches, one for each range of ids outside the batch
    assert not any("MULTI-INDEX OR" in step for step in plan), explained


@pytest.mark.crm_sqlite_only
def test_a_batch_look_up_sends_its_lists_as_a_few_parameters(crm, make_company, records) -> None:
    """Not one parameter per e-mail, phone and name, which SQLAlchemy would expand into the
    statement at every execution; the keys still find their records, whatever they hold."""
    acme = make_company(name="Acme")
    odd = ['o\'brien "q" \\ [1]', "ñandú 名前", "a,b", '{"x": 1}']
    known = [
        records.create(
            "contacts",
            {
                "last_name": name,
                "company_id": acme.id,
                "email": f"k{n}@example.com",
                "phone": f"+3491100{n:04d}",
            },
        )
        for n, name in enumerate(odd)
    ]
    batch = [
        records.create(
            "contacts",
            {
                "first_name": "Z",
                "last_name": f"Batch {n}",
                "email": f"b{n}@example.com",
                "phone": f"+3491200{n:04d}",
                "company_id": acme.id,
            },
        )
        for n in range(200)
    ]
    # one batch record per key of a known record: e-mail, phone, and company + last name
    twins = [
        records.create("contacts", {"last_name": "T1", "email": "K0@example.com"}),
        records.create("contacts", {"last_name": "T2", "mobile": "+34911000001"}),
        *(records.create("contacts", {"last_name": n, "company_id": acme.id}) for n in odd),
    ]
    sent: list[Any] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if "UNION ALL" in statement:
            sent.append(parameters)

    event.listen(crm.engine, "before_cursor_execute", before)
    try:
        found = check_records(crm.records(), crm.registry.get("contacts"), batch + twins)
    finally:
        event.remove(crm.engine, "before_cursor_execute", before)
    assert len(sent) == 1 and len(sent[0]) < 20, sent
    assert [ids_of(f) for f in found[:200]] == [[]] * 200
    assert [ids_of(f) for f in found[200:]] == [[k.id] for k in known[:2] + known]
    assert [f[0].reasons for f in found[200:]] == [("email",), ("phone",)] + [("name",)] * 4


def test_reasons_from_shared_keys_are_those_of_the_comparison() -> None:
    """``shared_reasons`` is a shortcut of ``reasons`` for a pair sharing a key: the same
    reasons, in the same order, for every pair of a grid of awkward values."""
    rule = matching.RULES["contact"]
    assert rule.keys is not None and rule.shared_reasons is not None
    found = matching._found_type(("id", *rule.columns))
    emails = [None, "", "Ana@Example.com", "ana@example.com", "other@example.com"]
    phones = [None, "", "+34911000001", "+34911000002"]
    companies = [None, 0, 1, 2]
    lasts = [None, "", "  ", "Ruiz", " RUIZ ", "Gil"]
    firsts = [None, "", "Ana", "Ana María", "Luis"]
    compared = 0
    for email in emails:
        for phone in phones:
            for company in companies:
                for last in lasts:
                    for first in firsts:
                        values = {
                            "email": email,
                            "phone": phone,
                            "mobile": None,
                            "company_id": company,
                            "first_name": first,
                            "last_name": last,
                        }
                        mine = rule.keys(values, None)
                        for other in (
                            found(7, "ANA@example.com", None, phone, 1, "ana", " ruiz"),
                            found(8, "other@example.com", "+34911000002", None, 2, "Luis", "Ruiz"),
                            found(9, None, None, None, company, None, "Gil"),
                        ):
                            shared = sorted(mine & rule.keys({}, other), key=repr)
                            if not shared:
                                continue
                            compared += 1
                            assert rule.shared_reasons(values, other, shared) == rule.reasons(
                                values, other
                            ), (values, other)
    assert compared > 1000


def test_a_company_id_no_record_can_have_is_not_looked_up(crm, make_company, make_contact):
    """An id past the database's integers (input not checked yet) finds nothing and fails no
    statement: PostgreSQL would refuse the whole look-up for it."""
    acme = make_company(name="Acme")
    ana = make_contact(first_name="Ana", last_name="Ruiz", company_id=acme.id)
    rows = [
        {"first_name": "Ana", "last_name": "Ruiz", "company_id": 2**70},
        {"first_name": "Ana", "last_name": "Ruiz", "company_id": 0},
        {"first_name": "Ana", "last_name": "Ruiz", "company_id": acme.id},
    ]
    found = candidates_for(crm.records(), crm.registry.get("contacts"), rows)
    assert [[c.id for c in hints] for hints in found] == [[], [], [ana.id]]
