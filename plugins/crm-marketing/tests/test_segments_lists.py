"""Static segments: members added and removed over the API, CSV files imported into a list
(API and ``crm marketing import-list``), scope of the members."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from crm_marketing.models import SegmentMember
from crm_marketing.segments import count
from sqlalchemy import func, select

from crmcore.contacts.models import Contact


def _static(records: Any, name: str = "Newsletter") -> Any:
    return records.create("segments", {"name": name, "kind": "static"})


def _members(session: Any, segment: Any) -> set[int]:
    return set(
        session.scalars(
            select(SegmentMember.contact_id).where(SegmentMember.segment_id == segment.id)
        )
    )


def _grant(records: Any, user: Any, **grants: Any) -> None:
    role = user.role
    records.update("roles", role, {"grants": {**role.grants, **grants}})


def _upload(client: Any, segment_id: int, text: str | bytes, **form: str) -> Any:
    data = text.encode() if isinstance(text, str) else text
    return client.post(
        f"/api/v1/segments/{segment_id}/import",
        data={"file": (io.BytesIO(data), "list.csv"), **form},
        content_type="multipart/form-data",
    )


# members one by one ------------------------------------------------------------------------


def test_add_and_remove_members(api, records, session, make_contact):
    segment = _static(records)
    a, b, c = make_contact(), make_contact(), make_contact()
    url = f"/api/v1/segments/{segment.id}/members"
    added = api.post(url, json={"contact_ids": [a.id, b.id, a.id]})
    assert added.status_code == 200, added.get_json()
    assert added.get_json() == {"added": 2, "already_members": 0}
    again = api.post(url, json={"contact_ids": [b.id, c.id]}).get_json()
    assert again == {"added": 1, "already_members": 1}
    assert _members(session, segment) == {a.id, b.id, c.id}
    page = api.get(url).get_json()
    assert sorted(x["id"] for x in page["data"]) == sorted([a.id, b.id, c.id])
    assert api.get(f"/api/v1/segments/{segment.id}/count").get_json()["member_count"] == 3
    assert api.delete(f"{url}/{b.id}").status_code == 204
    assert _members(session, segment) == {a.id, c.id}
    gone = api.delete(f"{url}/{b.id}")
    assert gone.status_code == 404
    # trashed members are not listed nor counted, and can still be taken off
    records.delete("contacts", c)
    assert [x["id"] for x in api.get(url).get_json()["data"]] == [a.id]
    assert count(records, segment) == 1
    assert api.delete(f"{url}/{c.id}").status_code == 204
    assert _members(session, segment) == {a.id}


def test_unknown_contacts_add_nobody(api, records, session, make_contact):
    segment = _static(records)
    a = make_contact()
    trashed = make_contact()
    records.delete("contacts", trashed)
    url = f"/api/v1/segments/{segment.id}/members"
    for ids in ([a.id, 99999999], [trashed.id]):
        response = api.post(url, json={"contact_ids": ids})
        assert response.status_code == 422
        assert "No such contact" in response.get_json()["errors"]["contact_ids"][0]
    assert _members(session, segment) == set()


def test_bad_member_bodies(api, records):
    segment = _static(records)
    url = f"/api/v1/segments/{segment.id}/members"
    for body in (
        {},
        {"contact_ids": []},
        {"contact_ids": "1,2"},
        {"contact_ids": ["1"]},
        {"contact_ids": [1.5]},
        {"contact_ids": [2**40]},
        {"contact_ids": list(range(1, 1002))},
        {"contact_ids": [1], "segment_id": 3},
    ):
        response = api.post(url, json=body)
        assert response.status_code == 422, body
        assert response.headers["Content-Type"] == "application/problem+json"
    assert api.post(url, data="[1]", content_type="application/json").status_code == 422
    assert api.post(url, data="contact_ids=1").status_code == 415


def test_dynamic_segments_take_no_members(api, records, make_contact):
    segment = records.create("segments", {"name": "Dynamic", "query": "tags=vip"})
    contact = make_contact()
    url = f"/api/v1/segments/{segment.id}/members"
    response = api.post(url, json={"contact_ids": [contact.id]})
    assert response.status_code == 409
    assert "dynamic" in response.get_json()["detail"]
    assert api.delete(f"{url}/{contact.id}").status_code == 409
    assert _upload(api, segment.id, "email\na@example.com\n").status_code == 409


def test_changing_members_needs_update(api_as, make_user, records, make_contact, session):
    reader = make_user("manager")  # segments: read all (from the marketing grants), no update
    _grant(records, reader, segments={"read": "all"})
    segment = _static(records)
    contact = make_contact()
    client = api_as(reader)
    url = f"/api/v1/segments/{segment.id}/members"
    assert client.post(url, json={"contact_ids": [contact.id]}).status_code == 403
    assert client.get(url).status_code == 200
    assert _members(session, segment) == set()


def test_own_scope_adds_sees_and_removes_only_own_contacts(
    api_as, make_user, records, session, make_contact
):
    rep = make_user("sales_rep")
    _grant(records, rep, segments={"read": "all", "update": "all"})
    segment = _static(records)
    mine = make_contact(owner_id=rep.id)
    theirs = make_contact()
    client = api_as(rep)
    url = f"/api/v1/segments/{segment.id}/members"
    refused = client.post(url, json={"contact_ids": [mine.id, theirs.id]})
    assert refused.status_code == 422  # the other contact does not exist for this user
    assert client.post(url, json={"contact_ids": [mine.id]}).status_code == 200
    records.session.add(SegmentMember(segment_id=segment.id, contact_id=theirs.id))
    records.session.commit()
    assert [x["id"] for x in client.get(url).get_json()["data"]] == [mine.id]
    assert client.get(f"/api/v1/segments/{segment.id}/count").get_json()["member_count"] == 1
    assert client.delete(f"{url}/{theirs.id}").status_code == 404
    assert _members(session, segment) == {mine.id, theirs.id}
    assert count(records, segment) == 2


# CSV import --------------------------------------------------------------------------------


def test_import_matches_creates_and_reports(api, records, session, make_contact):
    segment = _static(records)
    known = make_contact(email="ana@example.com", first_name="Ana")
    already = make_contact(email="luis@example.com")
    session.add(SegmentMember(segment_id=segment.id, contact_id=already.id))
    session.commit()
    text = (
        "Nombre;Apellidos;Correo electrónico;Empresa\n"
        "Ana;García;ANA@Example.com;\n"
        "José;Núñez;jose.nunez@example.es;Acme Ibérica\n"
        "Luis;Pérez;luis@example.com;\n"
        "Sin;Correo;;\n"
        "Mal;Correo;not-an-address;\n"
        "José;Núñez;Jose.Nunez@example.es;\n"
        "Zoë;Ødegaard;zoe@example.no;Acme Ibérica\n"
    )
    response = _upload(api, segment.id, text)
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert report["total"] == 7
    assert report["added"] == 3  # Ana (matched), José and Zoë (created)
    assert report["already_members"] == 1  # Luis
    assert report["duplicates"] == 1  # José again, in other case
    assert report["contacts_created"] == 2
    assert report["companies_created"] == 1
    assert report["rejected"] == 2
    assert [(r["line"], r["reason"]) for r in report["rejected_rows"]] == [
        (5, "The row has no e-mail address."),
        (6, "email: Not a valid e-mail address."),
    ]
    assert report["columns"]["Correo electrónico"] == "email"
    jose = session.scalar(select(Contact).where(Contact.email == "jose.nunez@example.es"))
    assert (jose.first_name, jose.last_name) == ("José", "Núñez")
    zoe = session.scalar(select(Contact).where(Contact.email == "zoe@example.no"))
    assert zoe.first_name == "Zoë" and zoe.company_id == jose.company_id is not None
    assert _members(session, segment) == {known.id, already.id, jose.id, zoe.id}
    assert records.get("contacts", known.id).first_name == "Ana"  # matched, not changed


def test_import_of_a_latin1_file_with_accents(api, records, session):
    segment = _static(records)
    data = "email,first_name,city\nmaría@example.es,María,Cádiz\n".encode("cp1252")
    response = _upload(api, segment.id, data)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["contacts_created"] == 1
    maria = session.scalar(select(Contact).where(Contact.first_name == "María"))
    assert maria.city == "Cádiz" and maria.email == "maría@example.es"
    again = _upload(api, segment.id, "email\nMARÍA@example.es\n".encode()).get_json()
    assert again["already_members"] == 1 and again["contacts_created"] == 0


def test_rows_refused_by_the_record_service_are_rejected(api, records, session):
    segment = _static(records)
    text = "email,phone,country\nok@example.com,,ES\nbad@example.com,not a phone,ES\n"
    text += "far@example.com,,Narnia\n"
    report = _upload(api, segment.id, text).get_json()
    assert report["added"] == 1 and report["rejected"] == 2
    reasons = {r["email"]: r["reason"] for r in report["rejected_rows"]}
    assert reasons["bad@example.com"].startswith("phone:")
    assert reasons["far@example.com"].startswith("country:")
    assert session.scalar(select(Contact.id).where(Contact.email == "bad@example.com")) is None


def test_dry_run_writes_nothing(api, records, session, make_contact):
    segment = _static(records)
    known = make_contact(email="known@example.com")
    before = session.scalar(select(func.count()).select_from(Contact))
    text = "email,first_name\nknown@example.com,K\nnew@example.com,N\nbroken,B\n"
    report = _upload(api, segment.id, text, dry_run="true").get_json()
    assert report["dry_run"] is True
    assert (report["added"], report["contacts_created"], report["rejected"]) == (2, 1, 1)
    assert session.scalar(select(func.count()).select_from(Contact)) == before
    assert _members(session, segment) == set()
    real = _upload(api, segment.id, text).get_json()
    assert (real["added"], real["contacts_created"]) == (2, 1)
    assert known.id in _members(session, segment)


def test_files_that_cannot_be_imported(api, records):
    segment = _static(records)
    cases = [
        ("first_name,last_name\nAna,García\n", "no column of e-mail"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG"),
        ("", "empty"),
        ('email\n"unterminated\n', None),
    ]
    for data, words in cases:
        response = _upload(api, segment.id, data)
        if words is None:
            assert response.status_code in (200, 422)
            continue
        assert response.status_code == 422, (data, response.get_json())
        assert words in response.get_json()["detail"]
    missing = api.post(f"/api/v1/segments/{segment.id}/import", data={})
    assert missing.status_code == 422
    assert "file" in missing.get_json()["errors"]
    bad_mapping = _upload(api, segment.id, "email\na@example.com\n", mapping="{nope")
    assert "mapping" in bad_mapping.get_json()["errors"]


def test_import_with_a_mapping(api, records, session):
    segment = _static(records)
    text = "Dirección,Quién\nmapped@example.com,Pat\n"
    report = _upload(
        api, segment.id, text, mapping='{"Dirección": "email", "Quién": "first_name"}'
    ).get_json()
    assert report["contacts_created"] == 1
    assert (
        session.scalar(select(Contact.first_name).where(Contact.email == "mapped@example.com"))
        == "Pat"
    )


def test_import_needs_update_and_data_import(api_as, make_user, records):
    segment = _static(records)
    reader = make_user("read_only")
    assert _upload(api_as(reader), segment.id, "email\na@example.com\n").status_code == 403
    rep = make_user("sales_rep")  # no data.import
    _grant(records, rep, segments={"read": "all", "update": "all"})
    response = _upload(api_as(rep), segment.id, "email\na@example.com\n")
    assert response.status_code == 403
    assert "data.import" in response.get_json()["detail"]


def test_import_in_the_callers_scope(api_as, make_user, records, session, make_contact):
    """A user with own scope: their contacts match, others' are not revealed as theirs, new
    contacts are created as theirs."""
    rep = make_user("sales_rep")
    _grant(records, rep, segments={"read": "all", "update": "all"})
    role = rep.role
    records.update("roles", role, {"permissions": [*role.permissions, "data.import"]})
    segment = _static(records)
    mine = make_contact(email="mine@example.com", owner_id=rep.id)
    make_contact(email="theirs@example.com")
    text = "email\nmine@example.com\ntheirs@example.com\nfresh@example.com\n"
    report = _upload(api_as(rep), segment.id, text).get_json()
    assert (report["added"], report["contacts_created"], report["rejected"]) == (2, 1, 1)
    assert "you may not see it" in report["rejected_rows"][0]["reason"]
    fresh = session.scalar(select(Contact).where(Contact.email == "fresh@example.com"))
    assert fresh.owner_id == rep.id
    assert _members(session, segment) == {mine.id, fresh.id}


def test_import_without_create_permission_rejects_new_addresses(
    api_as, make_user, records, session, make_contact
):
    user = make_user("read_only")
    _grant(records, user, segments={"read": "all", "update": "all"})
    role = user.role
    records.update("roles", role, {"permissions": ["data.import"]})
    segment = _static(records)
    known = make_contact(email="known@example.com")
    report = _upload(api_as(user), segment.id, "email\nknown@example.com\nnew@example.com\n")
    body = report.get_json()
    assert (body["added"], body["rejected"]) == (1, 1), body
    assert "may not create contacts" in body["rejected_rows"][0]["reason"]
    assert _members(session, segment) == {known.id}


def test_a_large_file_in_batches(api, records, session, make_contact):
    segment = _static(records)
    for i in range(0, 1200, 100):
        make_contact(email=f"bulk{i}@example.com")
    rows = "\n".join(f"bulk{i}@example.com,Bulk {i}" for i in range(1200))
    report = _upload(api, segment.id, f"email,last_name\n{rows}\n").get_json()
    assert report["total"] == 1200
    assert report["added"] == 1200 and report["contacts_created"] == 1188
    assert count(records, segment) == 1200


# the command -------------------------------------------------------------------------------


def test_import_list_command(cli, records, session, tmp_path, make_contact):
    segment = _static(records)
    known = make_contact(email="known@example.com")
    path = tmp_path / "list.csv"
    path.write_text(
        "email,first_name\nknown@example.com,K\nnew@example.com,Núria\nwrong,W\nnew@example.com,N\n",
        encoding="utf-8",
    )
    dry = cli("marketing", "import-list", str(segment.id), str(path), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run: 4 rows: would be added 2" in dry.output
    assert _members(session, segment) == set()
    result = cli("marketing", "import-list", str(segment.id), str(path))
    assert result.exit_code == 0, result.output
    assert "4 rows: added 2, already members 0, repeated in the file 1" in result.output
    assert "contacts created 1, rejected 1" in result.output
    report = Path(result.output.split("rejected rows: ")[1].strip())
    with open(report, encoding="utf-8-sig") as fh:
        lines = list(csv.reader(fh))
    assert lines[0] == ["line", "reason", "email", "first_name"]
    assert lines[1][:3] == ["4", "email: Not a valid e-mail address.", "wrong"]
    new = session.scalar(select(Contact).where(Contact.email == "new@example.com"))
    assert new.first_name == "Núria"
    assert _members(session, segment) == {known.id, new.id}
    member = session.scalar(select(SegmentMember).where(SegmentMember.contact_id == new.id))
    assert member.source == "import:list.csv"


def test_import_list_command_errors(cli, records, tmp_path):
    dynamic = records.create("segments", {"name": "Dynamic"})
    path = tmp_path / "list.csv"
    path.write_text("email\na@example.com\n", encoding="utf-8")
    missing = cli("marketing", "import-list", "99999", str(path))
    assert missing.exit_code != 0 and "No segment with id 99999" in missing.output
    refused = cli("marketing", "import-list", str(dynamic.id), str(path))
    assert refused.exit_code != 0 and "dynamic" in refused.output
    nobody = cli("marketing", "import-list", str(dynamic.id), str(path), "--as", "no@x.com")
    assert nobody.exit_code != 0 and "no active user" in nobody.output
