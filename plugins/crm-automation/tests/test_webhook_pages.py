"""Webhook pages: list, form and detail from the entity registry, in Spanish; the secret shown
once on the page; the delivery log with its replay button; migrations and disable."""

from __future__ import annotations

import re
from typing import Any

import pytest
from crmcore.testing import assert_plugin_migrates_and_survives_disable
from sqlalchemy import select

from crm_automation.webhooks.models import AutomationWebhook, AutomationWebhookDelivery

pytestmark = pytest.mark.crm_plugins("automation")


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def test_migrates_and_survives_disable(crm: Any, make_webhook: Any, allow_hosts: Any) -> None:
    allow_hosts("127.0.0.1")
    make_webhook("http://127.0.0.1:9/")
    assert_plugin_migrates_and_survives_disable(crm, "automation")


def test_form_refuses_a_loopback_url_on_the_field_and_keeps_the_input(web: Any) -> None:
    page = web.get("/webhooks/new")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert re.search(r'name="active"[^>]*checked', html), "a new webhook starts active"
    r = web.post("/webhooks/new", data={"csrf_token": _csrf(html), "name": "Chat",
                                        "url": "http://0177.0.0.1/x", "entities": "contacts"})
    assert r.status_code == 422
    text = r.get_data(as_text=True)
    assert "http://0177.0.0.1/x" in text and 'value="Chat"' in text


def test_secret_is_shown_once_on_the_page_then_the_log_replays(
    web: Any, allow_hosts: Any, receiver: Any, session: Any, records: Any, crm: Any, admin: Any,
) -> None:  # fmt: skip
    from crm_automation.webhooks.delivery import deliver

    allow_hosts("127.0.0.1")
    html = web.get("/webhooks/new").get_data(as_text=True)
    r = web.post("/webhooks/new", data={"csrf_token": _csrf(html), "name": "Chat",
                                        "url": receiver.url, "entities": "contacts",
                                        "active": "on"})
    assert r.status_code in (302, 303), r.get_data(as_text=True)[:2000]
    hook = session.scalar(select(AutomationWebhook))
    first = web.get(r.headers["Location"]).get_data(as_text=True)
    assert hook.secret in first
    second = web.get(r.headers["Location"]).get_data(as_text=True)
    assert hook.secret not in second
    session.refresh(hook)
    assert (hook.active, hook.entities, hook.owner_id) == (True, "contacts", admin.id)
    records.create("contacts", {"first_name": "Ana", "last_name": "Gil"})
    [row] = session.scalars(select(AutomationWebhookDelivery)).all()
    deliver(crm, session, row.id)
    records.update("users", admin, {"locale": "es"})
    page = web.get(f"/webhooks/{hook.id}")
    text = page.get_data(as_text=True)
    assert row.delivery_id in text and "answer 200" in text
    assert "Entregado" in text and "Reenviar" in text
    r = web.post(f"/webhooks/{hook.id}/actions/replay",
                 data={"csrf_token": _csrf(text), "delivery": row.delivery_id})  # fmt: skip
    assert r.status_code in (302, 303), r.get_data(as_text=True)[:2000]
    rows = session.scalars(select(AutomationWebhookDelivery)).all()
    assert len(rows) == 2 and rows[1].replay_of_id == row.id
