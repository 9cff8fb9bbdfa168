"""REST behaviour of records: CRUD, ETags, trash, history, timeline and contact validation."""

from __future__ import annotations

from typing import Any

import pytest

CONTACTS = "/api/v1/contacts"


def created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def field_errors(response: Any, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    return body.get("errors") or {}


# CRUD ----------------------------------------------------------------------------------------


def test_contact_crud_round_trip(api: Any) -> None:
    r = api.post(
        CONTACTS,
        json={
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "Ada@Example.COM",
            "tags": ["vip", " vip", "math"],
        },
    )
    body = created(r)
    assert r.headers["Location"] == f"{CONTACTS}/{body['id']}"
    assert r.headers["ETag"] == '"1"'
    assert body["email"] == "ada@example.com"
    assert body["tags"] == ["vip", "math"]
    assert body["created_at"] and body["updated_at"]

    r = api.get(r.headers["Location"])
    assert r.status_code == 200
    assert r.get_json()["last_name"] == "Lovelace"
    assert r.headers["ETag"] == '"1"'

    r = api.patch(f"{CONTACTS}/{body['id']}", json={"title": "Countess"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["title"] == "Countess"
    assert r.headers["ETag"] == '"2"'
    assert api.get(f"{CONTACTS}/{body['id']}").get_json()["title"] == "Countess"

    r = api.delete(f"{CONTACTS}/{body['id']}")
    assert r.status_code == 204
    assert r.data == b""


def test_company_crud(api: Any) -> None:
    r = api.post(
        "/api/v1/companies",
        json={
            "name": "Acme",
            "domain": "acme.example",
            "website": "https://acme.example",
            "phone": "+34 911 23 45 67",
            "country": "es",
            "industry": "Tools",
        },
    )
    body = created(r)
    assert body["phone"] == "+34911234567"
    assert body["country"] == "ES"
    url = r.headers["Location"]
    r = api.patch(url, json={"name": "Acme Corp"}, headers={"If-Match": r.headers["ETag"]})
    assert r.status_code == 200 and r.get_json()["name"] == "Acme Corp"
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


@pytest.mark.parametrize(
    "data, field",
    [
        ({"domain": "not a domain"}, "domain"),
        ({"website": "javascript:alert(1)"}, "website"),
        ({"name": ""}, "name"),
    ],
)
def test_company_validation(api: Any, data: dict[str, Any], field: str) -> None:
    r = api.post("/api/v1/companies", json={"name": "Acme", **data})
    assert field in field_errors(r)


def test_company_website_longer_than_column_is_refused(api: Any) -> None:
    r = api.post(
        "/api/v1/companies", json={"name": "Long", "website": "https://example.com/" + "a" * 400}
    )
    assert "website" in field_errors(r)


def test_note_task_activity_crud(api: Any, make_contact: Any) -> None:
    contact = make_contact()
    note = created(
        api.post(
            "/api/v1/notes",
            json={"record_type": "contacts", "record_id": contact.id, "body": "Met at the fair."},
        )
    )
    assert note["record_type"] == "contact"
    assert note["record_id"] == contact.id
    r = api.patch(f"/api/v1/notes/{note['id']}", json={"body": "Met at the trade fair."})
    assert r.status_code == 200 and r.get_json()["body"] == "Met at the trade fair."

    task = created(
        api.post(
            "/api/v1/tasks",
            json={
                "title": "Call back",
                "record_type": "contact",
                "record_id": contact.id,
                "due_at": "2030-01-02T09:00:00+01:00",
                "reminder_at": "2030-01-02T08:30:00Z",
            },
        )
    )
    assert task["status"] == "open"
    assert task["due_at"].startswith("2030-01-02T08:00:00")
    assert task["assignee_id"] is not None
    r = api.patch(f"/api/v1/tasks/{task['id']}", json={"status": "done"})
    assert r.status_code == 200
    assert r.get_json()["completed_at"] is not None

    activity = created(
        api.post(
            "/api/v1/activities",
            json={
                "record_type": "contact",
                "record_id": contact.id,
                "kind": "call",
                "subject": "Intro",
                "direction": "out",
                "occurred_at": "2026-01-01T10:00:00Z",
                "duration_minutes": 15,
            },
        )
    )
    assert activity["kind"] == "call"

    for plural, item in (("notes", note), ("tasks", task), ("activities", activity)):
        url = f"/api/v1/{plural}/{item['id']}"
        assert api.get(url).status_code == 200
        ids = [
            row["id"]
            for row in api.get(f"/api/v1/{plural}?record_id={contact.id}").get_json()["data"]
        ]
        assert ids == [item["id"]]
        assert api.delete(url).status_code == 204
        assert api.get(url).status_code == 404


def test_task_without_link_is_allowed(api: Any) -> None:
    task = created(api.post("/api/v1/tasks", json={"title": "Plan the quarter"}))
    assert task["record_type"] is None and task["record_id"] is None


@pytest.mark.parametrize(
    "plural, extra",
    [
        ("notes", {"body": "x"}),
        ("tasks", {"title": "x"}),
        ("activities", {"kind": "meeting", "subject": "x", "occurred_at": "2026-01-01T10:00:00Z"}),
    ],
)
def test_link_to_missing_record_is_refused(
    api: Any, make_contact: Any, plural: str, extra: dict[str, Any]
) -> None:
    r = api.post(f"/api/v1/{plural}", json={"record_type": "contact", "record_id": 999999, **extra})
    assert "record_id" in field_errors(r)
    r = api.post(f"/api/v1/{plural}", json={"record_type": "nonsense", "record_id": 1, **extra})
    assert field_errors(r)
    r = api.post(f"/api/v1/{plural}", json={"record_type": "contact", "record_id": 2**40, **extra})
    assert "record_id" in field_errors(r)
    trashed = make_contact()
    api.delete(f"{CONTACTS}/{trashed.id}")
    r = api.post(
        f"/api/v1/{plural}", json={"record_type": "contact", "record_id": trashed.id, **extra}
    )
    assert "record_id" in field_errors(r)


@pytest.mark.parametrize(
    "plural, extra",
    [
        ("notes", {"body": "x"}),
        ("tasks", {"title": "x"}),
        ("activities", {"kind": "email", "subject": "x", "occurred_at": "2026-01-01T10:00:00Z"}),
    ],
)
def test_link_to_unreadable_record_is_refused(
    api_as: Any, make_user: Any, make_contact: Any, plural: str, extra: dict[str, Any]
) -> None:
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    theirs = make_contact(owner_id=other.id)
    mine = make_contact(owner_id=rep.id)
    client = api_as(rep)
    r = client.post(
        f"/api/v1/{plural}", json={"record_type": "contact", "record_id": theirs.id, **extra}
    )
    assert "record_id" in field_errors(r)
    r = client.post(
        f"/api/v1/{plural}", json={"record_type": "contact", "record_id": mine.id, **extra}
    )
    assert r.status_code == 201, r.get_json()


def test_note_cannot_link_to_a_note(api: Any, make_contact: Any) -> None:
    note = created(
        api.post(
            "/api/v1/notes",
            json={"record_type": "contact", "record_id": make_contact().id, "body": "x"},
        )
    )
    r = api.post(
        "/api/v1/notes", json={"record_type": "note", "record_id": note["id"], "body": "y"}
    )
    assert "record_type" in field_errors(r)


def test_note_requires_link(api: Any) -> None:
    errors = field_errors(api.post("/api/v1/notes", json={"body": "orphan"}))
    assert {"record_type", "record_id"} <= set(errors)


# ETag / If-Match -----------------------------------------------------------------------------


def test_if_match_guards_against_lost_updates(api: Any, make_contact: Any) -> None:
    url = f"{CONTACTS}/{make_contact().id}"
    etag = api.get(url).headers["ETag"]
    r = api.patch(url, json={"title": "First"}, headers={"If-Match": etag})
    assert r.status_code == 200
    new_etag = r.headers["ETag"]
    assert new_etag != etag

    r = api.patch(url, json={"title": "Lost"}, headers={"If-Match": etag})
    assert r.status_code == 412
    assert r.mimetype == "application/problem+json"
    assert r.get_json()["status"] == 412
    assert api.get(url).get_json()["title"] == "First"

    weak_stale = "W/" + etag
    assert (
        api.patch(url, json={"title": "Lost"}, headers={"If-Match": weak_stale}).status_code == 412
    )
    weak_current = "W/" + new_etag
    r = api.patch(url, json={"title": "Weak"}, headers={"If-Match": weak_current})
    assert r.status_code == 200, r.get_json()
    r = api.patch(url, json={"title": "Star"}, headers={"If-Match": "*"})
    assert r.status_code == 200
    current = r.headers["ETag"]
    r = api.patch(url, json={"title": "List"}, headers={"If-Match": f'"999", {current}'})
    assert r.status_code == 200
    assert (
        api.patch(url, json={"title": "Junk"}, headers={"If-Match": '"not-a-version"'}).status_code
        == 412
    )
    assert api.get(url).get_json()["title"] == "List"


def test_patch_without_if_match_works(api: Any, make_contact: Any) -> None:
    url = f"{CONTACTS}/{make_contact().id}"
    r = api.patch(url, json={"city": "Madrid"})
    assert r.status_code == 200
    assert r.get_json()["city"] == "Madrid"
    assert r.headers["ETag"] == '"2"'


def test_patch_without_changes_keeps_version(api: Any, make_contact: Any) -> None:
    contact = make_contact(city="Madrid")
    r = api.patch(f"{CONTACTS}/{contact.id}", json={"city": "Madrid"})
    assert r.status_code == 200 and r.headers["ETag"] == '"1"'


# trash ---------------------------------------------------------------------------------------


def test_trash_and_restore(api: Any, make_contact: Any) -> None:
    keep, gone = make_contact(), make_contact()
    url = f"{CONTACTS}/{gone.id}"
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    assert api.patch(url, json={"title": "x"}).status_code == 404
    assert api.delete(url).status_code == 404

    listed = [c["id"] for c in api.get(CONTACTS).get_json()["data"]]
    assert gone.id not in listed and keep.id in listed
    trashed = [c["id"] for c in api.get(f"{CONTACTS}?trashed=true").get_json()["data"]]
    assert trashed == [gone.id]
    assert api.get(f"{CONTACTS}?trashed=maybe").status_code == 400

    assert api.post(f"{CONTACTS}/{keep.id}/restore").status_code == 404
    r = api.post(f"{url}/restore")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["id"] == gone.id and "ETag" in r.headers
    assert api.get(url).status_code == 200
    assert api.get(f"{CONTACTS}?trashed=true").get_json()["data"] == []
    assert api.post(f"{url}/restore").status_code == 404


def test_trashed_record_leaves_search_and_comes_back(api: Any, make_contact: Any) -> None:
    contact = make_contact(first_name="Zebediah", last_name="Quux")
    assert [c["id"] for c in api.get(f"{CONTACTS}?q=zebediah").get_json()["data"]] == [contact.id]
    api.delete(f"{CONTACTS}/{contact.id}")
    assert api.get(f"{CONTACTS}?q=zebediah").get_json()["data"] == []
    assert api.get("/api/v1/search?q=zebediah").get_json()["data"] == []
    api.post(f"{CONTACTS}/{contact.id}/restore")
    assert [c["id"] for c in api.get(f"{CONTACTS}?q=zebediah").get_json()["data"]] == [contact.id]


# history and timeline ------------------------------------------------------------------------


def test_history_has_field_level_changes(api: Any, admin: Any) -> None:
    body = created(api.post(CONTACTS, json={"first_name": "Grace", "email": "g@example.com"}))
    url = f"{CONTACTS}/{body['id']}"
    api.patch(url, json={"email": "grace@example.com", "city": "Arlington"})
    api.delete(url)
    r = api.get(f"{url}/history")
    assert r.status_code == 404  # a trashed record's history needs ?trashed=true
    r = api.get(f"{url}/history?trashed=true")
    assert r.status_code == 200
    entries = r.get_json()["data"]
    assert [e["action"] for e in entries] == ["delete", "update", "create"]
    assert all(e["user_id"] == admin.id for e in entries)
    delete, update, create = entries
    assert update["changes"] == {
        "email": ["g@example.com", "grace@example.com"],
        "city": [None, "Arlington"],
    }
    assert create["changes"]["first_name"] == [None, "Grace"]
    assert create["changes"]["owner_id"] == [None, admin.id]
    assert delete["changes"]["deleted_at"][0] is None
    api.post(f"{url}/restore")
    assert api.get(f"{url}/history").get_json()["data"][0]["action"] == "restore"


def test_history_of_unknown_record_is_404(api: Any) -> None:
    assert api.get(f"{CONTACTS}/999999/history").status_code == 404


def test_history_never_shows_password(api: Any, make_user: Any) -> None:
    user = make_user("read_only")
    r = api.patch(f"/api/v1/users/{user.id}", json={"password": "A-new-long-password-1"})
    assert r.status_code == 200, r.get_json()
    entries = api.get(f"/api/v1/users/{user.id}/history").get_json()["data"]
    text = str(entries)
    assert "A-new-long-password-1" not in text and "argon" not in text and "scrypt" not in text


def test_timeline_lists_everything_newest_first(
    api: Any, make_contact: Any, make_user: Any
) -> None:
    contact = make_contact()
    other = make_contact()
    base = {"record_type": "contact", "record_id": contact.id}
    old_call = created(
        api.post(
            "/api/v1/activities",
            json={
                **base,
                "kind": "call",
                "subject": "Old call",
                "occurred_at": "2001-01-01T10:00:00Z",
            },
        )
    )
    note = created(api.post("/api/v1/notes", json={**base, "body": "A note"}))
    task = created(api.post("/api/v1/tasks", json={**base, "title": "A task"}))
    api.post(
        "/api/v1/notes",
        json={"record_type": "contact", "record_id": other.id, "body": "Someone else's note"},
    )
    api.patch(f"{CONTACTS}/{contact.id}", json={"city": "Paris"})
    meeting = created(
        api.post(
            "/api/v1/activities",
            json={
                **base,
                "kind": "meeting",
                "subject": "Future meeting",
                "occurred_at": "2099-01-01T10:00:00Z",
            },
        )
    )

    r = api.get(f"{CONTACTS}/{contact.id}/timeline")
    assert r.status_code == 200
    items = r.get_json()["data"]
    kinds = [(i["kind"], i["id"]) for i in items]
    assert ("note", note["id"]) in kinds
    assert ("task", task["id"]) in kinds
    assert kinds[0] == ("meeting", meeting["id"])
    assert kinds[-1] == ("call", old_call["id"])
    changes = [i for i in items if i["kind"] == "change"]
    assert [c["summary"] for c in changes] == ["Changed City", "Created"]
    assert changes[0]["data"]["changes"]["city"][1] == "Paris"
    assert all("Someone else" not in i["summary"] for i in items)
    ats = [i["at"] for i in items]
    assert ats == sorted(ats, reverse=True)
    assert api.get(f"{CONTACTS}/999999/timeline").status_code == 404


def test_timeline_respects_read_scope(
    api_as: Any, make_user: Any, make_contact: Any, records: Any
) -> None:
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    contact = make_contact(owner_id=rep.id)
    records.create(
        "notes",
        {
            "record_type": "contact",
            "record_id": contact.id,
            "body": "Private to other",
            "owner_id": other.id,
        },
    )
    records.create(
        "notes",
        {"record_type": "contact", "record_id": contact.id, "body": "Mine", "owner_id": rep.id},
    )
    items = api_as(rep).get(f"{CONTACTS}/{contact.id}/timeline").get_json()["data"]
    notes = [i["summary"] for i in items if i["kind"] == "note"]
    assert notes == ["Mine"]


# contact validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, field",
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"phone": "call me maybe"}, "phone"),
        ({"phone": "12"}, "phone"),
        ({"country": "XX"}, "country"),
        ({"country": "Spain"}, "country"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"best_time_from": "25:00"}, "best_time_from"),
        ({"tags": [""]}, "tags"),
        ({"tags": ["x" * 51]}, "tags"),
        ({"tags": "vip"}, "tags"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"emails": [{"label": "work", "value": "nope"}]}, "emails"),
        ({"emails": [{"label": "work"}]}, "emails"),
        ({"emails": "a@example.com"}, "emails"),
        ({"phones": [{"value": "abc"}]}, "phones"),
        ({"addresses": [{"country": "ZZ"}]}, "addresses"),
        ({"addresses": [{"city": "x", "planet": "Mars"}]}, "addresses"),
        ({"owner_id": 999999}, "owner_id"),
        ({"owner_id": 2**40}, "owner_id"),
        ({"company_id": "abc"}, "company_id"),
    ],
)
def test_contact_validation(api: Any, data: dict[str, Any], field: str) -> None:
    r = api.post(CONTACTS, json={"last_name": "Valid", **data})
    errors = field_errors(r)
    assert field in errors, errors
    assert api.get(CONTACTS).get_json()["data"] == []


def test_contact_needs_a_name_or_email(api: Any) -> None:
    errors = field_errors(api.post(CONTACTS, json={"title": "Nobody"}))
    assert errors
    assert api.post(CONTACTS, json={"email": "only@example.com"}).status_code == 201


def test_contact_normalises_values(api: Any) -> None:
    body = created(
        api.post(
            CONTACTS,
            json={
                "first_name": "José",
                "last_name": "Núñez",
                "phone": "+34 911 23 45 67",
                "mobile": "(312) 555-0123",
                "country": "es",
                "timezone": "Europe/Madrid",
                "best_time_from": "09:00",
                "best_time_to": "13:30",
                "emails": [
                    {"label": "work", "value": "Jose@Work.Example"},
                    {"value": "j@home.example"},
                ],
                "phones": [{"label": "home", "value": "+44 20 7946 0958"}],
                "addresses": [
                    {"label": "office", "street": "Gran Vía 1", "city": "Madrid", "country": "es"}
                ],
            },
        )
    )
    assert body["phone"] == "+34911234567"
    assert body["mobile"] == "+13125550123"  # read in the default region (US)
    assert body["country"] == "ES"
    assert body["timezone"] == "Europe/Madrid"
    assert body["best_time_from"].startswith("09:00")
    assert body["emails"] == [
        {"label": "work", "value": "jose@work.example"},
        {"label": "other", "value": "j@home.example"},
    ]
    assert body["phones"] == [{"label": "home", "value": "+442079460958"}]
    assert body["addresses"][0]["country"] == "ES"
    assert body["addresses"][0]["label"] == "office"
    again = api.get(f"{CONTACTS}/{body['id']}").get_json()
    assert again["emails"] == body["emails"] and again["phones"] == body["phones"]


def test_email_opt_out_records_when(api: Any, make_contact: Any) -> None:
    url = f"{CONTACTS}/{make_contact().id}"
    r = api.patch(url, json={"email_opt_out": True})
    body = r.get_json()
    assert body["email_opt_out"] is True and body["email_opt_out_at"] is not None
    assert body["email_opt_out_source"] == "manual"
    r = api.patch(url, json={"email_opt_out": False})
    assert r.get_json()["email_opt_out_at"] is None


def test_company_id_must_exist(api: Any, make_company: Any, make_contact: Any) -> None:
    company = make_company()
    assert "company_id" in field_errors(
        api.post(CONTACTS, json={"last_name": "X", "company_id": 999999})
    )
    assert "company_id" in field_errors(
        api.post(CONTACTS, json={"last_name": "X", "company_id": 2**40})
    )
    body = created(api.post(CONTACTS, json={"last_name": "X", "company_id": company.id}))
    assert body["company_id"] == company.id
    url = f"{CONTACTS}/{body['id']}"
    assert "company_id" in field_errors(api.patch(url, json={"company_id": 999999}))
    trashed = make_company()
    api.delete(f"/api/v1/companies/{trashed.id}")
    assert "company_id" in field_errors(api.patch(url, json={"company_id": trashed.id}))
    assert api.patch(url, json={"company_id": None}).get_json()["company_id"] is None


def test_company_id_must_be_readable(api_as: Any, make_user: Any, make_company: Any) -> None:
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    theirs = make_company(owner_id=other.id)
    r = api_as(rep).post(CONTACTS, json={"last_name": "X", "company_id": theirs.id})
    assert "company_id" in field_errors(r)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_datetime_at_the_edge_of_the_calendar_is_refused(api: Any, value: str) -> None:
    r = api.post("/api/v1/tasks", json={"title": "Edge", "due_at": value})
    assert "due_at" in field_errors(r)


def test_nul_characters_are_refused(api: Any) -> None:
    r = api.post(CONTACTS, json={"last_name": "Nul\u0000byte"})
    assert "last_name" in field_errors(r)
    r = api.post(CONTACTS, json={"last_name": "ok", "tags": ["a\u0000"]})
    assert "tags" in field_errors(r)


def test_contact_locale_chooses_the_language_of_mail(api: Any, app: Any) -> None:
    from crmcore.web.i18n import contact_locale

    r = api.post("/api/v1/contacts", json={"last_name": "Ruiz", "locale": "es"})
    assert r.status_code == 201 and r.get_json()["locale"] == "es"
    bad = api.post("/api/v1/contacts", json={"last_name": "Dupont", "locale": "fr"})
    assert bad.status_code == 422 and "locale" in bad.get_json()["errors"]

    class Unset:
        locale = None

    assert contact_locale(app, Unset()) == "en"  # the instance's default
    app.config["BABEL_DEFAULT_LOCALE"] = "es"
    try:
        assert contact_locale(app, Unset()) == "es"
    finally:
        app.config["BABEL_DEFAULT_LOCALE"] = "en"
