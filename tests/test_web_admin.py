"""The administration pages and the settings API."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from test_web import page, post, sign_in
from test_web_account import link_in, mails_to

from crmcore.customfields import CustomField
from crmcore.settings import base_url, get_settings
from crmcore.users.models import Role, Team, User

ADMIN_PAGES = [
    "/admin",
    "/admin/users",
    "/admin/roles",
    "/admin/teams",
    "/admin/plugins",
    "/admin/fields",
    "/admin/fields/new",
    "/admin/settings",
]


@pytest.fixture
def admin_client(app, admin):
    client = app.test_client()
    sign_in(client, admin)
    return client


def client_for(app, user):
    client = app.test_client()
    sign_in(client, user)
    return client


def form_of(html: str) -> dict:
    """What a browser would submit from the page's selects and checked boxes."""
    values: dict = {}
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', body)
        values[name] = chosen.group(1) if chosen else ""
    for tag in re.findall(r"<input[^>]*>", html):
        if 'type="checkbox"' in tag and " checked" in tag:
            name = re.search(r'name="([^"]+)"', tag).group(1)
            value = re.search(r'value="([^"]*)"', tag).group(1)
            values.setdefault(name, []).append(value)
    return values


def role_named(crm, name: str) -> Role:
    return crm.session.scalar(select(Role).where(Role.name == name))


# access -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["sales_rep", "read_only", "marketer", "support_agent"])
def test_admin_pages_are_forbidden_to_non_admins(app, make_user, role):
    client = client_for(app, make_user(role))
    assert "/admin" not in page(client, "/")
    for url in ADMIN_PAGES:
        assert client.get(url).status_code == 403, url
    target = make_user("sales_rep")
    home = page(client, "/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', home).group(1)
    for url, data in [
        ("/admin/users/invite", {"email": "sneaky@example.com"}),
        (f"/admin/users/{target.id}/deactivate", {}),
        ("/admin/plugins/widgets/enable", {}),
        ("/admin/settings", {"company_name": "Pwned"}),
        ("/admin/roles/new", {"name": "evil", "title": "Evil"}),
    ]:
        response = client.post(url, data={"csrf_token": token, **data})
        assert response.status_code == 403, url


def test_manager_sees_only_the_teams_section(app, make_user):
    client = client_for(app, make_user("manager"))
    assert client.get("/admin/teams").status_code == 200
    index = page(client, "/admin")
    assert "/admin/teams" in index and "/admin/plugins" not in index
    for url in ("/admin/users", "/admin/roles", "/admin/plugins", "/admin/settings"):
        assert client.get(url).status_code == 403


def test_visitors_are_sent_to_sign_in(app):
    response = app.test_client().get("/admin/users")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_admin_forms_need_csrf(admin_client, make_user, crm):
    target = make_user("sales_rep")
    for url, data in [
        ("/admin/users/invite", {"email": "x@example.com"}),
        (f"/admin/users/{target.id}/deactivate", {}),
        ("/admin/settings", {"company_name": "No token"}),
        ("/admin/plugins/widgets/enable", {}),
    ]:
        assert admin_client.post(url, data=data).status_code == 400, url
        assert admin_client.post(url, data={**data, "csrf_token": "forged"}).status_code == 400
    crm.session.refresh(target)
    assert target.active


# users ------------------------------------------------------------------------------------------


def test_invite_sends_a_set_password_link(app, crm, admin_client):
    rep = role_named(crm, "sales_rep")
    response = post(
        admin_client,
        "/admin/users/invite",
        {
            "email": "New.Person@Example.com",
            "name": "New Person",
            "role_id": rep.id,
            "locale": "es",
        },
        from_page="/admin/users",
    )
    assert response.status_code == 303
    user = crm.session.scalar(select(User).where(User.email == "new.person@example.com"))
    assert user.password_hash is None and user.role_id == rep.id and user.active
    [mail] = mails_to(crm, user.email)
    link = link_in(mail)
    assert link.startswith(base_url(crm))
    path = link.removeprefix(base_url(crm))
    newcomer = app.test_client()
    password = "Welcome-aboard-passphrase-1"
    done = post(newcomer, path, {"new_password": password, "confirm_password": password})
    assert done.status_code == 303
    response = post(newcomer, "/login", {"email": user.email, "password": password})
    assert response.status_code == 303
    assert newcomer.get("/").status_code == 200


def test_invite_rejects_a_duplicate_address(admin_client, make_user):
    existing = make_user()
    response = post(
        admin_client, "/admin/users/invite", {"email": existing.email}, from_page="/admin/users"
    )
    assert response.status_code == 422
    assert "A user with this e-mail already exists." in response.get_data(as_text=True)


def test_deactivate_and_reactivate(app, crm, admin_client, make_user):
    user = make_user("sales_rep")
    their_client = client_for(app, user)
    response = post(admin_client, f"/admin/users/{user.id}/deactivate", from_page="/admin/users")
    assert response.status_code == 303
    crm.session.refresh(user)
    assert not user.active
    assert their_client.get("/").status_code == 302  # signed out at once
    post(admin_client, f"/admin/users/{user.id}/activate", from_page="/admin/users")
    crm.session.refresh(user)
    assert user.active


def test_nobody_deactivates_themselves(crm, admin_client, admin):
    post(admin_client, f"/admin/users/{admin.id}/deactivate", from_page="/admin/users")
    crm.session.refresh(admin)
    assert admin.active


def test_set_role_follows_the_kernel_rules(app, crm, make_user):
    """A role manager who is not an admin cannot hand out the admin role."""
    limited = crm.records().create(
        "roles",
        {
            "name": "people_manager",
            "title": "People manager",
            "grants": {"users": {"read": "all", "create": "all", "update": "all"}},
            "permissions": ["roles.assign"],
        },
    )
    assert limited.id
    manager = make_user("people_manager")
    target = make_user("read_only")
    client = client_for(app, manager)
    admin_role = role_named(crm, "admin")
    response = post(
        client,
        f"/admin/users/{target.id}/role",
        {"role_id": admin_role.id},
        from_page="/admin/users",
    )
    assert response.status_code == 303
    crm.session.refresh(target)
    assert target.role.name == "read_only"
    # the people manager may not read roles, so the admin role is a reference it cannot give
    assert "you may not read it" in page(client, "/admin/users")


def test_admin_sets_a_role(crm, admin_client, make_user):
    target = make_user("sales_rep")
    manager = role_named(crm, "manager")
    post(admin_client, f"/admin/users/{target.id}/role", {"role_id": manager.id}, "/admin/users")
    crm.session.refresh(target)
    assert target.role_id == manager.id


# roles ------------------------------------------------------------------------------------------


def test_matrix_editor_saves_grants_and_permissions(crm, admin_client):
    response = post(
        admin_client,
        "/admin/roles/new",
        {"name": "field_sales", "title": "Field sales"},
        from_page="/admin/roles",
    )
    assert response.status_code == 303
    role = role_named(crm, "field_sales")
    url = f"/admin/roles/{role.id}"
    html = page(admin_client, url)
    version = re.search(r'name="version" value="(\d+)"', html).group(1)
    assert 'name="grant.contacts.read"' in html and 'name="grant.*.read"' in html
    submitted = {k: v for k, v in form_of(html).items() if k.startswith("grant.")}
    assert set(submitted.values()) == {""}
    response = post(
        admin_client,
        url,
        {
            **submitted,
            "version": version,
            "title": "Field sales",
            "grant.*.read": "all",
            "grant.contacts.read": "team",
            "grant.contacts.create": "own",
            "grant.contacts.update": "own",
            "grant.tasks.read": "none",
            "grant.tasks.create": "",  # as default: the default row has no create
            "grant.notes.create": "own",  # the other notes cells take the default row's
            "permission": ["data.export"],
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    crm.session.refresh(role)
    assert role.grants == {
        "*": {"read": "all"},
        "contacts": {"read": "team", "create": "own", "update": "own"},
        "tasks": {},
        "notes": {"read": "all", "create": "own"},
    }
    assert role.permissions == ["data.export"]
    again = form_of(page(admin_client, url))
    assert again["grant.contacts.read"] == "team"
    assert again["grant.contacts.delete"] == "none"
    assert again["grant.companies.read"] == ""  # follows the default row
    assert again["grant.tasks.read"] == "none"
    # saving the page unchanged keeps the grants as they are
    version = re.search(r'name="version" value="(\d+)"', page(admin_client, url)).group(1)
    unchanged = {k: v for k, v in again.items() if k.startswith("grant.")}
    post(admin_client, url, {**unchanged, "version": version, "title": "Field sales"})
    crm.session.refresh(role)
    assert role.grants["tasks"] == {} and "companies" not in role.grants


@pytest.mark.parametrize(
    "bad,message",
    [
        ({"grant.contacts.read": "everything"}, "Unknown scope 'everything' for read."),
        ({"permission": ["no.such"]}, "Unknown permission: no.such."),
        ({"title": ""}, "Length must be between 1 and 100."),
    ],
)
def test_matrix_editor_rejects_bad_input(crm, admin_client, bad, message):
    role = crm.records().create("roles", {"name": "tmp_role", "title": "Temporary"})
    url = f"/admin/roles/{role.id}"
    data = {"version": str(role.version), "title": "Temporary", **bad}
    response = post(admin_client, url, data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html.replace("&#39;", "'")
    crm.session.refresh(role)
    assert role.grants == {} and role.permissions == []


def test_matrix_editor_detects_a_concurrent_change(crm, admin_client):
    role = crm.records().create("roles", {"name": "busy_role", "title": "Busy"})
    html = page(admin_client, f"/admin/roles/{role.id}")
    version = re.search(r'name="version" value="(\d+)"', html).group(1)
    crm.records().update("roles", role, {"title": "Changed elsewhere"})
    response = post(
        admin_client,
        f"/admin/roles/{role.id}",
        {"version": version, "title": "Mine", "grant.*.read": "all"},
    )
    assert response.status_code == 409
    crm.session.refresh(role)
    assert role.title == "Changed elsewhere"


def test_role_editor_cannot_exceed_own_rights(app, crm, make_user):
    editor_role = crm.records().create(
        "roles",
        {
            "name": "role_editor",
            "title": "Role editor",
            "grants": {"roles": {"read": "all", "update": "all"}, "contacts": {"read": "own"}},
        },
    )
    assert editor_role.id
    editor = make_user("role_editor")
    target = crm.records().create("roles", {"name": "victim_role", "title": "Victim"})
    client = client_for(app, editor)
    response = post(
        client,
        f"/admin/roles/{target.id}",
        {"version": str(target.version), "title": "Victim", "permission": ["*"]},
    )
    assert response.status_code == 403
    crm.session.refresh(target)
    assert target.permissions == []


# teams ------------------------------------------------------------------------------------------


def test_teams_and_members(crm, admin_client, make_user):
    alice, bob = make_user(), make_user()
    response = post(admin_client, "/admin/teams", {"name": "North"})
    assert response.status_code == 303
    team = crm.session.scalar(select(Team).where(Team.name == "North"))
    response = post(
        admin_client,
        f"/admin/teams/{team.id}",
        {"name": "North", "member_ids": [str(alice.id), str(bob.id)]},
    )
    assert response.status_code == 303
    crm.session.refresh(team)
    assert team.member_ids == sorted([alice.id, bob.id])
    bad = post(admin_client, f"/admin/teams/{team.id}", {"name": "North", "member_ids": ["999999"]})
    assert bad.status_code == 422


# plugins ----------------------------------------------------------------------------------------


def test_plugins_enable_and_disable(crm, admin_client):
    html = page(admin_client, "/admin/plugins")
    assert 'id="plugin-widgets"' in html and 'id="plugin-contacts"' in html
    assert "/admin/plugins/contacts/disable" not in html  # built in
    response = post(admin_client, "/admin/plugins/widgets/enable", from_page="/admin/plugins")
    assert response.status_code == 303
    crm.forget_enabled()
    assert "widgets" in crm.enabled_plugins()
    response = post(admin_client, "/admin/plugins/widgets/disable", from_page="/admin/plugins")
    assert response.status_code == 303
    crm.forget_enabled()
    assert "widgets" not in crm.enabled_plugins()


def test_plugin_dependency_is_explained(crm, admin_client):
    builtin = {p.name for p in crm.plugins if p.meta.builtin}
    needs = [
        p for p in crm.plugins if not p.meta.builtin and set(p.meta.requires) - builtin
    ]  # a plugin requiring another that is not always on
    if not needs:
        pytest.skip("no installed plugin requires another")
    plugin = needs[0]
    response = post(
        admin_client, f"/admin/plugins/{plugin.name}/enable", from_page="/admin/plugins"
    )
    assert response.status_code == 409
    assert "enable" in response.get_data(as_text=True) and plugin.meta.requires[0] in (
        response.get_data(as_text=True)
    )


def test_builtin_plugins_cannot_be_disabled(admin_client):
    response = post(admin_client, "/admin/plugins/contacts/disable", from_page="/admin/plugins")
    assert response.status_code == 409
    assert "built in and cannot be disabled" in response.get_data(as_text=True)


# custom fields ----------------------------------------------------------------------------------


def test_custom_field_editor(crm, admin_client):
    response = post(
        admin_client,
        "/admin/fields/new",
        {
            "entity": "contacts",
            "name": "shoe_size",
            "label": "Shoe size",
            "type": "choice",
            "choices": "S\nM\nL",
        },
    )
    assert response.status_code == 303
    field = crm.session.scalar(select(CustomField).where(CustomField.name == "shoe_size"))
    assert field.choices == ["S", "M", "L"] and field.entity == "contacts"
    assert 'name="custom.shoe_size"' in page(admin_client, "/contacts/new")
    response = post(
        admin_client,
        f"/admin/fields/{field.id}",
        {"label": "Shoe", "choices": "S\nM\nL\nXL", "required": "on", "position": "2"},
    )
    assert response.status_code == 303
    crm.session.refresh(field)
    assert (field.label, field.required, field.choices[-1]) == ("Shoe", True, "XL")
    bad = post(
        admin_client,
        "/admin/fields/new",
        {"entity": "contacts", "name": "Bad Name!", "label": "x", "type": "text"},
    )
    assert bad.status_code == 422
    taken = post(
        admin_client,
        "/admin/fields/new",
        {"entity": "contacts", "name": "email", "label": "E", "type": "text"},
    )
    assert taken.status_code == 422
    assert "This name is taken by a built-in field." in taken.get_data(as_text=True)
    response = post(admin_client, f"/admin/fields/{field.id}/delete", from_page="/admin/fields")
    assert response.status_code == 303
    crm.session.refresh(field)
    assert field.deleted_at is not None


# settings ---------------------------------------------------------------------------------------


def test_settings_page_saves_and_validates(crm, admin_client):
    form = {
        "company_name": "Acme <b>Ltd</b>",
        "default_currency": "usd",
        "time_zone": "Europe/Madrid",
        "open.mon": "on",
        "from.mon": "08:30",
        "to.mon": "14:00",
        "open.sat": "on",
        "from.sat": "10:00",
        "to.sat": "12:00",
        "holidays": "2026-12-25 Christmas\n2026-01-01 New year",
        "require_totp_for_admins": "on",
    }
    response = post(admin_client, "/admin/settings", form)
    assert response.status_code == 303
    values = get_settings(crm.session)
    assert values["company_name"] == "Acme <b>Ltd</b>"
    assert values["default_currency"] == "USD"
    assert values["working_hours"] == {"mon": ["08:30", "14:00"], "sat": ["10:00", "12:00"]}
    assert values["holidays"][0] == {"date": "2026-01-01", "name": "New year"}
    assert values["require_totp_for_admins"] is True
    # the setting takes effect at once: this administrator has no second factor yet
    response = admin_client.get("/admin/settings")
    assert response.status_code == 303 and response.headers["Location"] == "/account/totp"


def test_settings_page_rejects_bad_values(crm, admin_client):
    response = post(
        admin_client,
        "/admin/settings",
        {
            "company_name": "Fine",
            "default_currency": "XXY",
            "time_zone": "Mars/Base",
            "open.mon": "on",
            "from.mon": "18:00",
            "to.mon": "09:00",
            "holidays": "not-a-date Party",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Not an ISO 4217 currency code" in html
    assert "Not a valid time zone" in html
    assert "closing time must be after" in html
    assert get_settings(crm.session)["company_name"] != "Fine"


def test_logo_upload_accepts_images_only(app, crm, admin_client):
    from io import BytesIO

    png = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
        b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
        b"\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    token = re.search(r'name="csrf_token" value="([^"]+)"', page(admin_client, "/admin/settings"))
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    bad = admin_client.post(
        "/admin/settings/logo",
        data={"csrf_token": token.group(1), "logo": (BytesIO(svg), "logo.png")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422
    ok = admin_client.post(
        "/admin/settings/logo",
        data={"csrf_token": token.group(1), "logo": (BytesIO(png), "logo.png")},
        content_type="multipart/form-data",
    )
    assert ok.status_code == 303
    served = app.test_client().get("/admin/logo")
    assert served.status_code == 200
    assert served.mimetype == "image/png" and served.data == png
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert 'class="brand-logo" src="/admin/logo"' in page(admin_client, "/")


# settings API -----------------------------------------------------------------------------------


def test_settings_api_read_for_everyone_write_for_managers(api, api_as, make_user, crm):
    rep_api = api_as(make_user("sales_rep"))
    response = rep_api.get("/api/v1/settings")
    assert response.status_code == 200
    assert response.json["default_currency"] == "EUR"
    assert response.json["working_hours"]["mon"] == ["09:00", "17:00"]
    denied = rep_api.patch("/api/v1/settings", json={"company_name": "Rep Inc"})
    assert denied.status_code == 403
    assert denied.content_type == "application/problem+json"
    ok = api.patch(
        "/api/v1/settings",
        json={"company_name": "Api Co", "holidays": [{"date": "2026-05-01", "name": "May Day"}]},
    )
    assert ok.status_code == 200, ok.json
    assert ok.json["company_name"] == "Api Co"
    assert ok.json["holidays"] == [{"date": "2026-05-01", "name": "May Day"}]
    assert rep_api.get("/api/v1/settings").json["company_name"] == "Api Co"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"default_currency": "EURO"}, "default_currency"),
        ({"time_zone": "Nowhere/Land"}, "time_zone"),
        ({"working_hours": {"mon": ["17:00", "09:00"]}}, "working_hours"),
        ({"working_hours": {"funday": ["09:00", "17:00"]}}, "working_hours"),
        ({"holidays": [{"date": "2026-13-01"}]}, "holidays"),
        ({"require_totp_for_admins": "maybe"}, "require_totp_for_admins"),
        ({"logo_attachment_id": 1}, "logo_attachment_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_settings_api_validates(api, crm, body, field):
    before = get_settings(crm.session)
    response = api.patch("/api/v1/settings", json=body)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert field in response.json["errors"]
    assert get_settings(crm.session) == before


def test_settings_api_needs_a_token(client):
    assert client.get("/api/v1/settings").status_code == 401


def test_plugins_page_says_what_needs_a_restart(crm, admin_client, monkeypatch):
    from crmcore import plugin_index

    loaded = {p.name: p.meta.version for p in crm.plugins}
    assert "restart to load it" not in page(admin_client, "/admin/plugins")  # all in step
    # what pip changed since this process started: an upgrade and a new plugin
    now = {**plugin_index.installed_plugins(), "widgets": "9.9.9", "newcomer": "0.1.0"}
    monkeypatch.setattr(plugin_index, "installed_plugins", lambda: now)
    html = page(admin_client, "/admin/plugins")
    row = html.split('id="plugin-widgets"', 1)[1].split("</tr>", 1)[0]
    assert loaded["widgets"] in row and "9.9.9 installed: restart to load it" in row
    row = html.split('id="plugin-newcomer"', 1)[1].split("</tr>", 1)[0]
    assert "Installed: restart to load it" in row and "/admin/plugins/newcomer/" not in row
