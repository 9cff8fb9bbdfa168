"""Fixtures of the support plugin's tests: a desk with SLA policies and a queue, the outbox,
real .eml files, signed-in web clients."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

# the suite runs with --import-mode=importlib: make the helper module importable
# appended: helper modules here must not shadow the core's test modules of the same name
sys.path.append(str(Path(__file__).parent))
from support_testing import PORTAL_PASSWORD, Outbox, form_post, invite_link

from crmcore.testing.plugin import PASSWORD


@pytest.fixture
def outbox(crm: Any) -> Outbox:
    box = Outbox(crm.settings.instance_path / "outbox")
    box.path.mkdir(parents=True, exist_ok=True)
    box.clear()
    return box


@pytest.fixture
def desk(records: Any, make_user: Any) -> dict[str, Any]:
    """SLA policies for every priority (business minutes), agents and a default queue."""
    for priority, first, resolution in (
        ("low", 480, 2400),
        ("normal", 240, 1440),
        ("high", 60, 480),
        ("urgent", 30, 240),
    ):
        records.create(
            "sla_policies",
            {
                "name": priority.title(),
                "priority": priority,
                "first_response_minutes": first,
                "resolution_minutes": resolution,
            },
        )
    agents = [make_user("support_agent") for _ in range(2)]
    queue = records.create(
        "support_queues",
        {
            "name": "General",
            "email": "support@example.com",
            "is_default": True,
            "assignment": "manual",
            "member_ids": [a.id for a in agents],
        },
    )
    return {"agents": agents, "queue": queue}


@pytest.fixture
def web_as(app: Any) -> Any:
    """``web_as(user)``: a test client signed in to the staff pages."""

    def make(user: Any) -> Any:
        client = app.test_client()
        response = form_post(client, "/login", {"email": user.email, "password": PASSWORD})
        assert response.status_code == 303
        return client

    return make


@pytest.fixture
def customer(app: Any, api: Any, outbox: Outbox, make_contact: Any) -> Any:
    """``customer(email)``: a contact who accepted the portal invitation; returns
    ``(contact, signed-in client)``."""

    def make(email: str, **fields: Any) -> tuple[Any, Any]:
        contact = make_contact(email=email, **fields)
        link = invite_link(api, outbox, contact)
        client = app.test_client()
        r = form_post(client, link, {"password": PORTAL_PASSWORD, "confirm": PORTAL_PASSWORD})
        assert r.status_code == 303, r.get_data(as_text=True)
        return contact, client

    return make
