"""The builder names each refused schedule recipient by its address, in English and Spanish."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

pytestmark = pytest.mark.crm_plugins("sales", "insights")
NEW = "/insights/reports/new"


def save(client: Any, recipients: str) -> Any:
    page = client.get(NEW).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    data = {
        "csrf_token": token.group(1),
        "action": "save",
        "name": "Weekly",
        "entity": "deals",
        "measures": "count",
        "limit": "500",
        "visibility": "private",
        "chart": "table",
        "schedule": "weekly",
        "recipients": recipients,
    }
    return client.post(NEW, data=data)


def recipients_error(page: str) -> str:
    found = re.search(r'<p class="field-error" id="e-recipients">(.*?)</p>', page, re.S)
    assert found, "no message on the recipients field"
    return html.unescape(found.group(1))


def test_the_message_names_each_refused_address(web_as: Any, make_user: Any, admin: Any) -> None:
    owner = make_user("sales_rep")
    outsider = "outsider@example.org"
    response = save(web_as(owner), f"{owner.email}, {outsider}, {admin.email}")
    assert response.status_code == 422
    message = recipients_error(response.get_data(as_text=True))
    assert message == f"{outsider}: Send reports only to active users of this CRM."
    assert outsider in response.get_data(as_text=True).split('id="f-recipients"')[1][:400]


def test_a_malformed_address_is_named_escaped(web_as: Any, make_user: Any) -> None:
    owner = make_user("sales_rep")
    response = save(web_as(owner), f"{owner.email}, <b>x@y</b>")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    message = recipients_error(page)
    assert message.startswith("<b>x@y</b>: ")
    assert "<b>x@y</b>" not in page  # escaped wherever it shows


def test_a_user_who_may_not_read_is_named(web_as: Any, make_user: Any) -> None:
    owner, colleague = make_user("sales_rep"), make_user("sales_rep")
    response = save(web_as(owner), colleague.email)
    assert response.status_code == 422
    message = recipients_error(response.get_data(as_text=True))
    assert message == f"{colleague.email}: This user may not read the report."


def test_the_message_is_spanish_with_the_address(web_as: Any, make_user: Any) -> None:
    owner = make_user("sales_rep", locale="es")
    response = save(web_as(owner), "fuera@example.org")
    assert response.status_code == 422
    message = recipients_error(response.get_data(as_text=True))
    assert message.startswith("fuera@example.org: ")
    assert "Send reports" not in message and "CRM" in message
