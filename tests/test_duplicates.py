"""Duplicate detection on create and import: the API hint, strict mode, the form, the report."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from test_query_counts import counting
from test_web import csrf_of, page, sign_in

from crmcore.contacts.models import Company, Contact
from crmcore.duplicates import company_key, person_key
from crmcore.importing import ImportOptions, import_file
from crmcore.permissions import Access

CONTACTS = "/api/v1/contacts"
COMPANIES = "/api/v1/companies"


def contacts(crm: Any) -> int:
    return crm.session.scalar(select(func.count()).select_from(Contact)) or 0


def hint(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 201, response.get_json()
    return response.get_json().get("duplicates", [])  # type: ignore[no-any-return]


# the keys names are compared by -------------------------------------------------------------


def test_keys_fold_case_accents_punctuation_and_legal_forms() -> None:
    assert person_key(" José ", "GARCÍA-López") == "jose garcia lopez"
    assert company_key("Acme, S.L.") == company_key("ACME") == "acme"
    assert company_key("Talleres Pérez S.A.") == "talleres perez"
    assert company_key("Inc.") == "inc"  # a name that is only a legal form keeps it


# the API hint -------------------------------------------------------------------------------


def test_same_email_in_other_case_is_hinted_and_still_created(crm, api, make_contact) -> None:
    ada = make_contact(first_name="Ada", last_name="Lovelace", email="ada@example.com")
    before = contacts(crm)
    found = hint(api.post(CONTACTS, json={"last_name": "King", "email": "ADA@Example.com"}))
    assert found == [{"id": ada.id, "title": "Ada Lovelace", "score": 95, "reasons": ["email"]}]
    assert contacts(crm) == before + 1


def test_same_phone_in_another_notation_and_field(api, make_contact) -> None:
    known = make_contact(phone="+34 911 23 45 67")
    other = make_contact(mobile="+34911234567")
    found = hint(api.post(CONTACTS, json={"last_name": "New", "mobile": "+34-911-234-567"}))
    assert {d["id"] for d in found} == {known.id, other.id}
    assert all(d["reasons"] == ["phone"] for d in found)


def test_similar_name_counts_only_at_the_same_company(api, make_company, make_contact) -> None:
    acme, other = make_company(name="Acme"), make_company(name="Other")
    ana = make_contact(first_name="Ana María", last_name="García", company_id=acme.id)
    same = api.post(
        CONTACTS,
        json={"first_name": "ana", "last_name": "GARCÍA", "company_id": acme.id},
    )
    assert [(d["id"], d["reasons"]) for d in hint(same)] == [(ana.id, ["name"])]
    elsewhere = api.post(
        CONTACTS, json={"first_name": "Ana", "last_name": "García", "company_id": other.id}
    )
    assert hint(elsewhere) == []
    different = api.post(
        CONTACTS, json={"first_name": "Pedro", "last_name": "García", "company_id": acme.id}
    )
    assert hint(different) == []


def test_several_reasons_score_higher(api, make_company, make_contact) -> None:
    acme = make_company(name="Acme")
    known = make_contact(
        first_name="Eva", last_name="Ruiz", email="eva@acme.example", company_id=acme.id
    )
    found = hint(
        api.post(
            CONTACTS,
            json={
                "first_name": "Eva",
                "last_name": "Ruiz",
                "email": "eva@acme.example",
                "company_id": acme.id,
            },
        )
    )
    assert found[0]["id"] == known.id
    assert found[0]["reasons"] == ["email", "name"] and found[0]["score"] == 100


def test_no_duplicate_means_no_hint_key(api, make_contact) -> None:
    make_contact(email="someone@example.com", phone="+34911000000")
    response = api.post(CONTACTS, json={"last_name": "Alone", "email": "alone@example.com"})
    assert response.status_code == 201 and "duplicates" not in response.get_json()


def test_company_by_domain_website_and_similar_name(api, make_company) -> None:
    acme = make_company(name="Acme, S.L.", domain="acme.example")
    by_name = hint(api.post(COMPANIES, json={"name": "ACME"}))
    assert [(d["id"], d["reasons"]) for d in by_name] == [(acme.id, ["name"])]
    by_site = hint(
        api.post(COMPANIES, json={"name": "Zeta", "website": "https://www.acme.example/"})
    )
    assert [(d["id"], d["reasons"]) for d in by_site] == [(acme.id, ["domain"])]
    unrelated = make_company(name="Acme Industries")
    typo = hint(api.post(COMPANIES, json={"name": "Acme Industriez"}))
    assert unrelated.id in [d["id"] for d in typo]
    assert [d["reasons"] for d in typo if d["id"] == unrelated.id] == [["similar_name"]]
    assert hint(api.post(COMPANIES, json={"name": "Bodegas Acme"})) == []


def test_trashed_records_are_not_hinted(api, records, make_contact) -> None:
    gone = make_contact(email="gone@example.com")
    records.delete("contacts", gone.id)
    assert hint(api.post(CONTACTS, json={"email": "gone@example.com"})) == []


def test_hint_only_names_records_the_user_may_read(crm, api_as, make_user, make_contact) -> None:
    make_contact(email="theirs@example.com")  # owned by nobody: not in a sales rep's scope
    rep = api_as(make_user("sales_rep"))
    # strict mode cannot be used to probe for records out of scope
    strict = rep.post(f"{CONTACTS}?strict=1", json={"email": "theirs@example.com"})
    assert strict.status_code == 201
    # the rep's own record is in scope: the next one is hinted, and only with it
    again = hint(rep.post(CONTACTS, json={"email": "theirs@example.com"}))
    assert [d["id"] for d in again] == [strict.get_json()["id"]]


# strict mode --------------------------------------------------------------------------------


def test_strict_mode_refuses_with_409_and_creates_nothing(crm, api, make_contact) -> None:
    known = make_contact(email="dup@example.com")
    before = contacts(crm)
    response = api.post(f"{CONTACTS}?strict=1", json={"email": "Dup@example.com"})
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 409 and "strict" in body["detail"]
    assert [d["id"] for d in body["duplicates"]] == [known.id]
    assert contacts(crm) == before
    assert api.post(f"{CONTACTS}?strict=1", json={"email": "fresh@example.com"}).status_code == 201


def test_strict_mode_answers_in_spanish(api, make_contact) -> None:
    make_contact(email="dup@example.com")
    response = api.post(
        f"{CONTACTS}?strict=true",
        json={"email": "dup@example.com"},
        headers={"Accept-Language": "es"},
    )
    assert response.status_code == 409
    assert "contacto" in response.get_json()["detail"]


def test_invalid_input_in_strict_mode_is_still_a_field_error(api, make_contact) -> None:
    make_contact(email="dup@example.com")
    response = api.post(f"{CONTACTS}?strict=1", json={"email": "dup@example.com", "phone": "x"})
    assert response.status_code == 422 and "phone" in response.get_json()["errors"]


def test_strict_parameter_is_in_the_openapi_document(api) -> None:
    spec = api.get("/api/v1/openapi.json").get_json()
    names = [p["name"] for p in spec["paths"]["/api/v1/contacts"]["post"].get("parameters", [])]
    assert "strict" in names


# the form -----------------------------------------------------------------------------------


def test_form_warns_with_a_link_then_saves_anyway(app, crm, admin, make_contact) -> None:
    known = make_contact(first_name="Ada", last_name="Lovelace", email="ada@example.com")
    client = app.test_client()
    sign_in(client, admin)
    html = page(client, "/contacts/new")
    form = {"csrf_token": csrf_of(html), "last_name": "Byron", "email": "ADA@example.com"}
    before = contacts(crm)
    response = client.post("/contacts/new", data=form)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert f'href="/contacts/{known.id}"' in text and "Ada Lovelace" in text
    assert 'name="save_anyway"' in text and 'value="Byron"' in text
    assert contacts(crm) == before
    response = client.post("/contacts/new", data={**form, "save_anyway": "1"})
    assert response.status_code == 303
    assert contacts(crm) == before + 1


def test_form_warning_in_spanish(app, make_user, make_contact) -> None:
    make_contact(email="ada@example.com")
    user = make_user("admin", locale="es")
    client = app.test_client()
    sign_in(client, user)
    html = page(client, "/contacts/new")
    text = client.post(
        "/contacts/new", data={"csrf_token": csrf_of(html), "email": "ada@example.com"}
    ).get_data(as_text=True)
    assert "Puede que sea" in text and "mismo correo" in text


# import -------------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def test_import_lists_likely_duplicates_with_one_lookup_per_batch(
    crm, tmp_path, make_contact
) -> None:
    known = make_contact(first_name="Old", last_name="Timer", phone="+34911234567")
    rows = [["First name", "Last name", "Phone"]]
    rows += [[f"P{n}", f"Person {n}", f"+3491100{n:04d}"] for n in range(40)]
    rows += [["Same", "Phone", "+34 911 23 45 67"], ["Twin", "Row", "+34911000001"]]
    path = write_csv(tmp_path / "people.csv", rows)
    with counting(crm) as statements:
        result = import_file(
            crm, Access.system(), path, ImportOptions(entity="contacts", batch_size=100)
        )
    assert result.created == 42
    assert result.possible_duplicates == 2
    by_line = {d["line"]: d for d in result.duplicates}
    assert [d["id"] for d in by_line[42]["duplicates"]] == [known.id]
    twin = crm.session.scalar(select(Contact.id).where(Contact.first_name == "P1"))
    assert [d["id"] for d in by_line[43]["duplicates"]] == [twin]  # the earlier row of the file
    # ``IN`` a list, or (SQLite) a join from one
    lookups = [s for s in statements if re.search(r"core_contact\.mobile (IN|=)", s)]
    assert len(lookups) == 1, lookups


def test_import_job_keeps_the_duplicates_for_the_api(
    api, tmp_path, make_company, immediate_jobs
) -> None:
    acme = make_company(name="Acme S.L.")
    response = api.post(
        "/api/v1/imports",
        data={"entity": "companies", "file": (io.BytesIO(b"Name\nACME\nZeta\n"), "c.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    body = api.get(f"/api/v1/imports/{response.get_json()['id']}").get_json()
    assert body["status"] == "done" and body["created"] == 2
    assert body["possible_duplicates"] == 1
    assert body["duplicates"][0]["line"] == 2
    assert body["duplicates"][0]["duplicates"][0]["id"] == acme.id


def test_dry_run_reports_duplicates_and_writes_nothing(crm, tmp_path, make_company) -> None:
    make_company(name="Acme")
    before = crm.session.scalar(select(func.count()).select_from(Company))
    path = write_csv(tmp_path / "c.csv", [["Name"], ["acme"]])
    result = import_file(
        crm, Access.system(), path, ImportOptions(entity="companies", dry_run=True)
    )
    assert result.possible_duplicates == 1
    assert crm.session.scalar(select(func.count()).select_from(Company)) == before


def test_names_with_other_numbers_are_not_similar():
    from crmcore.duplicates.matching import company_key, similar

    assert similar(company_key("Ferretería García"), company_key("Ferreteria Garcia S.L."))
    assert similar(company_key("Tienda Sol 12"), company_key("Tiendas Sol 12"))
    # branches and numbered firms are different companies, however alike their names
    assert not similar(company_key("Tienda Sol 1"), company_key("Tienda Sol 2"))
    assert not similar(company_key("Firma 11"), company_key("Firma 1"))


def test_a_batch_compares_rows_only_with_candidates_sharing_a_key(
    crm, make_company, make_contact, monkeypatch
) -> None:
    """The key index of a batch look-up finds exactly what comparing every pair finds: e-mail,
    phone and (company, last name) matches, across case and with near first names."""
    import dataclasses

    from crmcore.duplicates import matching

    acme = make_company(name="Acme")
    make_contact(first_name="Ana", last_name="García", email="ana@example.com")
    make_contact(first_name="Juan", last_name="Pérez", phone="+34911234567")
    make_contact(first_name="Ana María", last_name="Ruiz", company_id=acme.id)
    make_contact(first_name="Luis", last_name="Ruiz", company_id=acme.id)
    make_contact(first_name="Eva", last_name="Otra", mobile="+34600111222")
    entity = crm.registry.get("contacts")
    service = crm.records()
    rows = [
        {"first_name": "X", "last_name": "Y", "email": "ANA@example.com"},
        {"first_name": "Juan", "last_name": "P", "mobile": "+34911234567"},
        {"first_name": "Ana", "last_name": " ruiz ", "company_id": acme.id},
        {"first_name": "Zoe", "last_name": "Nadie", "phone": "+34600111222"},
        {"first_name": "Nobody", "last_name": "Ruiz"},  # no company: no name match
    ]
    keyed = matching.candidates_for(service, entity, rows)
    every_pair = dataclasses.replace(matching.RULES["contact"], keys=None)
    monkeypatch.setitem(matching.RULES, "contact", every_pair)
    assert matching.candidates_for(service, entity, rows) == keyed
    assert [[c.reasons for c in found] for found in keyed] == [
        [("email",)],
        [("phone",)],
        [("name",)],
        [("phone",)],
        [],
    ]
