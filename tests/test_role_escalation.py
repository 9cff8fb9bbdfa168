"""Privilege escalation through roles, tried on every path (API and web pages): a role editor
never makes a role grant more than they hold, never edits the role they hold, and never
restores or gives away a role with more rights."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from test_web import post, sign_in

from crmcore.users.models import Role, User

EDITOR_GRANTS = {
    "roles": {"read": "all", "create": "all", "update": "all", "delete": "all"},
    "users": {"read": "all", "update": "all"},
    "contacts": {"read": "own"},
}


@pytest.fixture
def editor(crm: Any, make_user: Any) -> User:
    """A user whose role may edit roles and assign them, and little else."""
    crm.records().create(
        "roles",
        {
            "name": "role_editor",
            "title": "Role editor",
            "grants": EDITOR_GRANTS,
            "permissions": ["roles.assign"],
        },
    )
    return make_user("role_editor")  # type: ignore[no-any-return]


def role_named(crm: Any, name: str) -> Role:
    return crm.session.scalar(select(Role).where(Role.name == name))  # type: ignore[no-any-return]


def test_api_editor_cannot_raise_own_role(api_as: Any, crm: Any, editor: User) -> None:
    api = api_as(editor)
    own = editor.role_id
    for change in (
        {"permissions": ["*"]},
        {"grants": {"*": {"read": "all", "create": "all", "update": "all", "delete": "all"}}},
        {"title": "Harmless-looking"},  # nobody edits the role they hold, at all
    ):
        answer = api.patch(f"/api/v1/roles/{own}", json=change)
        assert answer.status_code == 403, (change, answer.get_json())
    assert api.delete(f"/api/v1/roles/{own}").status_code == 403
    role = role_named(crm, "role_editor")
    crm.session.refresh(role)
    assert role.permissions == ["roles.assign"] and role.title == "Role editor"
    # and so cannot create admins afterwards
    victim = api.post("/api/v1/users", json={"email": "x@example.com", "name": "X"})
    assert victim.status_code == 403


def test_api_editor_cannot_give_any_role_more(api_as: Any, crm: Any, editor: User) -> None:
    api = api_as(editor)
    other = crm.records().create("roles", {"name": "plain", "title": "Plain"})
    for change in (
        {"permissions": ["*"]},
        {"permissions": ["settings.manage"]},
        {"grants": {"contacts": {"read": "all"}}},  # the editor reads only their own
        {"grants": {"companies": {"read": "own"}}},
    ):
        answer = api.patch(f"/api/v1/roles/{other.id}", json=change)
        assert answer.status_code == 403, (change, answer.get_json())
        answer = api.post("/api/v1/roles", json={"name": "new_one", "title": "N", **change})
        assert answer.status_code == 403, (change, answer.get_json())
    # within the editor's rights both work
    within = {"grants": {"contacts": {"read": "own"}}, "permissions": ["roles.assign"]}
    assert api.patch(f"/api/v1/roles/{other.id}", json=within).status_code == 200
    assert (
        api.post("/api/v1/roles", json={"name": "ok_one", "title": "Ok", **within}).status_code
        == 201
    )
    # a role with more rights is out of reach, even to take rights away
    admin_role = role_named(crm, "admin")
    assert api.patch(f"/api/v1/roles/{admin_role.id}", json={"title": "Nobody"}).status_code == 403
    assert api.delete(f"/api/v1/roles/{admin_role.id}").status_code == 403


def test_api_editor_cannot_restore_a_stronger_role(api_as: Any, crm: Any, editor: User) -> None:
    strong = crm.records().create(
        "roles", {"name": "trashed_admin", "title": "Trashed", "permissions": ["*"]}
    )
    crm.records().delete("roles", strong)
    api = api_as(editor)
    assert api.post(f"/api/v1/roles/{strong.id}/restore").status_code == 403
    crm.session.refresh(strong)
    assert strong.deleted_at is not None
    weak = crm.records().create("roles", {"name": "trashed_weak", "title": "Weak"})
    crm.records().delete("roles", weak)
    assert api.post(f"/api/v1/roles/{weak.id}/restore").status_code == 200


def test_api_user_role_changes_never_exceed_the_editor(
    api_as: Any, crm: Any, editor: User, make_user: Any
) -> None:
    api = api_as(editor)
    target = make_user("read_only")
    admin_role = role_named(crm, "admin")
    answer = api.patch(f"/api/v1/users/{target.id}", json={"role_id": admin_role.id})
    assert answer.status_code == 403
    answer = api.patch(f"/api/v1/users/{editor.id}", json={"role_id": admin_role.id})
    assert answer.status_code == 403
    crm.session.refresh(target)
    assert target.role.name == "read_only"
    # a trashed admin cannot be brought back by someone with less
    admin = make_user("admin")
    crm.records().delete("users", admin)
    deleter = crm.records().create(
        "roles",
        {
            "name": "user_restorer",
            "title": "R",
            "grants": {"users": {"read": "all", "delete": "all"}},
        },
    )
    assert deleter.id
    assert (
        api_as(make_user("user_restorer")).post(f"/api/v1/users/{admin.id}/restore").status_code
        == 403
    )


def test_web_role_pages_refuse_escalation(app: Any, crm: Any, editor: User) -> None:
    client = app.test_client()
    sign_in(client, editor)
    own = role_named(crm, "role_editor")
    for form in (
        {"title": "Role editor", "permission": ["*"]},
        {"title": "Renamed"},
    ):
        answer = post(client, f"/admin/roles/{own.id}", {"version": str(own.version), **form})
        assert answer.status_code == 403, form
    crm.session.refresh(own)
    assert own.permissions == ["roles.assign"] and own.title == "Role editor"
    other = crm.records().create("roles", {"name": "plain_web", "title": "Plain"})
    answer = post(
        client,
        f"/admin/roles/{other.id}",
        {"version": str(other.version), "title": "Plain", "permission": ["settings.manage"]},
    )
    assert answer.status_code == 403
    strong = crm.records().create(
        "roles", {"name": "web_trashed", "title": "T", "permissions": ["*"]}
    )
    crm.records().delete("roles", strong)
    answer = post(client, f"/roles/{strong.id}/restore", from_page="/roles/trash")
    assert answer.status_code == 403
    crm.session.refresh(strong)
    assert strong.deleted_at is not None
    # giving a user the admin role through the users page changes nothing
    target = crm.session.scalar(select(User).where(User.id == editor.id))
    admin_role = role_named(crm, "admin")
    post(
        client,
        f"/admin/users/{target.id}/role",
        {"role_id": str(admin_role.id)},
        from_page="/admin/users",
    )
    crm.session.refresh(target)
    assert target.role_id == own.id
