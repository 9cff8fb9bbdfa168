"""Pages marked with ``crmcore.web.security.csrf_exempt`` take posts without a CSRF token."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.crm_plugins("widgets", "everyhook")


def test_an_exempt_public_form_takes_posts_without_a_token(client):
    response = client.post("/everyhook/inbox", data={"message": "hello"})
    assert response.status_code == 201
    assert response.get_data(as_text=True) == "received"


def test_other_forms_still_need_the_token(client, make_user):
    response = client.post("/login", data={"email": "x@example.com", "password": "x"})
    assert response.status_code == 400
