"""Merging duplicate contacts and companies: ``crmcore.merging`` and the ``merge`` action, with
a test plugin whose entity reference and non-entity table are re-pointed."""

from __future__ import annotations

import pytest
from plugin_mergekit import Link, Pledge
from sqlalchemy import select

from crmcore.activities.models import Note
from crmcore.audit import AuditEntry
from crmcore.contacts.models import Company, Contact
from crmcore.duplicates.models import DuplicatePair
from crmcore.errors import ValidationError
from crmcore.instance import disable_plugin
from crmcore.merging import merge_records

pytestmark = pytest.mark.crm_plugins("mergekit")


@pytest.fixture(scope="session")
def crm_extra_plugins():
    return ["plugin_widgets", "plugin_everyhook", "plugin_mergekit"]


def _audit(session, entity, record_id, action):
    return list(
        session.scalars(
            select(AuditEntry).where(
                AuditEntry.entity == entity,
                AuditEntry.record_id == record_id,
                AuditEntry.action == action,
            )
        )
    )


def _pair(crm, entity, a, b):
    crm.session.add(
        DuplicatePair(entity=entity, record_a=min(a, b), record_b=max(a, b), score=90, reasons=[])
    )
    crm.session.commit()


def test_merge_repoints_every_reference_and_trashes_the_loser(crm, api, records, make_company):
    company = make_company()
    keep = records.create(
        "contacts",
        {"first_name": "Ana", "last_name": "Ruiz", "email": "ana@old.example", "tags": ["vip"]},
    )
    gone = records.create(
        "contacts",
        {
            "first_name": "Anita",
            "last_name": "Ruiz",
            "email": "ana@new.example",
            "phone": "+34 611 222 333",
            "company_id": company.id,
            "tags": ["lead", "vip"],
        },
    )
    bystander = records.create("contacts", {"last_name": "Other"})
    note = records.create("notes", {"record_type": "contact", "record_id": gone.id, "body": "x"})
    twin = make_company()
    while twin.id < gone.id:  # a company with the loser's id: its notes are not the loser's
        twin = make_company()
    other_note = records.create(
        "notes", {"record_type": "company", "record_id": twin.id, "body": "not the contact's"}
    )
    pledge = records.create("pledges", {"title": "P", "contact_id": gone.id})
    trashed_pledge = records.create("pledges", {"title": "T", "contact_id": gone.id})
    records.delete("pledges", trashed_pledge)
    crm.session.add_all(
        [Link(contact_id=gone.id, label="gone"), Link(contact_id=bystander.id, label="b")]
    )
    crm.session.commit()
    _pair(crm, "contact", keep.id, gone.id)

    r = api.post(
        f"/api/v1/contacts/{keep.id}/merge",
        json={
            "other_id": gone.id,
            "choices": {"email": "loser", "first_name": "winner", "phone": "loser"},
        },
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["merged"] == gone.id
    crm.session.expire_all()
    s = crm.session
    winner = s.get(Contact, keep.id)
    assert (winner.first_name, winner.email) == ("Ana", "ana@new.example")
    assert winner.phone == "+34611222333"
    assert winner.company_id is None  # not chosen: the winner's value stays
    assert winner.tags == ["vip", "lead"]
    assert s.get(Contact, gone.id).deleted_at is not None
    assert s.get(Note, note.id).record_id == keep.id
    assert s.get(Note, other_note.id).record_id == twin.id  # a company's note is not touched
    assert s.get(Pledge, pledge.id).contact_id == keep.id
    assert s.get(Pledge, trashed_pledge.id).contact_id == keep.id  # the trash too
    assert sorted((link.label, link.contact_id) for link in s.scalars(select(Link))) == [
        ("b", bystander.id),
        ("gone", keep.id),
    ]
    # audited: both records name the other, each re-pointed record has its update
    assert _audit(s, "contact", keep.id, "merge")[0].changes == {"merged_from": [None, gone.id]}
    loser_row = _audit(s, "contact", gone.id, "merge")[0].changes
    assert loser_row["merged_into"] == [None, keep.id]
    assert sorted(loser_row["repointed"][1]["pledge.contact_id"]) == sorted(
        [pledge.id, trashed_pledge.id]
    )
    assert loser_row["repointed"][1]["note.record_id"] == [note.id]
    changes = [e.changes for e in _audit(s, "pledge", pledge.id, "update")]
    assert {"contact_id": [gone.id, keep.id]} in changes
    assert s.scalar(select(DuplicatePair)) is None
    # the re-pointed record's version moved on: a stale edit is refused, not lost
    assert s.get(Pledge, pledge.id).version == 2


def test_restoring_the_loser_moves_its_references_back(crm, api, records):
    keep = records.create("contacts", {"last_name": "Keep"})
    gone = records.create("contacts", {"last_name": "Gone"})
    pledge = records.create("pledges", {"title": "P", "contact_id": gone.id})
    later = records.create("pledges", {"title": "Q", "contact_id": gone.id})
    note = records.create("notes", {"body": "n", "record_type": "contact", "record_id": gone.id})
    assert (
        api.post(f"/api/v1/contacts/{keep.id}/merge", json={"other_id": gone.id}).status_code == 200
    )
    crm.session.expire_all()
    assert crm.session.get(Pledge, pledge.id).contact_id == keep.id
    # changed since the merge: someone pointed it at another contact - it stays where it is
    third = records.create("contacts", {"last_name": "Third"})
    records.update("pledges", crm.session.get(Pledge, later.id), {"contact_id": third.id})
    r = api.post(f"/api/v1/contacts/{gone.id}/restore")
    assert r.status_code == 200, r.get_json()
    crm.session.expire_all()
    assert crm.session.get(Contact, gone.id).deleted_at is None
    assert crm.session.get(Pledge, pledge.id).contact_id == gone.id
    assert crm.session.get(Pledge, later.id).contact_id == third.id
    assert crm.session.get(Note, note.id).record_id == gone.id
    actions = crm.session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.entity == "contact", AuditEntry.record_id == gone.id)
        .order_by(AuditEntry.id)
    ).all()
    assert actions[-2:] in (["restore", "unmerge"], ["unmerge", "restore"])
    # a second restore after another trash does nothing more
    records.delete("contacts", crm.session.get(Contact, gone.id))
    assert api.post(f"/api/v1/contacts/{gone.id}/restore").status_code == 200
    crm.session.expire_all()
    assert crm.session.get(Pledge, pledge.id).contact_id == gone.id


def test_companies_merge_repoints_contacts_and_plugin_records(crm, api, records, make_company):
    keep, gone = make_company(name="Acme"), make_company(name="ACME S.L.")
    person = records.create("contacts", {"last_name": "Worker", "company_id": gone.id})
    pledge = records.create("pledges", {"title": "P", "company_id": gone.id})
    r = api.post(
        f"/api/v1/companies/{keep.id}/merge",
        json={"other_id": gone.id, "other_entity": "companies", "choices": {"name": "loser"}},
    )
    assert r.status_code == 200, r.get_json()
    crm.session.expire_all()
    assert crm.session.get(Company, keep.id).name == "ACME S.L."
    assert crm.session.get(Contact, person.id).company_id == keep.id
    assert crm.session.get(Pledge, pledge.id).company_id == keep.id


def test_a_disabled_plugins_references_are_repointed_too(crm, api, records, app):
    keep = records.create("contacts", {"last_name": "Keep"})
    gone = records.create("contacts", {"last_name": "Gone"})
    pledge = records.create("pledges", {"title": "P", "contact_id": gone.id})
    crm.session.add(Link(contact_id=gone.id, label="l"))
    crm.session.commit()
    disable_plugin(crm, "mergekit")
    crm.forget_enabled()
    r = api.post(f"/api/v1/contacts/{keep.id}/merge", json={"other_id": gone.id})
    assert r.status_code == 200, r.get_json()
    crm.session.expire_all()
    assert crm.session.get(Pledge, pledge.id).contact_id == keep.id
    assert crm.session.scalar(select(Link.contact_id)) == keep.id  # its hook was called


def test_bad_merges_are_refused_and_change_nothing(crm, api, api_as, make_user, records):
    keep = records.create("contacts", {"last_name": "Keep", "email": "k@example.org"})
    gone = records.create("contacts", {"last_name": "Gone", "email": "g@example.org"})
    company = records.create("companies", {"name": "Acme"})
    url = f"/api/v1/contacts/{keep.id}/merge"
    cases = [
        ({"other_id": keep.id}, 422, "itself"),
        ({"other_id": gone.id, "other_entity": "companies"}, 422, "one kind"),
        ({"other_id": gone.id, "choices": {"password": "loser"}}, 422, "No such field"),
        ({"other_id": gone.id, "choices": {"email": "both"}}, 422, "choices"),
        ({"other_id": "x"}, 422, "other_id"),
        ({}, 422, "other_id"),
        ({"other_id": 10**12}, 404, ""),
        ({"other_id": company.id + 10**6}, 404, ""),
    ]
    for body, status, text in cases:
        r = api.post(url, json=body)
        assert r.status_code == status, (body, r.get_json())
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert text in str(r.get_json()), (body, r.get_json())
    # a user who may update the record but not the other one: 403; one who may not read it: 404
    records.create(
        "roles",
        {
            "name": "own_editor",
            "title": "Own editor",
            "grants": {"contacts": {"read": "all", "update": "own", "delete": "own"}},
        },
    )
    editor = make_user("own_editor")
    mine = records.create("contacts", {"last_name": "Mine", "owner_id": editor.id})
    r = api_as(editor).post(f"/api/v1/contacts/{mine.id}/merge", json={"other_id": gone.id})
    assert r.status_code == 403, r.get_json()
    r = api_as(editor).post(f"/api/v1/contacts/{gone.id}/merge", json={"other_id": mine.id})
    assert r.status_code == 403, r.get_json()
    rep = make_user("sales_rep")
    own = records.create("contacts", {"last_name": "Rep's", "owner_id": rep.id})
    r = api_as(rep).post(f"/api/v1/contacts/{own.id}/merge", json={"other_id": gone.id})
    assert r.status_code == 404, r.get_json()
    crm.session.expire_all()
    for record in (keep, gone, mine, own):
        assert crm.session.get(Contact, record.id).deleted_at is None
    assert crm.session.get(Contact, keep.id).email == "k@example.org"
    assert _audit(crm.session, "contact", keep.id, "merge") == []


def test_merge_records_refuses_mixed_or_unmergeable_records(records, make_company):
    contact = records.create("contacts", {"last_name": "C"})
    company = make_company()
    with pytest.raises(ValidationError):
        merge_records(records, "contacts", contact, company, {})
    one = records.create("pledges", {"title": "a"})
    two = records.create("pledges", {"title": "b"})
    with pytest.raises(ValidationError):
        merge_records(records, "pledges", one, two, {})


def test_merge_page_from_the_duplicates_page(crm, app, admin, make_user, records):
    from test_web import csrf_of, page, sign_in

    from crmcore.duplicates.scan import scan

    keep = records.create(
        "contacts", {"first_name": "Eva", "last_name": "Ruiz", "email": "eva@example.com"}
    )
    gone = records.create(
        "contacts",
        {"first_name": "Eva <b>", "last_name": "Ruiz", "email": "EVA@example.com", "city": "Vigo"},
    )
    pledge = records.create("pledges", {"title": "P", "contact_id": gone.id})
    scan(crm, "contact")
    client = app.test_client()
    sign_in(client, admin)
    url = f"/contacts/duplicates/merge/{keep.id}/{gone.id}"
    assert f'href="{url}"' in page(client, "/contacts/duplicates")
    html = page(client, url)
    assert 'name="choice_city" value="winner" checked' in html
    assert "Vigo" in html and "Eva &lt;b&gt;" in html and "Eva <b>" not in html
    assert f'href="/contacts/duplicates/merge/{gone.id}/{keep.id}"' in html  # keep the other
    # no CSRF token: refused, nothing merged
    assert client.post(url, data={"choice_city": "loser"}).status_code == 400
    # a tampered choice: the page says so and nothing changes
    r = client.post(url, data={"csrf_token": csrf_of(html), "choice_city": "both"})
    assert r.status_code == 422
    assert "Must be one of" in r.get_data(as_text=True)
    crm.session.expire_all()
    assert crm.session.get(Contact, gone.id).deleted_at is None
    r = client.post(url, data={"csrf_token": csrf_of(html), "choice_city": "loser"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/contacts/{keep.id}")
    crm.session.expire_all()
    assert crm.session.get(Contact, keep.id).city == "Vigo"
    assert crm.session.get(Contact, keep.id).first_name == "Eva"
    assert crm.session.get(Contact, gone.id).deleted_at is not None
    assert crm.session.get(Pledge, pledge.id).contact_id == keep.id
    # a reader who may not update: the merge is refused
    reader = make_user("read_only", locale="es")
    other = records.create("contacts", {"last_name": "Otro"})
    client = app.test_client()
    sign_in(client, reader)
    html = page(client, f"/contacts/duplicates/merge/{keep.id}/{other.id}")
    assert "Fusionar registros" in html and "Conservar el otro registro" in html
    r = client.post(
        f"/contacts/duplicates/merge/{keep.id}/{other.id}", data={"csrf_token": csrf_of(html)}
    )
    assert r.status_code == 403
    crm.session.expire_all()
    assert crm.session.get(Contact, other.id).deleted_at is None


def test_merge_dialog_on_the_record_page(crm, app, admin, records):
    from test_web import csrf_of, page, sign_in

    keep = records.create("contacts", {"last_name": "Keep"})
    gone = records.create("contacts", {"last_name": "Gone", "tags": ["x"]})
    client = app.test_client()
    sign_in(client, admin)
    assert f"/contacts/{keep.id}/actions/merge" in page(client, f"/contacts/{keep.id}")
    html = page(client, f"/contacts/{keep.id}/actions/merge")
    assert 'name="other_id"' in html and f'value="{gone.id}"' in html
    assert 'name="other_entity"' not in html and 'name="choices"' not in html
    r = client.post(
        f"/contacts/{keep.id}/actions/merge",
        data={"csrf_token": csrf_of(html), "other_id": str(gone.id)},
    )
    assert r.status_code == 303, r.get_data(as_text=True)[:500]
    crm.session.expire_all()
    assert crm.session.get(Contact, gone.id).deleted_at is not None
    assert crm.session.get(Contact, keep.id).tags == ["x"]
