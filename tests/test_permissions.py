"""Roles and scopes, attacked through the API: what a user may not see stays invisible."""

from __future__ import annotations

import io
from typing import Any

import pytest

from crmcore.permissions import DEFAULT_ROLES

SECRET_NAME = "Zyxwvutsrq"


@pytest.fixture
def reps(make_user: Any, make_contact: Any, make_company: Any) -> dict[str, Any]:
    """Two sales reps, each owning one company and one contact."""
    a = make_user("sales_rep", name="Rep A")
    b = make_user("sales_rep", name="Rep B")
    return {
        "a": a,
        "b": b,
        "a_company": make_company(name="Alpha Ltd", owner_id=a.id),
        "b_company": make_company(name=f"{SECRET_NAME} Ltd", owner_id=b.id),
        "a_contact": make_contact(last_name="Alphason", owner_id=a.id),
        "b_contact": make_contact(last_name=SECRET_NAME, owner_id=b.id),
    }


def ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.get_json()
    return {row["id"] for row in response.get_json()["data"]}


def make_role(records: Any, name: str, grants: dict[str, Any], permissions: Any = ()) -> Any:
    return records.create(
        "roles",
        {"name": name, "title": name.title(), "grants": grants, "permissions": list(permissions)},
    )


def test_default_roles_exist(api: Any) -> None:
    r = api.get("/api/v1/roles?limit=200")
    names = {row["name"] for row in r.get_json()["data"]}
    assert set(DEFAULT_ROLES) <= names
    assert {"admin", "manager", "sales_rep", "support_agent", "marketer", "read_only"} <= names


# own scope ------------------------------------------------------------------------------------


def test_sales_rep_lists_only_own_records(api_as: Any, reps: dict[str, Any]) -> None:
    api = api_as(reps["a"])
    assert ids(api.get("/api/v1/contacts")) == {reps["a_contact"].id}
    assert ids(api.get("/api/v1/companies")) == {reps["a_company"].id}


def test_sales_rep_gets_404_for_others_records(api_as: Any, reps: dict[str, Any]) -> None:
    api = api_as(reps["a"])
    assert api.get(f"/api/v1/contacts/{reps['a_contact'].id}").status_code == 200
    for url in (
        f"/api/v1/contacts/{reps['b_contact'].id}",
        f"/api/v1/companies/{reps['b_company'].id}",
    ):
        r = api.get(url)
        assert r.status_code == 404, url
        # the same answer as for an id that does not exist at all
        missing = api.get(url.rsplit("/", 1)[0] + "/99999999")
        assert r.get_json()["title"] == missing.get_json()["title"]


def test_sales_rep_search_finds_only_own(api_as: Any, api: Any, reps: dict[str, Any]) -> None:
    assert api.get(f"/api/v1/search?q={SECRET_NAME}").get_json()["data"]  # admin finds it
    rep = api_as(reps["a"])
    r = rep.get(f"/api/v1/search?q={SECRET_NAME}")
    assert r.status_code == 200 and r.get_json()["data"] == []
    r = rep.get("/api/v1/search?q=Alphason")
    assert [(h["plural"], h["id"]) for h in r.get_json()["data"]] == [
        ("contacts", reps["a_contact"].id)
    ]
    assert ids(rep.get(f"/api/v1/contacts?q={SECRET_NAME}")) == set()
    assert ids(rep.get(f"/api/v1/companies?q={SECRET_NAME}")) == set()


def test_search_respects_reassignment(api_as: Any, records: Any, reps: dict[str, Any]) -> None:
    rep = api_as(reps["a"])
    records.update("contacts", reps["b_contact"], {"owner_id": reps["a"].id})
    assert rep.get(f"/api/v1/search?q={SECRET_NAME}").get_json()["data"]
    records.update("contacts", reps["b_contact"], {"owner_id": reps["b"].id})
    assert rep.get(f"/api/v1/search?q={SECRET_NAME}").get_json()["data"] == []


def test_filter_by_other_owner_returns_nothing(api_as: Any, reps: dict[str, Any]) -> None:
    api = api_as(reps["a"])
    assert ids(api.get(f"/api/v1/contacts?owner_id={reps['b'].id}")) == set()
    assert ids(api.get(f"/api/v1/contacts?owner_id__ne={reps['a'].id}")) == set()
    assert ids(api.get("/api/v1/contacts?owner_id__isnull=false")) == {reps["a_contact"].id}
    assert ids(api.get(f"/api/v1/companies?owner_id={reps['b'].id}")) == set()
    assert ids(api.get(f"/api/v1/contacts?id={reps['b_contact'].id}")) == set()


def test_trash_is_scoped(api_as: Any, records: Any, reps: dict[str, Any]) -> None:
    records.delete("contacts", reps["b_contact"].id)
    api = api_as(reps["a"])
    assert ids(api.get("/api/v1/contacts?trashed=true")) == set()
    r = api.post(f"/api/v1/contacts/{reps['b_contact'].id}/restore")
    assert r.status_code == 404


@pytest.mark.crm_plugins("widgets", "everyhook")
def test_counts_and_panels_are_scoped(api_as: Any, api: Any, reps: dict[str, Any]) -> None:
    rep = api_as(reps["a"])
    counts = {w["name"]: w["data"] for w in rep.get("/api/v1/dashboard").get_json()}
    assert counts["everyhook-count"]["contacts"] == 1
    admin_counts = {w["name"]: w["data"] for w in api.get("/api/v1/dashboard").get_json()}
    assert admin_counts["everyhook-count"]["contacts"] >= 2
    r = rep.get(f"/api/v1/contacts/{reps['a_contact'].id}/panels")
    assert r.status_code == 200 and "Alphason" in r.get_json()[0]["html"]
    r = rep.get(f"/api/v1/contacts/{reps['b_contact'].id}/panels")
    assert r.status_code == 404 and SECRET_NAME not in r.get_data(as_text=True)


def test_timeline_history_and_attachments_are_scoped(
    api_as: Any, records: Any, reps: dict[str, Any]
) -> None:
    b_api = api_as(reps["b"])
    contact = reps["b_contact"]
    r = b_api.post(
        "/api/v1/notes",
        json={"record_type": "contact", "record_id": contact.id, "body": "private note of B"},
    )
    assert r.status_code == 201, r.get_json()
    note_id = r.get_json()["id"]
    r = b_api.post(
        f"/api/v1/contacts/{contact.id}/attachments",
        data={"file": (io.BytesIO(b"secret"), "plan.txt")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 201, r.get_json()
    attachment_id = r.get_json()["id"]
    assert b_api.get(f"/api/v1/attachments/{attachment_id}/content").status_code == 200
    assert b_api.get(f"/api/v1/contacts/{contact.id}/timeline").get_json()["data"]

    a_api = api_as(reps["a"])
    for url in (
        f"/api/v1/contacts/{contact.id}/timeline",
        f"/api/v1/contacts/{contact.id}/history",
        f"/api/v1/notes/{note_id}",
        f"/api/v1/attachments/{attachment_id}",
        f"/api/v1/attachments/{attachment_id}/content",
        f"/api/v1/companies/{reps['b_company'].id}/timeline",
        f"/api/v1/companies/{reps['b_company'].id}/history",
    ):
        r = a_api.get(url)
        assert r.status_code == 404, url
        assert SECRET_NAME not in r.get_data(as_text=True)
    assert ids(a_api.get("/api/v1/notes")) == set()
    assert ids(a_api.get(f"/api/v1/attachments?record_id={contact.id}")) == set()
    assert a_api.get("/api/v1/search?q=private").get_json()["data"] == []
    # A cannot attach files or notes to B's contact either
    r = a_api.post(
        f"/api/v1/contacts/{contact.id}/attachments",
        data={"file": (io.BytesIO(b"x"), "x.txt")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 404
    r = a_api.post(
        "/api/v1/notes", json={"record_type": "contact", "record_id": contact.id, "body": "sneaky"}
    )
    assert r.status_code == 422 and "record_id" in r.get_json()["errors"]


def test_sales_rep_cannot_change_others_records(api_as: Any, reps: dict[str, Any]) -> None:
    api = api_as(reps["a"])
    for url in (
        f"/api/v1/contacts/{reps['b_contact'].id}",
        f"/api/v1/companies/{reps['b_company'].id}",
    ):
        assert api.patch(url, json={"description": "hacked"}).status_code == 404
        assert api.delete(url).status_code == 404
    r = api.patch(f"/api/v1/contacts/{reps['a_contact'].id}", json={"description": "fine"})
    assert r.status_code == 200
    assert reps["b_contact"].description != "hacked"


def test_sales_rep_cannot_create_for_someone_else(api_as: Any, reps: dict[str, Any]) -> None:
    api = api_as(reps["a"])
    r = api.post("/api/v1/contacts", json={"last_name": "Planted", "owner_id": reps["b"].id})
    assert r.status_code == 422 and "owner_id" in r.get_json()["errors"]
    r = api.post("/api/v1/contacts", json={"last_name": "Orphan", "owner_id": None})
    assert r.status_code == 422 and "owner_id" in r.get_json()["errors"]
    r = api.post("/api/v1/contacts", json={"last_name": "Mine"})
    assert r.status_code == 201 and r.get_json()["owner_id"] == reps["a"].id
    r = api.post("/api/v1/contacts", json={"last_name": "Also mine", "owner_id": reps["a"].id})
    assert r.status_code == 201 and r.get_json()["owner_id"] == reps["a"].id


def test_sales_rep_cannot_reassign_own_record(api_as: Any, reps: dict[str, Any]) -> None:
    api = api_as(reps["a"])
    url = f"/api/v1/contacts/{reps['a_contact'].id}"
    for owner in (reps["b"].id, None):
        r = api.patch(url, json={"owner_id": owner})
        assert r.status_code == 422 and "owner_id" in r.get_json()["errors"]
    assert api.get(url).get_json()["owner_id"] == reps["a"].id


def test_sales_rep_cannot_link_to_others_company(api_as: Any, reps: dict[str, Any]) -> None:
    api = api_as(reps["a"])
    r = api.post(
        "/api/v1/contacts", json={"last_name": "Linked", "company_id": reps["b_company"].id}
    )
    assert r.status_code == 422 and "company_id" in r.get_json()["errors"]


def test_system_fields_are_not_mass_assigned(api_as: Any, reps: dict[str, Any]) -> None:
    api = api_as(reps["a"])
    for extra in (
        {"id": 999999},
        {"created_at": "2000-01-01T00:00:00+00:00"},
        {"version": 42},
        {"deleted_at": "2000-01-01T00:00:00+00:00"},
        {"is_admin": True},
    ):
        r = api.post("/api/v1/contacts", json={"last_name": "Mass", **extra})
        assert r.status_code == 422, extra
        r = api.patch(f"/api/v1/contacts/{reps['a_contact'].id}", json=extra)
        assert r.status_code == 422, extra


# team scope -----------------------------------------------------------------------------------


@pytest.fixture
def team_setup(records: Any, make_user: Any, make_contact: Any) -> dict[str, Any]:
    scope = {"read": "team", "create": "team", "update": "team", "delete": "team"}
    make_role(records, "team_rep", {"contacts": scope, "companies": scope})
    lead = make_user("team_rep", teams=("North",))
    mate = make_user("sales_rep", teams=("North",))
    stranger = make_user("sales_rep", teams=("South",))
    return {
        "lead": lead,
        "mate": mate,
        "stranger": stranger,
        "own": make_contact(last_name="Leadson", owner_id=lead.id),
        "mates": make_contact(last_name="Mateson", owner_id=mate.id),
        "strangers": make_contact(last_name="Strangerson", owner_id=stranger.id),
        "nobodys": make_contact(last_name="Nobodyson", owner_id=None),
    }


def test_team_scope_sees_teammates_only(api_as: Any, team_setup: dict[str, Any]) -> None:
    t = team_setup
    api = api_as(t["lead"])
    assert ids(api.get("/api/v1/contacts")) == {t["own"].id, t["mates"].id}
    assert api.get(f"/api/v1/contacts/{t['mates'].id}").status_code == 200
    assert api.get(f"/api/v1/contacts/{t['strangers'].id}").status_code == 404
    assert api.get(f"/api/v1/contacts/{t['nobodys'].id}").status_code == 404
    assert [h["id"] for h in api.get("/api/v1/search?q=Mateson").get_json()["data"]] == [
        t["mates"].id
    ]
    assert api.get("/api/v1/search?q=Strangerson").get_json()["data"] == []
    assert api.patch(f"/api/v1/contacts/{t['mates'].id}", json={"title": "X"}).status_code == 200
    assert (
        api.patch(f"/api/v1/contacts/{t['strangers'].id}", json={"title": "X"}).status_code == 404
    )


def test_team_scope_assigns_within_team_only(api_as: Any, team_setup: dict[str, Any]) -> None:
    t = team_setup
    api = api_as(t["lead"])
    r = api.post("/api/v1/contacts", json={"last_name": "New", "owner_id": t["mate"].id})
    assert r.status_code == 201, r.get_json()
    r = api.post("/api/v1/contacts", json={"last_name": "New", "owner_id": t["stranger"].id})
    assert r.status_code == 422
    r = api.patch(f"/api/v1/contacts/{t['own'].id}", json={"owner_id": t["stranger"].id})
    assert r.status_code == 422


def test_team_membership_change_takes_effect(
    api_as: Any, records: Any, team_setup: dict[str, Any]
) -> None:
    t = team_setup
    api = api_as(t["lead"])
    records.update("users", t["mate"], {"team_ids": []})
    assert ids(api.get("/api/v1/contacts")) == {t["own"].id}


def test_user_without_team_sees_only_own(
    api_as: Any, records: Any, make_user: Any, make_contact: Any, team_setup: dict[str, Any]
) -> None:
    loner = make_user("team_rep")
    mine = make_contact(last_name="Lonerson", owner_id=loner.id)
    assert ids(api_as(loner).get("/api/v1/contacts")) == {mine.id}


# other roles ----------------------------------------------------------------------------------


def test_manager_has_all_scope(api_as: Any, make_user: Any, reps: dict[str, Any]) -> None:
    api = api_as(make_user("manager"))
    assert {reps["a_contact"].id, reps["b_contact"].id} <= ids(api.get("/api/v1/contacts"))
    assert api.get(f"/api/v1/search?q={SECRET_NAME}").get_json()["data"]
    r = api.patch(f"/api/v1/contacts/{reps['b_contact'].id}", json={"owner_id": reps["a"].id})
    assert r.status_code == 200 and r.get_json()["owner_id"] == reps["a"].id
    assert api.delete(f"/api/v1/companies/{reps['b_company'].id}").status_code == 204


def test_read_only_reads_but_never_writes(
    api_as: Any, make_user: Any, make_contact: Any, records: Any, reps: dict[str, Any]
) -> None:
    user = make_user("read_only")
    trashed = make_contact(last_name="Trashed")
    records.delete("contacts", trashed.id)
    api = api_as(user)
    contact = reps["b_contact"]
    assert contact.id in ids(api.get("/api/v1/contacts"))
    assert api.get(f"/api/v1/contacts/{contact.id}").status_code == 200
    assert api.get(f"/api/v1/contacts/{contact.id}/timeline").status_code == 200
    writes = [
        api.post("/api/v1/contacts", json={"last_name": "Nope"}),
        api.post("/api/v1/companies", json={"name": "Nope"}),
        api.patch(f"/api/v1/contacts/{contact.id}", json={"title": "Nope"}),
        api.delete(f"/api/v1/contacts/{contact.id}"),
        api.post(f"/api/v1/contacts/{trashed.id}/restore"),
        api.post(
            "/api/v1/notes",
            json={"record_type": "contact", "record_id": contact.id, "body": "Nope"},
        ),
        api.post("/api/v1/tasks", json={"title": "Nope"}),
        api.post(
            f"/api/v1/contacts/{contact.id}/attachments",
            data={"file": (io.BytesIO(b"x"), "x.txt")},
            content_type="multipart/form-data",
        ),
        api.post(
            "/api/v1/users", json={"email": "new@example.com", "password": "Long-enough-pass-1"}
        ),
        api.patch(f"/api/v1/users/{user.id}", json={"name": "Renamed"}),
        api.post(
            "/api/v1/roles",
            json={"name": "evil", "title": "Evil", "grants": {"*": {"read": "all"}}},
        ),
        api.post("/api/v1/teams", json={"name": "Evil"}),
    ]
    for r in writes:
        assert r.status_code == 403, (r.request.path, r.status_code, r.get_json())
    assert api.get(f"/api/v1/contacts/{contact.id}").get_json()["title"] is None


def test_role_without_grant_gets_403(api_as: Any, records: Any, make_user: Any) -> None:
    make_role(records, "contacts_only", {"contacts": {"read": "all"}})
    api = api_as(make_user("contacts_only"))
    assert api.get("/api/v1/contacts").status_code == 200
    for plural in ("companies", "notes", "tasks", "users", "roles", "custom_fields"):
        r = api.get(f"/api/v1/{plural}")
        assert r.status_code == 403, plural
        assert r.headers["Content-Type"].startswith("application/problem+json")
    assert api.get("/api/v1/companies/1").status_code in (403, 404)


def test_user_without_role_can_do_nothing(
    api_as: Any, make_user: Any, reps: dict[str, Any]
) -> None:
    api = api_as(make_user(None))
    assert api.get("/api/v1/contacts").status_code == 403
    assert api.get("/api/v1/search?q=Alphason").get_json()["data"] == []
    assert api.post("/api/v1/contacts", json={"last_name": "X"}).status_code == 403


def test_support_agent_and_marketer(api_as: Any, make_user: Any, reps: dict[str, Any]) -> None:
    for role in ("support_agent", "marketer"):
        api = api_as(make_user(role))
        assert {reps["a_contact"].id, reps["b_contact"].id} <= ids(api.get("/api/v1/contacts"))
        assert api.delete(f"/api/v1/contacts/{reps['a_contact'].id}").status_code == 403
        assert api.get("/api/v1/roles").status_code == 403


def test_scope_changes_apply_to_existing_tokens(
    api_as: Any, records: Any, make_user: Any, reps: dict[str, Any]
) -> None:
    role = make_role(records, "flexible", {"contacts": {"read": "all"}})
    api = api_as(make_user("flexible"))
    assert len(ids(api.get("/api/v1/contacts"))) >= 2
    records.update("roles", role, {"grants": {"contacts": {"read": None}}})
    assert api.get("/api/v1/contacts").status_code == 403


# role administration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "grants, field",
    [
        ({"nonexistent": {"read": "all"}}, "nonexistent"),
        ({"contacts": {"explode": "all"}}, "contacts"),
        ({"contacts": {"read": "everything"}}, "contacts"),
        ({"contacts": {"read": "OWN"}}, "contacts"),
        ({"contacts": "all"}, "contacts"),
        ({"*": {"read": "galaxy"}}, "*"),
    ],
)
def test_role_grants_are_validated(api: Any, grants: dict[str, Any], field: str) -> None:
    r = api.post("/api/v1/roles", json={"name": "bad_role", "title": "Bad", "grants": grants})
    assert r.status_code == 422, r.get_json()
    assert "grants" in r.get_json()["errors"]
    r = api.patch("/api/v1/roles/" + str(_role_id(api, "read_only")), json={"grants": grants})
    assert r.status_code == 422, r.get_json()
    assert "grants" in r.get_json()["errors"]


def _role_id(api: Any, name: str) -> int:
    r = api.get(f"/api/v1/roles?name={name}")
    rows = [row for row in r.get_json()["data"] if row["name"] == name]
    return int(rows[0]["id"])


def test_role_permissions_are_validated(api: Any) -> None:
    r = api.post(
        "/api/v1/roles",
        json={"name": "bad_perm", "title": "Bad", "permissions": ["root.everything"]},
    )
    assert r.status_code == 422 and "permissions" in r.get_json()["errors"]
    r = api.patch(
        f"/api/v1/roles/{_role_id(api, 'read_only')}",
        json={"permissions": ["plugins.manage", "nope.nope"]},
    )
    assert r.status_code == 422 and "permissions" in r.get_json()["errors"]
    r = api.post(
        "/api/v1/roles",
        json={
            "name": "good_role",
            "title": "Good",
            "grants": {"contacts": {"read": "own", "update": None}},
            "permissions": ["data.export"],
        },
    )
    assert r.status_code == 201, r.get_json()


def test_role_names_are_validated(api: Any) -> None:
    for name in ("Admin", "x", "a b", "admin", "../x"):
        r = api.post("/api/v1/roles", json={"name": name, "title": "T"})
        assert r.status_code == 422, name


def test_manager_cannot_edit_roles(api_as: Any, make_user: Any) -> None:
    api = api_as(make_user("manager"))
    admin_id = _role_id(api, "admin")
    r = api.patch(f"/api/v1/roles/{_role_id(api, 'manager')}", json={"permissions": ["*"]})
    assert r.status_code == 403
    assert (
        api.post(
            "/api/v1/roles", json={"name": "boss", "title": "Boss", "permissions": ["*"]}
        ).status_code
        == 403
    )
    assert api.delete(f"/api/v1/roles/{admin_id}").status_code == 403


def test_tasks_are_owned_by_their_assignee(api_as: Any, reps: dict[str, Any]) -> None:
    a_api, b_api = api_as(reps["a"]), api_as(reps["b"])
    r = a_api.post("/api/v1/tasks", json={"title": "Call back"})
    assert r.status_code == 201 and r.get_json()["assignee_id"] == reps["a"].id
    mine = r.get_json()["id"]
    r = a_api.post("/api/v1/tasks", json={"title": "Yours", "assignee_id": reps["b"].id})
    assert r.status_code == 422 and "assignee_id" in r.get_json()["errors"]
    r = a_api.patch(f"/api/v1/tasks/{mine}", json={"assignee_id": reps["b"].id})
    assert r.status_code == 422
    assert b_api.get(f"/api/v1/tasks/{mine}").status_code == 404
    assert ids(b_api.get("/api/v1/tasks")) == set()
    r = a_api.post(
        "/api/v1/tasks",
        json={"title": "Linked", "record_type": "contact", "record_id": reps["b_contact"].id},
    )
    assert r.status_code == 422 and "record_id" in r.get_json()["errors"]


def test_notes_follow_the_scope_of_their_record(
    api_as: Any, records: Any, make_user: Any, reps: dict[str, Any]
) -> None:
    """Reading every note does not reach the notes of records one cannot read."""
    make_role(
        records,
        "note_reader",
        {
            "contacts": {"read": "own"},
            "notes": {"read": "all"},
            "activities": {"read": "all"},
            "attachments": {"read": "all"},
        },
    )
    reader = make_user("note_reader")
    mine = make_contact_for(records, reader, "Mine")
    theirs = reps["b_contact"]
    visible = records.create(
        "notes", {"record_type": "contact", "record_id": mine.id, "body": "visible note"}
    )
    hidden = records.create(
        "notes", {"record_type": "contact", "record_id": theirs.id, "body": f"{SECRET_NAME} note"}
    )
    logged = records.create(
        "activities",
        {
            "record_type": "contact",
            "record_id": theirs.id,
            "kind": "call",
            "subject": SECRET_NAME,
            "occurred_at": "2026-11-01T10:00:00+00:00",
        },
    )
    api = api_as(reader)
    assert ids(api.get("/api/v1/notes")) == {visible.id}
    assert api.get(f"/api/v1/notes/{hidden.id}").status_code == 404
    assert api.get(f"/api/v1/activities/{logged.id}").status_code == 404
    assert logged.id not in ids(api.get("/api/v1/activities"))
    found = api.get("/api/v1/search", query_string={"q": SECRET_NAME}).get_json()["data"]
    assert found == []
    assert api.get("/api/v1/search", query_string={"q": "visible"}).get_json()["data"]


def make_contact_for(records: Any, user: Any, name: str) -> Any:
    return records.create("contacts", {"last_name": name, "owner_id": user.id})


def test_changing_a_trashed_record_keeps_it_out_of_search(api: Any, records: Any) -> None:
    contact = records.create("contacts", {"last_name": "Zyzzyvatrash"})
    records.delete("contacts", contact)
    records.update("contacts", records.get("contacts", contact.id, trashed=True),
                   {"email_opt_out": True})  # fmt: skip
    assert api.get("/api/v1/search", query_string={"q": "Zyzzyvatrash"}).get_json()["data"] == []
    records.restore("contacts", contact.id)
    found = api.get("/api/v1/search", query_string={"q": "Zyzzyvatrash"}).get_json()["data"]
    assert [hit["id"] for hit in found] == [contact.id]
