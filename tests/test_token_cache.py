"""Tokens resolved once per process (``crmcore.api.token_cache``) and list statements reused
per user and scope (``crmcore.api.list_statements``): the attacks a cache invites - a revoked
token, a deactivated or trashed user, a changed password or a narrowed role still honoured by
another process; one user's cached statement serving another's rows - on two app instances
(each with its own cache and connection pool, as two ``crm serve`` workers) and on a process of
its own, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.pool import NullPool

from crmcore.api.auth import hash_token, issue_token
from crmcore.db import utcnow
from crmcore.instance import create_user
from crmcore.testing.plugin import build_app
from crmcore.users.models import ApiToken, Role, User

PASSWORD = "A-long-test-password-1"


@pytest.fixture
def two_apps(fresh_database: str, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """Two app instances on one database: each its own token cache, statements and pool."""
    first = build_app([], fresh_database, tmp_path / "first")
    second = build_app([], fresh_database, tmp_path / "second")
    yield first, second
    for app in (first, second):
        app.extensions["crm"].engine.dispose()


def new_user(app: Any, email: str, role: str | None) -> tuple[int, str]:
    """A committed user with a token: its id and the token's secret."""
    with app.app_context():
        crm = app.extensions["crm"]
        user = create_user(crm, email, PASSWORD, role)
        secret, _row = issue_token(crm.session, user, "test", 1)
        crm.session.commit()
        user_id = user.id
        crm.close_session()
    return user_id, secret


def call(app: Any, method: str, path: str, secret: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {secret}"}
    return app.test_client().open(path, method=method, json=body, headers=headers)


def token_queries(app: Any, method: str, path: str, secret: str) -> tuple[int, list[str]]:
    """The status of one request and the statements it sent that read ``core_api_token``."""
    seen: list[str] = []
    engine = app.extensions["crm"].engine

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "core_api_token" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        status = call(app, method, path, secret).status_code
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return status, seen


def token_id(app: Any, secret: str) -> int:
    with app.app_context():
        crm = app.extensions["crm"]
        found = crm.session.scalar(
            select(ApiToken.id).where(ApiToken.token_hash == hash_token(secret))
        )
        crm.close_session()
    assert found is not None
    return int(found)


def _revoke(first: Any, admin: str, user_id: int, secret: str) -> None:
    answer = call(first, "DELETE", f"/api/v1/auth/tokens/{token_id(first, secret)}", secret)
    assert answer.status_code == 204


def _deactivate(first: Any, admin: str, user_id: int, secret: str) -> None:
    answer = call(first, "PATCH", f"/api/v1/users/{user_id}", admin, {"active": False})
    assert answer.status_code == 200, answer.get_data(as_text=True)


def _trash(first: Any, admin: str, user_id: int, secret: str) -> None:
    assert call(first, "DELETE", f"/api/v1/users/{user_id}", admin).status_code == 204


def _new_password(first: Any, admin: str, user_id: int, secret: str) -> None:
    body = {"password": "Another-long-password-2"}
    answer = call(first, "PATCH", f"/api/v1/users/{user_id}", admin, body)
    assert answer.status_code == 200, answer.get_data(as_text=True)


def _plain_sql(first: Any, admin: str, user_id: int, secret: str) -> None:
    # a write that no Python code of the app sees: the database's triggers move the stamp
    with first.extensions["crm"].engine.begin() as conn:
        conn.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == hash_token(secret))
            .values(revoked_at=utcnow())
        )


@pytest.mark.parametrize(
    "end", [_revoke, _deactivate, _trash, _new_password, _plain_sql], ids=lambda f: f.__name__
)
def test_an_ended_token_fails_at_once_in_another_app_instance(
    two_apps: tuple[Any, Any], end: Any
) -> None:
    first, second = two_apps
    _admin_id, admin = new_user(first, "admin@example.com", "admin")
    user_id, secret = new_user(first, "rep@example.com", "sales_rep")
    assert call(second, "GET", "/api/v1/me", secret).status_code == 200
    # the second instance now answers from its cache: no token query
    status, queries = token_queries(second, "GET", "/api/v1/contacts", secret)
    assert status == 200 and queries == []
    end(first, admin, user_id, secret)
    assert call(second, "GET", "/api/v1/me", secret).status_code == 401
    assert call(second, "GET", "/api/v1/contacts", secret).status_code == 401
    assert call(first, "GET", "/api/v1/me", secret).status_code == 401


def _contact(app: Any, secret: str, name: str) -> int:
    answer = call(app, "POST", "/api/v1/contacts", secret, {"last_name": name})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return int(answer.get_json()["id"])


def _listed(app: Any, secret: str, query: str = "") -> set[int]:
    answer = call(app, "GET", f"/api/v1/contacts{query}", secret)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return {row["id"] for row in answer.get_json()["data"]}


def test_a_narrowed_role_reaches_another_app_instance_at_once(two_apps: tuple[Any, Any]) -> None:
    first, second = two_apps
    _admin_id, admin = new_user(first, "admin@example.com", "admin")
    wide = {"contacts": {"read": "all", "create": "all", "update": "all"}}
    answer = call(first, "POST", "/api/v1/roles", admin,
                  {"name": "wide", "title": "Wide", "grants": wide})  # fmt: skip
    assert answer.status_code == 201, answer.get_data(as_text=True)
    role_id = answer.get_json()["id"]
    _user_id, secret = new_user(first, "wide@example.com", "wide")
    theirs, mine = _contact(first, admin, "Admin's"), _contact(first, secret, "Mine")
    assert {theirs, mine} <= _listed(second, secret)
    assert {theirs, mine} <= _listed(second, secret)  # cached token and statement

    narrow = {"contacts": {"read": "own", "create": "own", "update": "own"}}
    answer = call(first, "PATCH", f"/api/v1/roles/{role_id}", admin, {"grants": narrow})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert _listed(second, secret) == {mine}
    assert call(second, "GET", f"/api/v1/contacts/{theirs}", secret).status_code == 404

    no_contacts = {"notes": {"read": "all"}}
    answer = call(first, "PATCH", f"/api/v1/roles/{role_id}", admin, {"grants": no_contacts})
    assert answer.status_code == 200
    assert call(second, "GET", "/api/v1/contacts", secret).status_code == 403


def test_a_new_role_reaches_another_app_instance_at_once(two_apps: tuple[Any, Any]) -> None:
    first, second = two_apps
    _admin_id, admin = new_user(first, "admin@example.com", "admin")
    user_id, secret = new_user(first, "manager@example.com", "manager")
    theirs = _contact(first, admin, "Admin's")
    assert theirs in _listed(second, secret)
    with first.app_context():
        crm = first.extensions["crm"]
        read_only = crm.session.scalar(select(Role.id).where(Role.name == "sales_rep"))
        crm.close_session()
    answer = call(first, "PATCH", f"/api/v1/users/{user_id}", admin, {"role_id": read_only})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert theirs not in _listed(second, secret)
    assert call(second, "GET", "/api/v1/me", secret).get_json()["role"] == "sales_rep"


#: a second process: its own app, cache and pool; reads "METHOD PATH SECRET" lines, answers
#: each with the status and the ids listed
DRIVER = """
import json, sys
from pathlib import Path
from crmcore.app import create_app

app = create_app(Path(sys.argv[1]), config={"database_url": sys.argv[2],
                                             "secret_key": "test-secret-" + "x" * 32})
client = app.test_client()
print("ready", flush=True)
for line in sys.stdin:
    method, path, secret = line.split()
    answer = client.open(path, method=method, headers={"Authorization": "Bearer " + secret})
    body = answer.get_json(silent=True) or {}
    ids = sorted(row["id"] for row in body.get("data", [])) if isinstance(body, dict) else []
    print(json.dumps([answer.status_code, ids]), flush=True)
"""


class Process:
    """The app of another process, asked over a pipe."""

    def __init__(self, database: str, instance: Path) -> None:
        self.child = subprocess.Popen(
            [sys.executable, "-c", DRIVER, str(instance), database],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.child.stdout is not None and self.child.stdout.readline().strip() == "ready"

    def ask(self, method: str, path: str, secret: str) -> tuple[int, list[int]]:
        assert self.child.stdin is not None and self.child.stdout is not None
        self.child.stdin.write(f"{method} {path} {secret}\n")
        self.child.stdin.flush()
        status, ids = json.loads(self.child.stdout.readline())
        return int(status), list(ids)

    def close(self) -> None:
        assert self.child.stdin is not None
        self.child.stdin.close()
        self.child.wait(timeout=30)


def test_a_revocation_and_a_narrowed_role_reach_another_process_at_once(
    fresh_database: str, tmp_path: Path
) -> None:
    first = build_app([], fresh_database, tmp_path / "first")
    other = Process(fresh_database, tmp_path / "other")
    try:
        _admin_id, admin = new_user(first, "admin@example.com", "admin")
        user_id, secret = new_user(first, "manager@example.com", "manager")
        theirs = _contact(first, admin, "Admin's")
        for _ in range(2):  # the second answer comes from the other process's caches
            status, ids = other.ask("GET", "/api/v1/contacts", secret)
            assert status == 200 and theirs in ids
        with first.app_context():
            crm = first.extensions["crm"]
            rep = crm.session.scalar(select(Role.id).where(Role.name == "sales_rep"))
            crm.close_session()
        answer = call(first, "PATCH", f"/api/v1/users/{user_id}", admin, {"role_id": rep})
        assert answer.status_code == 200
        status, ids = other.ask("GET", "/api/v1/contacts", secret)
        assert status == 200 and theirs not in ids
        tid = token_id(first, secret)
        assert call(first, "DELETE", f"/api/v1/auth/tokens/{tid}", secret).status_code == 204
        assert other.ask("GET", "/api/v1/me", secret)[0] == 401
        assert other.ask("GET", "/api/v1/contacts", secret)[0] == 401
    finally:
        other.close()
        first.extensions["crm"].engine.dispose()


def test_one_users_list_statement_never_serves_another(
    api: Any, api_as: Any, make_user: Any, crm: Any
) -> None:
    """Two users of the ``own`` scope ask for the same page shapes in turn, with cursors: each
    sees only their own rows, however often the statements are reused."""
    reps = [api_as(make_user("sales_rep")) for _ in range(2)]
    owned: list[set[int]] = []
    for rep in reps:
        ids = set()
        for n in range(3):
            answer = rep.post("/api/v1/contacts", json={"last_name": f"Own {n}"})
            assert answer.status_code == 201
            ids.add(answer.get_json()["id"])
        owned.append(ids)
    everyone = set().union(*owned)
    for _ in range(3):
        for rep, ids in zip(reps, owned, strict=True):
            assert _ids(rep, "/api/v1/contacts") == ids
            assert _paged(rep) == ids
            assert _ids(rep, "/api/v1/contacts?sort=-updated_at") == ids
        assert everyone <= _ids(api, "/api/v1/contacts?limit=200")
        assert everyone <= _paged(api, limit=200)
    assert len(crm.list_statements._statements) >= 3  # one per user at least: reused


def _ids(client: Any, url: str) -> set[int]:
    answer = client.get(url)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return {row["id"] for row in answer.get_json()["data"]}


def _paged(client: Any, limit: int = 1) -> set[int]:
    """Every id of the contact list walked page by page."""
    seen: set[int] = set()
    url = f"/api/v1/contacts?limit={limit}&sort=-updated_at"
    cursor = None
    for _ in range(1000):
        answer = client.get(url + (f"&cursor={cursor}" if cursor else ""))
        assert answer.status_code == 200, answer.get_data(as_text=True)
        body = answer.get_json()
        seen |= {row["id"] for row in body["data"]}
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the pages never ended")


def test_a_token_expiring_while_cached_is_refused(
    api_as: Any, make_user: Any, session: Any
) -> None:
    user = make_user("sales_rep")
    client = api_as(user)
    secret, row = issue_token(session, user, "short", 2 / 3600)  # two seconds
    session.commit()
    client.token = secret
    assert client.get("/api/v1/me").status_code == 200
    assert client.get("/api/v1/me").status_code == 200  # from the cache
    assert row.expires_at is not None
    time.sleep(max(0.0, (row.expires_at - utcnow()).total_seconds()) + 0.1)
    assert client.get("/api/v1/me").status_code == 401


def test_unknown_secrets_are_never_cached(client: Any, crm: Any) -> None:
    before = len(crm.token_cache._entries)
    for n in range(50):
        answer = client.get("/api/v1/me", headers={"Authorization": f"Bearer crm_unknown{n}"})
        assert answer.status_code == 401
    assert len(crm.token_cache._entries) == before


def _stamp(session: Any) -> int:
    return int(session.execute(text("SELECT stamp FROM core_auth_stamp WHERE id = 1")).scalar())


def test_the_stamp_moves_with_what_tokens_depend_on_and_not_with_their_use(
    make_user: Any, session: Any
) -> None:
    user = make_user("sales_rep")
    _secret, row = issue_token(session, user, "stamp", 1)
    session.commit()
    start = _stamp(session)
    session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=utcnow()))
    session.commit()
    assert _stamp(session) == start  # a use recorded is no change of rights
    issue_token(session, user, "another", 1)
    session.commit()
    assert _stamp(session) == start  # a new token is a cache miss anyway

    def moves(statement: Any) -> None:
        before = _stamp(session)
        session.execute(statement)
        session.commit()
        assert _stamp(session) != before, statement

    moves(update(ApiToken).where(ApiToken.id == row.id).values(revoked_at=utcnow()))
    moves(update(ApiToken).where(ApiToken.id == row.id).values(
        expires_at=utcnow() + dt.timedelta(hours=2)))  # fmt: skip
    moves(update(User).where(User.id == user.id).values(active=False))
    moves(update(User).where(User.id == user.id).values(name="Renamed"))
    moves(update(Role).where(Role.id == user.role_id).values(permissions=["data.export"]))
    moves(ApiToken.__table__.delete().where(ApiToken.id == row.id))


def test_a_lost_connection_is_replaced_without_a_ping_per_request(
    fresh_database: str, tmp_path: Path
) -> None:
    """No round trip before each request on a connection in steady use; a connection the
    database ended (a restart) is replaced: tested before use once it rested, and otherwise
    the first read of the request is tried again on a fresh connection - never a 5xx."""
    if not fresh_database.startswith("postgresql"):
        pytest.skip("needs PostgreSQL to end a backend")
    from crmcore import db

    app = build_app([], fresh_database, tmp_path / "instance")
    crm = app.extensions["crm"]
    _admin_id, secret = new_user(app, "admin@example.com", "admin")
    pings = []
    real_ping = crm.engine.dialect.do_ping

    def counted(connection: Any) -> bool:
        pings.append(1)
        return bool(real_ping(connection))

    crm.engine.dialect.do_ping = counted
    try:
        for _ in range(5):
            assert call(app, "GET", "/api/v1/contacts", secret).status_code == 200
        assert pings == []

        def end_backends() -> None:
            outside = db.create_engine_for(fresh_database, poolclass=NullPool)
            with outside.connect() as conn:
                ended = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar()
            outside.dispose()
            assert ended

        end_backends()  # in steady use: no ping; the first read is tried again
        assert call(app, "GET", "/api/v1/contacts", secret).status_code == 200
        assert call(app, "GET", "/api/v1/me", secret).status_code == 200

        end_backends()
        time.sleep(db.PING_AFTER_IDLE + 0.2)  # rested: tested before use, replaced
        assert call(app, "GET", "/api/v1/contacts", secret).status_code == 200
        assert pings
    finally:
        crm.engine.dispose()


def test_reads_run_without_a_transaction_and_writes_within_one(
    fresh_database: str, tmp_path: Path
) -> None:
    """On PostgreSQL the API's list and record reads skip ``BEGIN``/``ROLLBACK``; a write on
    the same pooled connection afterwards is in a transaction again."""
    if not fresh_database.startswith("postgresql"):
        pytest.skip("SQLite transactions cost no round trip")
    app = build_app([], fresh_database, tmp_path / "instance")
    crm = app.extensions["crm"]
    _admin_id, secret = new_user(app, "admin@example.com", "admin")
    modes: list[tuple[str, bool]] = []

    @app.after_request
    def record(response: Any) -> Any:
        from flask import request

        driver = crm.session.connection().connection.driver_connection
        modes.append((request.method, bool(driver.autocommit)))
        return response

    try:
        contact = _contact(app, secret, "Written")
        assert call(app, "GET", "/api/v1/contacts", secret).status_code == 200
        assert call(app, "GET", f"/api/v1/contacts/{contact}", secret).status_code == 200
        answer = call(app, "PATCH", f"/api/v1/contacts/{contact}", secret, {"first_name": "A"})
        assert answer.status_code == 200
        assert call(app, "GET", "/api/v1/me", secret).status_code == 200
        assert modes == [
            ("POST", False), ("GET", True), ("GET", True), ("PATCH", False), ("GET", False)
        ]  # fmt: skip
    finally:
        crm.engine.dispose()
