"""Trash retention: the ``trash_retention_days`` setting, the daily purge job and "Empty trash"
for administrators, each deleting records for good with their notes and attachments."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from sqlalchemy import func, select

from crmcore.activities.models import Note
from crmcore.audit import AuditEntry
from crmcore.contacts.models import Contact
from crmcore.privacy.trash import purge_trash, run_retention
from crmcore.search import SearchDoc


def trashed(records, crm, make_contact, days_ago: float, **fields):
    contact = make_contact(**fields)
    records.delete("contacts", contact)
    contact.deleted_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    crm.session.commit()
    return contact


def stored(crm):
    return {p for p in crm.settings.attachments_path.rglob("*") if p.is_file()}


def test_retention_setting_defaults_to_30_days_and_is_validated(api, api_as, make_user):
    assert api.get("/api/v1/settings").get_json()["trash_retention_days"] == 30
    for bad in (-1, 3651, "soon", 1.5):
        r = api.patch("/api/v1/settings", json={"trash_retention_days": bad})
        assert r.status_code == 422 and "trash_retention_days" in str(r.get_json()), bad
    r = api_as(make_user("sales_rep")).patch("/api/v1/settings", json={"trash_retention_days": 1})
    assert r.status_code == 403
    r = api.patch("/api/v1/settings", json={"trash_retention_days": 7})
    assert r.status_code == 200 and r.get_json()["trash_retention_days"] == 7


def test_settings_page_field(web):
    html = web.get("/admin/settings").get_data(True)
    assert 'name="trash_retention_days"' in html and 'value="30"' in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    form = {"csrf_token": token, "default_currency": "EUR", "time_zone": "UTC"}
    bad = web.post("/admin/settings", data={**form, "trash_retention_days": "abc"})
    assert bad.status_code == 422 and 'id="trash_retention_days-error"' in bad.get_data(True)
    good = web.post("/admin/settings", data={**form, "trash_retention_days": "12"})
    assert good.status_code == 303
    assert 'value="12"' in web.get("/admin/settings").get_data(True)


def test_the_job_purges_what_outlived_the_retention(app, crm, records, api, make_contact):
    old = make_contact(last_name="Oldtrash")
    records.create("notes", {"record_type": "contacts", "record_id": old.id, "body": "gone"})
    upload = api.post(
        f"/api/v1/contacts/{old.id}/attachments",
        data={"file": (io.BytesIO(b"old file"), "old.txt")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201
    records.delete("contacts", old)
    old.deleted_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=31)
    crm.session.commit()
    before_files = stored(crm)
    recent = trashed(records, crm, make_contact, 5)
    live = make_contact()
    crm.jobs
    names = [job.name for _p, job in crm.plugins.collect("crm_periodic_jobs")]
    assert "privacy-trash-retention" in names

    run_retention(app)
    crm.session.expire_all()
    assert crm.session.get(Contact, old.id) is None
    assert crm.session.get(Contact, recent.id) is not None
    assert crm.session.get(Contact, live.id) is not None
    notes = select(func.count()).select_from(Note).where(Note.record_id == old.id)
    assert crm.session.scalar(notes) == 0
    assert len(before_files - stored(crm)) == 1  # the attachment's file went too
    assert crm.session.scalar(
        select(func.count()).select_from(SearchDoc).where(SearchDoc.record_id == old.id,
                                                          SearchDoc.entity == "contact")
    ) == 0
    entry = crm.session.scalar(select(AuditEntry).where(AuditEntry.entity == "trash"))
    assert entry.action == "purge" and entry.changes["purged"][1]["contacts"] == 1
    # the purged record's own history stays (who deleted what, when)
    assert crm.session.scalar(
        select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity == "contact", AuditEntry.record_id == old.id
        )
    )


def test_zero_days_keeps_the_trash(app, crm, records, api, make_contact):
    api.patch("/api/v1/settings", json={"trash_retention_days": 0})
    old = trashed(records, crm, make_contact, 400)
    run_retention(app)
    crm.session.expire_all()
    assert crm.session.get(Contact, old.id) is not None


def test_purging_everything_keeps_user_accounts(crm, records, make_contact, make_user):
    from crmcore.users.models import User

    a = trashed(records, crm, make_contact, 100)
    b = trashed(records, crm, make_contact, 100)
    user = make_user("sales_rep")
    user.deleted_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=100)
    crm.session.commit()
    counts = purge_trash(crm, crm.session)
    assert counts["contacts"] >= 2 and "users" not in counts
    crm.session.expire_all()
    assert crm.session.get(Contact, a.id) is None and crm.session.get(Contact, b.id) is None
    assert crm.session.get(User, user.id) is not None  # accounts are deactivated, not purged


def test_empty_trash_api(crm, records, api, api_as, make_user, make_contact):
    gone = trashed(records, crm, make_contact, 0)
    for role in ("manager", "sales_rep"):
        r = api_as(make_user(role)).post("/api/v1/trash/empty", json={"entity": "contacts"})
        assert r.status_code == 403
    assert api.post("/api/v1/trash/empty", json={"entity": "nothing"}).status_code == 404
    assert api.post("/api/v1/trash/empty", json={"entity": "users"}).status_code == 422
    assert api.post("/api/v1/trash/empty", json={"entity": 3}).status_code == 422
    crm.session.expire_all()
    assert crm.session.get(Contact, gone.id) is not None
    r = api.post("/api/v1/trash/empty", json={"entity": "contacts"})
    assert r.status_code == 200 and r.get_json()["purged"]["contacts"] >= 1
    crm.session.expire_all()
    assert crm.session.get(Contact, gone.id) is None
    entry = crm.session.scalar(
        select(AuditEntry).where(AuditEntry.entity == "trash", AuditEntry.action == "empty")
    )
    assert entry is not None and entry.user_id is not None
    # every entity's trash at once
    more = trashed(records, crm, make_contact, 0)
    r = api.post("/api/v1/trash/empty", json={})
    assert r.status_code == 200 and r.get_json()["purged"] == {"contacts": 1}
    crm.session.expire_all()
    assert crm.session.get(Contact, more.id) is None


def test_empty_trash_page(crm, records, web, web_as, make_user, make_contact):
    gone = trashed(records, crm, make_contact, 0)
    html = web.get("/contacts/trash").get_data(True)
    assert "Empty trash" in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    manager = web_as(make_user("manager"))
    theirs = manager.get("/contacts/trash").get_data(True)
    assert "Empty trash" not in theirs
    their_token = re.search(r'name="csrf_token" value="([^"]+)"', theirs).group(1)
    url = "/privacy/trash/contacts/empty"
    assert manager.post(url, data={"csrf_token": their_token}).status_code == 403
    assert web.post(url).status_code == 400  # no CSRF token
    crm.session.expire_all()
    assert crm.session.get(Contact, gone.id) is not None
    done = web.post(url, data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"].endswith("/contacts/trash")
    crm.session.expire_all()
    assert crm.session.get(Contact, gone.id) is None


@pytest.mark.crm_plugins("sales")
def test_a_record_still_referred_to_stays_in_the_trash(crm, records):
    from crm_sales.models import Pipeline

    deal = records.create("deals", {"title": "Keeps its pipeline"})
    kept_id = deal.pipeline_id
    spare_id = records.create("pipelines", {"name": "Spare"}).id
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=100)
    for pipeline_id in (kept_id, spare_id):
        crm.session.get(Pipeline, pipeline_id).deleted_at = old
    crm.session.commit()
    counts = purge_trash(crm, crm.session, entities=[crm.registry.get("pipelines")])
    assert counts == {"pipelines": 1}
    crm.session.expire_all()
    assert crm.session.get(Pipeline, kept_id) is not None
    assert crm.session.get(Pipeline, spare_id) is None
