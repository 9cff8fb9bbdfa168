"""Subject access and portability (GDPR articles 15 and 20): ``crm people export``, the contact
page's export and ``POST /api/v1/people/export`` - one ZIP of JSON and files, gathered from every
plugin through ``crm_person_data``."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from privacy_kit import EMAIL, touch_every_module
from sqlalchemy import func, select

from crmcore.audit import AuditEntry

pytestmark = pytest.mark.crm_plugins("sales", "support", "marketing", "kb")


def sections_of(archive: zipfile.ZipFile) -> dict[str, list[dict]]:
    return json.loads(archive.read("person.json"))["sections"]


def test_the_archive_holds_every_module_and_the_files(crm, records, api, admin, cli, tmp_path):
    made = touch_every_module(crm, records, api, admin)
    target = tmp_path / "out.zip"
    result = cli("people", "export", EMAIL, "-o", str(target))
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
        sections = sections_of(archive)
        files = {n: archive.read(n) for n in names if n.startswith("files/")}
        contacts = json.loads(archive.read("data/core.contacts.json"))
    assert contacts["plugin"] == "privacy"
    assert sections["core.contacts"][0]["email"] == EMAIL
    assert sections["core.contacts"][0]["phone"]
    assert [c["id"] for c in sections["core.companies"]] == [made["company"].id]
    for name in (
        "core.notes", "core.activities", "core.tasks", "core.attachments", "core.history",
        "sales.leads", "sales.deals", "sales.quotes", "sales.orders",
        "support.tickets", "support.messages", "support.feedback", "support.portal_accounts",
        "support.web_requests", "marketing.recipients", "marketing.events",
        "marketing.segment_memberships", "marketing.bounces", "kb.searches",
    ):
        assert sections.get(name), f"{name} is missing from the export"
    assert sections["sales.orders"][0]["total"] == str(made["order"].total)
    # consents travel with the contact
    assert "email_opt_out" in sections["core.contacts"][0]
    # the portal account without its password hash
    assert "password_hash" not in sections["support.portal_accounts"][0]
    assert sorted(files.values()) == [b"ID card scan", b"invoice copy"]
    # the export is audited, without the address
    entry = crm.session.scalar(
        select(AuditEntry).where(AuditEntry.entity == "person", AuditEntry.action == "export")
    )
    assert entry is not None and EMAIL not in json.dumps(entry.changes)
    # nothing was changed
    assert crm.session.get(type(made["contact"]), made["contact"].id) is not None


def test_unknown_or_bad_address(crm, cli, tmp_path):
    target = tmp_path / "none.zip"
    result = cli("people", "export", "nobody@example.org", "-o", str(target))
    assert result.exit_code == 1 and "Nothing is held about nobody@example.org" in result.output
    assert not target.exists() and not (tmp_path / "none.zip.part").exists()
    assert cli("people", "export", "@@", "-o", str(target)).exit_code == 1


def test_api_export_is_for_privacy_managers_only(crm, api, api_as, make_user, make_contact):
    make_contact(email="api.export@example.org", first_name="Api", last_name="Export")
    body = {"email": "api.export@example.org"}
    for role in ("manager", "sales_rep", "support_agent"):
        assert api_as(make_user(role)).post("/api/v1/people/export", json=body).status_code == 403
    r = api.post("/api/v1/people/export", json=body)
    assert r.status_code == 200 and r.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.data)) as archive:
        assert sections_of(archive)["core.contacts"][0]["last_name"] == "Export"
    assert api.post("/api/v1/people/export", json={"email": "no@example.org"}).status_code == 404
    r = api.post("/api/v1/people/export", json={"email": 5})
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert api.post("/api/v1/people/export", json=[]).status_code in (400, 422)


def test_contact_page_export(crm, web, web_as, make_user, make_contact):
    contact = make_contact(email="page.export@example.org")
    url = f"/privacy/contacts/{contact.id}/export"
    page = web.get(f"/contacts/{contact.id}").get_data(True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert web.post(url).status_code == 400  # no CSRF token
    r = web.post(url, data={"csrf_token": token})
    assert r.status_code == 200 and r.mimetype == "application/zip"
    assert f"contact-{contact.id}.zip" in r.headers["Content-Disposition"]
    manager = web_as(make_user("manager"))
    theirs = re.search(
        r'name="csrf_token" value="([^"]+)"', manager.get(f"/contacts/{contact.id}").get_data(True)
    ).group(1)
    assert manager.post(url, data={"csrf_token": theirs}).status_code == 403
    # a contact the reader may not see is not found, not exported
    rep = web_as(make_user("sales_rep"))
    before = crm.session.scalar(select(func.count()).select_from(AuditEntry))
    assert rep.post(url, data={"csrf_token": theirs}).status_code in (400, 403, 404)
    assert crm.session.scalar(select(func.count()).select_from(AuditEntry)) == before
