"""Merging tickets as a record action: the API path and answers stay, plus an audit row, an
OpenAPI entry and a dialog on the ticket's page that lands on the ticket merged into."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from crmcore.audit import AuditEntry

pytestmark = pytest.mark.crm_plugins("support")


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_merge_through_the_api_is_audited_and_documented(api, crm):
    a = api.post("/api/v1/tickets", json={"subject": "Dup A"}).get_json()
    b = api.post("/api/v1/tickets", json={"subject": "Dup B"}).get_json()
    assert api.post(f"/api/v1/tickets/{a['id']}/merge", json={}).status_code == 422
    r = api.post(f"/api/v1/tickets/{a['id']}/merge", json={"into": b["id"]})
    assert r.status_code == 200 and r.get_json()["id"] == b["id"]  # the ticket merged into
    assert api.get(f"/api/v1/tickets/{a['id']}").get_json()["merged_into_id"] == b["id"]
    rows = crm.session.scalars(
        select(AuditEntry).where(AuditEntry.record_id == a["id"], AuditEntry.action == "merge")
    ).all()
    assert [row.changes for row in rows] == [{"into": [None, b["id"]]}]
    paths = api.get("/api/v1/openapi.json").get_json()["paths"]
    assert "requestBody" in paths["/api/v1/tickets/{record_id}/merge"]["post"]


def test_merge_in_the_dialog_lands_on_the_other_ticket(web, api):
    a = api.post("/api/v1/tickets", json={"subject": "Printer on fire"}).get_json()
    b = api.post("/api/v1/tickets", json={"subject": "Printer still on fire"}).get_json()
    page = web.get(f"/tickets/{a['id']}").get_data(as_text=True)
    assert 'data-dialog="action-merge"' in page and 'name="into"' in page
    assert f'<option value="{b["id"]}">' in page  # the tickets the agent may read
    url = f"/tickets/{a['id']}/actions/merge"
    refused = web.post(url, data={"csrf_token": csrf(page), "into": str(a["id"])})
    assert refused.status_code == 422 and "cannot be merged into itself" in refused.get_data(
        as_text=True
    )
    done = web.post(url, data={"csrf_token": csrf(page), "into": str(b["id"])})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/tickets/{b['id']}")
    assert api.get(f"/api/v1/tickets/{a['id']}").get_json()["status"] == "closed"
