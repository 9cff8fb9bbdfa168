"""Signing in, tokens, passwords and user administration, attacked."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import inspect, select

from crmcore.audit import AuditEntry
from crmcore.db import Base, utcnow
from crmcore.testing.plugin import PASSWORD, ApiClient
from crmcore.users.models import ApiToken, User

LOGIN = "/api/v1/auth/token"
GOOD_PASSWORD = "Another-long-passw0rd"
#: GOOD_PASSWORD hashed with argon2-cffi's defaults and with the test kit's cheap parameters
PRODUCTION_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$5H0LVy3B3DAqWsBGuN6xgQ"
    "$R4/K8gjTbYbIzKrWGXS1fGtTexgBWDbazNbk/sVlRkI"
)
CHEAP_HASH = (
    "$argon2id$v=19$m=8,t=1,p=1$D0QNq3jUUrpmSSsEK1w9+Q$GurfzEiY+h9kwvIhxH3zNdzneqEo86SbrpDvKb9sJ9s"
)


def login(client: Any, email: str, password: str, addr: str = "127.0.0.1") -> Any:
    return client.post(
        LOGIN, json={"email": email, "password": password}, environ_base={"REMOTE_ADDR": addr}
    )


def problem(response: Any) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/problem+json"), (
        response.headers["Content-Type"]
    )
    body: dict[str, Any] = response.get_json()
    return body


# logging in -----------------------------------------------------------------------------------


def test_login_returns_a_working_token(client: Any, make_user: Any) -> None:
    user = make_user("sales_rep", email="login@example.com")
    r = login(client, "Login@Example.com ", PASSWORD)
    assert r.status_code == 200, r.get_json()
    token = r.get_json()["token"]
    assert r.get_json()["expires_at"]
    assert client.get("/api/v1/me").status_code == 401
    me = ApiClient(client, token).get("/api/v1/me")
    assert me.status_code == 200 and me.get_json()["id"] == user.id
    assert user.last_login_at is not None


def test_wrong_password_and_unknown_email_look_the_same(client: Any, make_user: Any) -> None:
    make_user("sales_rep", email="known@example.com")
    wrong = login(client, "known@example.com", "Wrong-password-123")
    unknown = login(client, "nobody@example.com", "Wrong-password-123")
    assert wrong.status_code == unknown.status_code == 401
    assert problem(wrong) == problem(unknown)
    assert "token" not in wrong.get_json()


@pytest.mark.parametrize(
    "body",
    [
        {"email": "known@example.com"},
        {"password": PASSWORD},
        {"email": ["known@example.com"], "password": PASSWORD},
        {"email": "known@example.com", "password": {"$ne": ""}},
        {"email": "known@example.com", "password": None},
        {"email": "known@example.com", "password": "x" * 100_000},
        {"email": "' OR 1=1 --", "password": "' OR 1=1 --"},
    ],
)
def test_hostile_login_bodies_are_refused(client: Any, make_user: Any, body: Any) -> None:
    make_user("sales_rep", email="known@example.com")
    r = client.post(LOGIN, json=body)
    assert r.status_code in (401, 413, 422), r.status_code
    assert "token" not in (r.get_json() or {})


def test_login_requires_json(client: Any) -> None:
    r = client.post(
        LOGIN, data="email=a&password=b", content_type="application/x-www-form-urlencoded"
    )
    assert r.status_code == 415 and problem(r)["status"] == 415
    r = client.post(LOGIN, data="{not json", content_type="application/json")
    assert r.status_code == 400 and problem(r)["status"] == 400
    r = client.post(LOGIN, json=["a", "b"])
    assert r.status_code in (400, 422)


def test_inactive_user_cannot_log_in_or_use_a_token(
    client: Any, make_user: Any, records: Any, api_as: Any
) -> None:
    user = make_user("sales_rep", email="leaver@example.com")
    api = api_as(user)
    assert api.get("/api/v1/me").status_code == 200
    records.update("users", user, {"active": False})
    assert api.get("/api/v1/me").status_code == 401
    assert api.get("/api/v1/contacts").status_code == 401
    r = login(client, "leaver@example.com", PASSWORD)
    assert r.status_code == 401
    assert problem(r) == problem(login(client, "nobody@example.com", PASSWORD))


def test_trashed_user_cannot_log_in_or_use_a_token(
    client: Any, make_user: Any, records: Any, api_as: Any
) -> None:
    user = make_user("sales_rep", email="trashed@example.com")
    api = api_as(user)
    records.delete("users", user.id)
    assert api.get("/api/v1/me").status_code == 401
    assert login(client, "trashed@example.com", PASSWORD).status_code == 401


def test_expired_and_revoked_tokens_are_refused(
    client: Any, make_user: Any, session: Any, api_as: Any
) -> None:
    user = make_user("sales_rep")
    expired, revoked = api_as(user), api_as(user)
    assert expired.get("/api/v1/me").status_code == 200
    row = session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hashlib.sha256(expired.token.encode()).hexdigest()
        )
    )
    row.expires_at = utcnow() - dt.timedelta(seconds=1)
    session.commit()
    r = expired.get("/api/v1/me")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    problem(r)

    token_id = _token_id(session, revoked.token)
    assert revoked.delete(f"/api/v1/auth/tokens/{token_id}").status_code == 204
    assert revoked.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer crm_not-a-real-token",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "crm_abc",
        "Bearer " + "x" * 5000,
        "Bearer crm_' OR '1'='1",
    ],
)
def test_bad_authorization_headers(client: Any, header: str) -> None:
    r = client.get("/api/v1/contacts", headers={"Authorization": header})
    assert r.status_code == 401
    problem(r)


def _token_id(session: Any, secret: str) -> int:
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return int(session.scalar(select(ApiToken.id).where(ApiToken.token_hash == digest)))


def test_tokens_are_stored_hashed(client: Any, make_user: Any, session: Any) -> None:
    make_user("sales_rep", email="hashed@example.com")
    secret = login(client, "hashed@example.com", PASSWORD).get_json()["token"]
    rows = list(session.scalars(select(ApiToken)))
    assert rows
    assert hashlib.sha256(secret.encode()).hexdigest() in {r.token_hash for r in rows}
    for row in rows:
        assert secret not in (row.token_hash, row.prefix, row.name)
        assert len(row.prefix) < len(secret) // 2
    # the secret is nowhere in the database (in the tables it has: test modules may have
    # imported the models of test plugins that are not enabled here)
    present = set(inspect(session.connection()).get_table_names())
    for table in Base.metadata.sorted_tables:
        if table.name not in present:
            continue
        for values in session.execute(select(table)).all():
            assert secret not in repr(tuple(values)), table.name


def test_personal_tokens(api_as: Any, make_user: Any) -> None:
    user = make_user("sales_rep")
    api = api_as(user)
    r = api.post("/api/v1/auth/tokens", json={"name": "laptop", "expires_days": 30})
    assert r.status_code == 201, r.get_json()
    secret = r.get_json()["token"]
    expires = dt.datetime.fromisoformat(r.get_json()["expires_at"])
    assert dt.timedelta(days=29) < expires - utcnow() <= dt.timedelta(days=30)
    personal = ApiClient(api.client, secret)
    assert personal.get("/api/v1/me").get_json()["id"] == user.id

    listed = api.get("/api/v1/auth/tokens").get_json()["data"]
    names = {t["name"]: t for t in listed}
    assert "laptop" in names
    assert secret not in str(listed) and "token_hash" not in str(listed)

    assert api.delete(f"/api/v1/auth/tokens/{names['laptop']['id']}").status_code == 204
    assert personal.get("/api/v1/me").status_code == 401
    assert "laptop" not in {t["name"] for t in api.get("/api/v1/auth/tokens").get_json()["data"]}
    assert api.delete(f"/api/v1/auth/tokens/{names['laptop']['id']}").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x", "expires_days": 0},
        {"name": "x", "expires_days": 100000},
        {"name": "x", "user_id": 1},
        {"name": "x" * 101},
    ],
)
def test_personal_token_input_is_validated(api: Any, body: dict[str, Any]) -> None:
    r = api.post("/api/v1/auth/tokens", json=body)
    assert r.status_code == 422, r.get_json()


def test_cannot_see_or_revoke_anothers_token(api_as: Any, make_user: Any, session: Any) -> None:
    victim, attacker = make_user("sales_rep"), make_user("admin")
    victim_api, attacker_api = api_as(victim), api_as(attacker)
    token_id = _token_id(session, victim_api.token)
    assert attacker_api.delete(f"/api/v1/auth/tokens/{token_id}").status_code == 404
    assert victim_api.get("/api/v1/me").status_code == 200
    listed = attacker_api.get("/api/v1/auth/tokens").get_json()["data"]
    assert token_id not in {t["id"] for t in listed}


def test_me(api_as: Any, make_user: Any) -> None:
    user = make_user("sales_rep", name="Rita Rep")
    r = api_as(user).get("/api/v1/me")
    assert r.status_code == 200
    body = r.get_json()
    assert body["email"] == user.email and body["name"] == "Rita Rep"
    assert body["role"] == "sales_rep"
    assert body["grants"]["contacts"]["read"] == "own"
    assert "password_hash" not in body and "password" not in body


# rate limits ----------------------------------------------------------------------------------


def test_login_rate_limit_per_account(client: Any, crm: Any, make_user: Any) -> None:
    make_user("sales_rep", email="target@example.com")
    limit = int(crm.settings.login_rate_limit.split()[0])
    for n in range(limit):  # each attempt from a different address: only the account counts
        assert (
            login(client, "target@example.com", "Wrong-password-1", f"10.0.1.{n}").status_code
            == 401
        )
    r = login(client, "TARGET@example.com", PASSWORD, "10.0.2.1")
    assert r.status_code == 429
    body = problem(r)
    assert body["status"] == 429 and "token" not in body
    # another account from a fresh address is not affected
    make_user("sales_rep", email="other@example.com")
    assert login(client, "other@example.com", PASSWORD, "10.0.2.2").status_code == 200


def test_login_rate_limit_per_address(client: Any, crm: Any, make_user: Any) -> None:
    make_user("sales_rep", email="spray@example.com")
    limit = int(crm.settings.login_rate_limit.split()[0])
    for n in range(limit):
        assert (
            login(client, f"spray{n}@example.com", "Wrong-password-1", "10.0.3.1").status_code
            == 401
        )
    r = login(client, "spray@example.com", PASSWORD, "10.0.3.1")
    assert r.status_code == 429
    assert problem(r)["status"] == 429
    assert login(client, "spray@example.com", PASSWORD, "10.0.3.2").status_code == 200


# passwords ------------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["short", "elevenchars", "a" * 20, "", " " * 14, "x" * 300])
def test_password_policy(api: Any, password: str) -> None:
    r = api.post("/api/v1/users", json={"email": "weak@example.com", "password": password})
    assert r.status_code == 422, r.get_json()
    assert "password" in problem(r)["errors"]


def test_password_policy_on_change(api: Any, make_user: Any) -> None:
    user = make_user("sales_rep")
    r = api.patch(f"/api/v1/users/{user.id}", json={"password": "too-short"})
    assert r.status_code == 422 and "password" in r.get_json()["errors"]
    r = api.patch(f"/api/v1/users/{user.id}", json={"password": GOOD_PASSWORD})
    assert r.status_code == 200


def test_twelve_characters_are_enough(api: Any, client: Any) -> None:
    r = api.post("/api/v1/users", json={"email": "ok@example.com", "password": "abcdefgh1234"})
    assert r.status_code == 201, r.get_json()
    assert login(client, "ok@example.com", "abcdefgh1234").status_code == 200


def test_password_is_hashed_with_argon2(api: Any, session: Any) -> None:
    r = api.post("/api/v1/users", json={"email": "argon@example.com", "password": GOOD_PASSWORD})
    user = session.get(User, r.get_json()["id"])
    assert user.password_hash.startswith("$argon2id$")
    assert GOOD_PASSWORD not in user.password_hash


@pytest.mark.crm_sqlite_only  # no database involved
def test_production_hashing_keeps_argon2s_default_parameters() -> None:
    """The test kit hashes cheaply in the test process; a process without it (such as
    `crm serve`) hashes with argon2id at 64 MiB, 3 passes, 4 lanes, and verifies both kinds."""
    program = (
        "import sys\n"
        "from crmcore.users.passwords import hash_password, verify_password\n"
        "password, cheap = sys.argv[1:]\n"
        "made = hash_password(password)\n"
        "print(made, verify_password(made, password), verify_password(made, password + 'x'),"
        " verify_password(cheap, password))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", program, GOOD_PASSWORD, CHEAP_HASH],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.split()
    assert out[0].startswith("$argon2id$v=19$m=65536,t=3,p=4$"), out
    assert out[1:] == ["True", "False", "True"]


def test_the_test_kit_hashes_cheaply_and_verifies_production_hashes(make_user: Any) -> None:
    from crmcore.users.passwords import verify_password

    user = make_user(password=GOOD_PASSWORD)
    assert user.password_hash.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert verify_password(PRODUCTION_HASH, GOOD_PASSWORD)
    assert not verify_password(PRODUCTION_HASH, GOOD_PASSWORD + " ")
    assert verify_password(CHEAP_HASH, GOOD_PASSWORD)


def test_no_response_contains_secrets(
    api: Any, api_as: Any, make_user: Any, session: Any, client: Any, make_contact: Any
) -> None:
    r = api.post(
        "/api/v1/users",
        json={"email": "secretive@example.com", "password": GOOD_PASSWORD, "name": "Secretive"},
    )
    user_id = r.get_json()["id"]
    api.patch(f"/api/v1/users/{user_id}", json={"password": GOOD_PASSWORD + "x"})
    token = login(client, "secretive@example.com", GOOD_PASSWORD + "x").get_json()["token"]
    own = ApiClient(client, token)
    personal = own.post("/api/v1/auth/tokens", json={"name": "p"}).get_json()["token"]
    password_hash = session.get(User, user_id).password_hash
    rep = make_user("sales_rep")
    bodies = [r]
    for client_ in (api, own, api_as(rep)):
        for url in (
            "/api/v1/users",
            "/api/v1/users?limit=200&sort=-id",
            f"/api/v1/users/{user_id}",
            "/api/v1/me",
            f"/api/v1/users/{user_id}/history",
            f"/api/v1/users/{user_id}/timeline",
            "/api/v1/search?q=secretive",
            "/api/v1/auth/tokens",
            "/api/v1/users?email=secretive@example.com",
        ):
            bodies.append(client_.get(url))
    for response in bodies:
        text = response.get_data(as_text=True)
        for secret in (
            "password_hash",
            "$argon2",
            password_hash,
            token,
            personal,
            GOOD_PASSWORD,
            "token_hash",
        ):
            assert secret not in text, (response.request.path, secret)
    assert bodies[1].status_code == 200


def test_audit_log_masks_passwords(api: Any, session: Any) -> None:
    r = api.post("/api/v1/users", json={"email": "audited@example.com", "password": GOOD_PASSWORD})
    user_id = r.get_json()["id"]
    api.patch(f"/api/v1/users/{user_id}", json={"password": GOOD_PASSWORD + "!"})
    entries = list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "user", AuditEntry.record_id == user_id)
        )
    )
    assert [e.action for e in entries] == ["create", "update"]
    for entry in entries:
        assert entry.changes["password"] == ["***", "***"]
        assert "password_hash" not in entry.changes
        assert "$argon2" not in repr(entry.changes) and GOOD_PASSWORD not in repr(entry.changes)
    history = api.get(f"/api/v1/users/{user_id}/history").get_json()["data"]
    assert history[0]["changes"]["password"] == ["***", "***"]


def test_filtering_or_sorting_users_by_password_hash_is_refused(api: Any) -> None:
    for query in (
        "password_hash=x",
        "password_hash__contains=$argon2",
        "sort=password_hash",
        "password=x",
        "password_hash__isnull=false",
    ):
        r = api.get(f"/api/v1/users?{query}")
        assert r.status_code == 400, query
        problem(r)


# mass assignment and privilege escalation -----------------------------------------------------


def _role_id(session: Any, name: str) -> int:
    from crmcore.users.models import Role

    return int(session.scalar(select(Role.id).where(Role.name == name)))


@pytest.fixture
def self_editor(records: Any, make_user: Any) -> Any:
    """A user whose role lets them read every user and update their own."""
    records.create(
        "roles",
        {
            "name": "self_editor",
            "title": "Self editor",
            "grants": {
                "users": {"read": "all", "update": "own"},
                "teams": {"read": "all"},
                "contacts": {"read": "team"},
            },
        },
    )
    return make_user("self_editor")


def test_user_cannot_change_own_role(api_as: Any, self_editor: Any, session: Any) -> None:
    api = api_as(self_editor)
    r = api.patch(f"/api/v1/users/{self_editor.id}", json={"name": "Me, renamed"})
    assert r.status_code == 200, r.get_json()
    r = api.patch(f"/api/v1/users/{self_editor.id}", json={"role_id": _role_id(session, "admin")})
    assert r.status_code in (403, 422)
    assert api.get("/api/v1/me").get_json()["role"] == "self_editor"
    assert api.get("/api/v1/roles").status_code == 403


def test_user_cannot_join_teams_by_editing_self(
    api_as: Any, self_editor: Any, make_user: Any, make_contact: Any
) -> None:
    boss = make_user("manager", teams=("Board",))
    secret = make_contact(last_name="Boardroom", owner_id=boss.id)
    team_id = boss.teams[0].id
    api = api_as(self_editor)
    r = api.patch(f"/api/v1/users/{self_editor.id}", json={"team_ids": [team_id]})
    assert r.status_code in (403, 422), r.get_json()
    assert secret.id not in {c["id"] for c in api.get("/api/v1/contacts").get_json()["data"]}


def test_user_cannot_edit_other_users(api_as: Any, self_editor: Any, make_user: Any) -> None:
    other = make_user("admin")
    api = api_as(self_editor)
    for body in ({"password": GOOD_PASSWORD}, {"email": "mine@example.com"}, {"active": False}):
        r = api.patch(f"/api/v1/users/{other.id}", json=body)
        assert r.status_code in (403, 404), body
    assert api.delete(f"/api/v1/users/{other.id}").status_code in (403, 404)


@pytest.mark.parametrize(
    "field, value",
    [
        ("role", "admin"),
        ("password_hash", "$argon2id$v=19$m=65536,t=3,p=4$abc$def"),
        ("id", 1),
        ("created_at", "2020-01-01T00:00:00+00:00"),
        ("updated_at", "2020-01-01T00:00:00+00:00"),
        ("last_login_at", "2020-01-01T00:00:00+00:00"),
        ("version", 7),
        ("deleted_at", "2020-01-01T00:00:00+00:00"),
        ("is_admin", True),
    ],
)
def test_user_mass_assignment_is_refused(
    api: Any, make_user: Any, session: Any, field: str, value: Any
) -> None:
    r = api.post(
        "/api/v1/users", json={"email": "mass@example.com", "password": GOOD_PASSWORD, field: value}
    )
    assert r.status_code == 422, r.get_json()
    assert field in problem(r)["errors"]
    user = make_user("sales_rep")
    before = (user.password_hash, user.role_id, user.created_at)
    r = api.patch(f"/api/v1/users/{user.id}", json={field: value})
    assert r.status_code == 422, r.get_json()
    assert field in problem(r)["errors"]
    session.refresh(user)
    assert (user.password_hash, user.role_id, user.created_at) == before


def test_manager_cannot_assign_roles_or_create_admins(
    api_as: Any, make_user: Any, session: Any
) -> None:
    manager = make_user("manager")
    rep = make_user("sales_rep")
    api = api_as(manager)
    admin_role = _role_id(session, "admin")
    r = api.post(
        "/api/v1/users",
        json={"email": "evil@example.com", "password": GOOD_PASSWORD, "role_id": admin_role},
    )
    assert r.status_code == 403
    r = api.patch(f"/api/v1/users/{rep.id}", json={"role_id": admin_role})
    assert r.status_code == 403
    r = api.patch(f"/api/v1/users/{manager.id}", json={"role_id": admin_role})
    assert r.status_code == 403
    session.refresh(rep)
    assert rep.role.name == "sales_rep"


@pytest.fixture
def user_admin(records: Any, make_user: Any) -> Any:
    """Manages user accounts but may not assign roles."""
    records.create(
        "roles",
        {
            "name": "user_admin",
            "title": "User admin",
            "grants": {
                "users": {"read": "all", "create": "all", "update": "all", "delete": "all"},
                "teams": {"read": "all"},
            },
        },
    )
    return make_user("user_admin")


def test_user_admin_without_roles_assign(
    api_as: Any, user_admin: Any, make_user: Any, session: Any
) -> None:
    api = api_as(user_admin)
    r = api.post("/api/v1/users", json={"email": "plain@example.com", "password": GOOD_PASSWORD})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["role_id"] is None
    r = api.post(
        "/api/v1/users",
        json={
            "email": "boss@example.com",
            "password": GOOD_PASSWORD,
            "role_id": _role_id(session, "admin"),
        },
    )
    # this user administrator may not read roles: a role is a reference it cannot give (422
    # naming the field, as for any unreadable reference); with roles.read, 403 (covers)
    assert r.status_code == 422 and "role_id" in r.get_json()["errors"]
    rep = make_user("sales_rep")
    r = api.patch(f"/api/v1/users/{rep.id}", json={"role_id": _role_id(session, "admin")})
    assert r.status_code == 422 and "role_id" in r.get_json()["errors"]


def test_user_admin_cannot_take_over_an_admin(
    api_as: Any, user_admin: Any, make_user: Any, client: Any
) -> None:
    admin = make_user("admin", email="root@example.com")
    api = api_as(user_admin)
    r = api.patch(f"/api/v1/users/{admin.id}", json={"password": GOOD_PASSWORD})
    assert r.status_code == 403, r.get_json()
    r = api.patch(f"/api/v1/users/{admin.id}", json={"email": "attacker@example.com"})
    assert r.status_code == 403
    assert login(client, "root@example.com", GOOD_PASSWORD).status_code == 401
    # so is any account that can see something its manager cannot (a rep's own contacts)
    rep = make_user("sales_rep")
    assert api.patch(f"/api/v1/users/{rep.id}", json={"password": GOOD_PASSWORD}).status_code == 403
    assert api.delete(f"/api/v1/users/{admin.id}").status_code == 403
    # users with no more rights than the manager's are fine to manage
    for user in (make_user(None), make_user("user_admin")):
        r = api.patch(f"/api/v1/users/{user.id}", json={"password": GOOD_PASSWORD})
        assert r.status_code == 200, r.get_json()
        assert api.delete(f"/api/v1/users/{user.id}").status_code == 204


def test_roles_assign_cannot_hand_out_more_than_one_has(
    records: Any, make_user: Any, api_as: Any, session: Any
) -> None:
    records.create(
        "roles",
        {
            "name": "hr",
            "title": "HR",
            "permissions": ["roles.assign"],
            "grants": {
                "users": {"read": "all", "create": "all", "update": "all"},
                "roles": {"read": "all"},
            },
        },
    )
    api = api_as(make_user("hr"))
    rep = make_user(None)
    r = api.patch(f"/api/v1/users/{rep.id}", json={"role_id": _role_id(session, "admin")})
    assert r.status_code == 403
    r = api.post(
        "/api/v1/users",
        json={
            "email": "x@example.com",
            "password": GOOD_PASSWORD,
            "role_id": _role_id(session, "admin"),
        },
    )
    assert r.status_code == 403
    r = api.patch(f"/api/v1/users/{rep.id}", json={"role_id": _role_id(session, "hr")})
    assert r.status_code == 200, r.get_json()


def test_admin_can_assign_roles(api: Any, make_user: Any, session: Any) -> None:
    rep = make_user("sales_rep")
    r = api.patch(f"/api/v1/users/{rep.id}", json={"role_id": _role_id(session, "manager")})
    assert r.status_code == 200 and r.get_json()["role_id"] == _role_id(session, "manager")
    r = api.patch(f"/api/v1/users/{rep.id}", json={"role_id": 999999})
    assert r.status_code == 422 and "role_id" in r.get_json()["errors"]


def test_deactivating_or_trashing_yourself_is_refused(api: Any, admin: Any) -> None:
    r = api.patch(f"/api/v1/users/{admin.id}", json={"active": False})
    assert r.status_code == 422 and "active" in r.get_json()["errors"]
    r = api.delete(f"/api/v1/users/{admin.id}")
    assert r.status_code in (403, 422)
    assert api.get("/api/v1/me").status_code == 200


def test_admin_cannot_remove_own_admin_role(api: Any, admin: Any, session: Any) -> None:
    r = api.patch(f"/api/v1/users/{admin.id}", json={"role_id": _role_id(session, "read_only")})
    assert r.status_code in (403, 422)
    assert api.get("/api/v1/me").get_json()["role"] == "admin"


def test_trashed_role_grants_nothing(api: Any, api_as: Any, records: Any, make_user: Any) -> None:
    records.create(
        "roles", {"name": "temp", "title": "Temp", "grants": {"contacts": {"read": "all"}}}
    )
    user_api = api_as(make_user("temp"))
    assert user_api.get("/api/v1/contacts").status_code == 200
    r = api.delete(f"/api/v1/roles/{records.session.scalar(_role_query('temp'))}")
    assert r.status_code in (204, 409, 422)
    if r.status_code == 204:
        assert user_api.get("/api/v1/contacts").status_code == 403


def _role_query(name: str) -> Any:
    from crmcore.users.models import Role

    return select(Role.id).where(Role.name == name)


def test_trashed_team_gives_no_visibility(
    api_as: Any, records: Any, make_user: Any, make_contact: Any
) -> None:
    records.create(
        "roles",
        {"name": "team_reader", "title": "Team reader", "grants": {"contacts": {"read": "team"}}},
    )
    reader = make_user("team_reader", teams=("Temp team",))
    mate = make_user("sales_rep", teams=("Temp team",))
    theirs = make_contact(last_name="Teamed", owner_id=mate.id)
    api = api_as(reader)
    assert theirs.id in {c["id"] for c in api.get("/api/v1/contacts").get_json()["data"]}
    records.delete("teams", reader.teams[0].id)
    assert theirs.id not in {c["id"] for c in api.get("/api/v1/contacts").get_json()["data"]}


def test_last_used_at_is_recorded_at_a_coarse_resolution(api_as: Any, make_user: Any,
                                                         session: Any) -> None:  # fmt: skip
    api = api_as(make_user("sales_rep"))
    token = session.get(ApiToken, _token_id(session, api.token))
    token.last_used_at = None
    session.commit()
    assert api.get("/api/v1/me").status_code == 200
    session.refresh(token)
    first = token.last_used_at
    assert first is not None and utcnow() - first < dt.timedelta(minutes=1)

    recent = utcnow() - dt.timedelta(minutes=2)
    token.last_used_at = recent
    session.commit()
    api.get("/api/v1/me")
    session.refresh(token)
    assert token.last_used_at == recent  # within five minutes: no write

    token.last_used_at = utcnow() - dt.timedelta(hours=1)
    session.commit()
    # each process remembers when it recorded a use itself (the column is no part of the auth
    # stamp); a process that has not, as a new one, records it again
    api.client.application.extensions["crm"].token_cache.clear()
    api.get("/api/v1/me")
    session.refresh(token)
    assert utcnow() - token.last_used_at < dt.timedelta(minutes=1)


def test_a_new_password_revokes_the_users_other_tokens(
    api_as: Any, make_user: Any, client: Any, session: Any
) -> None:
    user = make_user("admin", email="rotate@example.com")  # admins may edit themselves
    laptop = ApiClient(client, login(client, "rotate@example.com", PASSWORD).get_json()["token"])
    phone = api_as(user)
    r = phone.patch(f"/api/v1/users/{user.id}", json={"password": GOOD_PASSWORD})
    assert r.status_code == 200, r.get_json()
    assert laptop.get("/api/v1/me").status_code == 401  # stolen tokens stop working
    assert phone.get("/api/v1/me").status_code == 200  # the one that changed it goes on

    admin = api_as(make_user("admin"))
    r = admin.patch(f"/api/v1/users/{user.id}", json={"password": GOOD_PASSWORD + "x"})
    assert r.status_code == 200
    assert phone.get("/api/v1/me").status_code == 401  # an admin's reset revokes them all
    assert admin.get("/api/v1/me").status_code == 200


def test_a_refused_password_revokes_nothing(api_as: Any, make_user: Any) -> None:
    user = make_user("sales_rep")
    own, admin = api_as(user), api_as(make_user("admin"))
    r = admin.patch(f"/api/v1/users/{user.id}", json={"password": "short"})
    assert r.status_code == 422
    assert own.get("/api/v1/me").status_code == 200
