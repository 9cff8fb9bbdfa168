"""Inputs a fuzzer or an attacker sends get a 4xx, never a 500 (issue 17, finding 8): empty
e-mail addresses, bodies that are not JSON, nest too deep or hold a lone surrogate, Unicode digits
that pass ``str.isdigit()``, huge numbers, ids beyond what the database holds."""

from __future__ import annotations

from typing import Any

import pytest

from crmcore import parsing
from crmcore.notifications import Notification

PROBLEM = "application/problem+json"
JSON = {"Content-Type": "application/json"}
TOO_BIG_ID = 2**31  # one past PostgreSQL's INTEGER


def refused(response: Any, *statuses: int) -> dict[str, Any]:
    """A clear problem+json refusal with one of ``statuses`` (no 5xx, no traceback)."""
    assert response.status_code in statuses, (response.status_code, response.data[:300])
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == response.status_code and body["detail"]
    return body  # type: ignore[no-any-return]


def test_strict_numbers_take_ascii_digits_only() -> None:
    assert "²".isdigit()  # why str.isdigit() is not enough
    assert parsing.whole_number("²") is None
    assert parsing.whole_number("٣") is None  # Arabic-Indic three
    assert parsing.whole_number(" 12") is None and parsing.whole_number("-1") is None
    assert parsing.whole_number("9" * 4300) is None
    assert parsing.whole_number("42") == 42
    assert parsing.record_id(str(TOO_BIG_ID)) is None
    assert parsing.record_id(str(TOO_BIG_ID - 1)) == TOO_BIG_ID - 1
    assert parsing.record_id("0") is None
    for bad in ("sNaN", "NaN", "Infinity", "-inf", "1e999999999", "1e-999999999", "x"):
        with pytest.raises(ValueError):
            parsing.finite_decimal(bad)
    assert str(parsing.finite_decimal("12.50")) == "12.50"


# e-mail addresses ------------------------------------------------------------------------------


def test_empty_email_on_a_contact_is_no_address(api: Any) -> None:
    created = api.post("/api/v1/contacts", json={"last_name": "Empty", "email": ""})
    assert created.status_code == 201, created.data
    assert created.get_json()["email"] is None
    body = refused(api.post("/api/v1/contacts", json={"email": ""}), 422)
    assert "email" not in body["errors"] or body["errors"]["email"]
    contact_id = created.get_json()["id"]
    patched = api.patch(f"/api/v1/contacts/{contact_id}", json={"email": "  "})
    assert patched.status_code == 200, patched.data


def test_empty_email_on_a_user_is_a_field_error(api: Any) -> None:
    body = refused(
        api.post("/api/v1/users", json={"email": "", "password": "Correct-horse-battery-9"}), 422
    )
    assert body["errors"]["email"] == ["Missing data for required field."]


# bodies ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        ("{bad", "not valid JSON"),
        ("[" * 5000 + "]" * 5000, "not valid JSON"),  # the parser's recursion limit
        ('{"last_name": ' + "[" * 100 + "]" * 100 + "}", "nests deeper"),
        ('{"last_name": "\\ud800"}', "surrogate"),
        ('{"\\udfff": "x"}', "surrogate"),
        (b'{"last_name": "\xff"}', "not valid JSON"),
    ],
)
def test_bad_bodies_are_400(api: Any, data: str | bytes, detail: str) -> None:
    for method, url in (("post", "/api/v1/contacts"), ("post", "/api/v1/teams")):
        body = refused(getattr(api, method)(url, data=data, headers=JSON), 400)
        assert detail in body["detail"]


def test_bad_body_on_sign_in_and_settings(api: Any, client: Any) -> None:
    deep = "[" * 5000 + "]" * 5000
    refused(client.post("/api/v1/auth/token", data=deep, headers=JSON), 400)
    refused(client.post("/api/v1/auth/token", data='{"email": "\\ud800"}', headers=JSON), 400)
    refused(api.patch("/api/v1/settings", data=deep, headers=JSON), 400)


def test_settings_holiday_needs_a_date(api: Any) -> None:
    body = refused(api.patch("/api/v1/settings", json={"holidays": [{"name": "Xmas"}]}), 422)
    assert "date" in str(body["errors"]["holidays"])
    ok = api.patch("/api/v1/settings", json={"holidays": [{"date": "2026-12-25"}]})
    assert ok.status_code == 200, ok.data


# numbers in headers, query strings and paths --------------------------------------------------


@pytest.mark.parametrize("tag", ['"²"', '"' + "9" * 4300 + '"', '"٣"', 'W/"1\u00b9"'])
def test_if_match_with_odd_digits_is_412(api: Any, make_contact: Any, tag: str) -> None:
    contact = make_contact(last_name="Odd")
    response = api.patch(
        f"/api/v1/contacts/{contact.id}", json={"first_name": "B"}, headers={"If-Match": tag}
    )
    refused(response, 412)


@pytest.mark.parametrize("value", ["sNaN", "NaN", "Infinity", "1e999999999", "²"])
def test_odd_numbers_in_filters_are_400(api: Any, value: str) -> None:
    refused(api.get(f"/api/v1/contacts?id__gt={value}"), 400)
    refused(api.get(f"/api/v1/contacts?limit={value}"), 400)


@pytest.mark.parametrize("ref", [str(TOO_BIG_ID), "9" * 30, "²"])
def test_ids_beyond_the_database_are_404(
    api: Any, web: Any, crm: Any, admin: Any, ref: str
) -> None:
    for url in (
        f"/api/v1/imports/{ref}",
        f"/api/v1/imports/{ref}/report",
        f"/api/v1/contacts/{ref}",
        f"/api/v1/contacts/{ref}/history",
        f"/api/v1/contacts/{ref}/panels",
    ):
        refused(api.get(url), 404)
    refused(api.delete(f"/api/v1/auth/tokens/{ref}"), 404)
    refused(api.post(f"/api/v1/notifications/{ref}/read"), 404)
    for url in (f"/contacts/views/{ref}", f"/contacts/{ref}", f"/imports/{ref}"):
        assert web.get(url).status_code == 404
    assert web.post(f"/contacts/views/{ref}/delete").status_code in (400, 404)
    # the inbox's paging cursor and the form-posted ids are read strictly too
    crm.session.add(Notification(user_id=admin.id, kind="test", title="Hello"))
    crm.session.commit()
    assert web.get(f"/notifications?before={ref}").status_code == 200


@pytest.mark.parametrize("value", [str(TOO_BIG_ID), "9" * 18])
def test_notification_cursor_beyond_the_database(api: Any, value: str) -> None:
    r = api.get(f"/api/v1/notifications?cursor={value}&limit={value}")
    assert r.status_code == 200, r.data[:300]


@pytest.mark.parametrize("value", ["²", "9" * 4300, "1.5"])
def test_notification_cursor_must_be_ascii_digits(api: Any, value: str) -> None:
    assert api.get(f"/api/v1/notifications?cursor={value}").status_code == 400


def test_body_problems_in_spanish(api: Any) -> None:
    headers = {**JSON, "Accept-Language": "es"}
    body = refused(api.post("/api/v1/contacts", data='{"x": "\\ud800"}', headers=headers), 400)
    assert (
        body["detail"] == "El cuerpo contiene un carácter no válido (un sustituto UTF-16 aislado)."
    )
    body = refused(api.post("/api/v1/contacts", data="{bad", headers=headers), 400)
    assert body["detail"] == "El cuerpo no es JSON válido."
