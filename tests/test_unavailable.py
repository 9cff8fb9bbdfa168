"""A database that cannot serve (SQLite's write lock held past the busy timeout, PostgreSQL
down) answers 503 with Retry-After - problem+json in the API, a page on the web - never 500."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event

from crmcore.app import create_app
from crmcore.testing.browser import free_port
from crmcore.testing.plugin import build_app


def test_sqlite_write_lock_held_too_long_answers_503(tmp_path: Path) -> None:
    database = tmp_path / "locked.db"
    app = build_app([], f"sqlite:///{database}", tmp_path / "instance")
    crm = app.extensions["crm"]

    @event.listens_for(crm.engine, "connect")
    def short_wait(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=200")  # the test need not wait 10 s

    crm.engine.dispose()
    with app.app_context():
        from crmcore.api.auth import issue_token
        from crmcore.instance import create_user

        user = create_user(crm, "lock@example.com", "Lock-test-password-1", "admin", "")
        token, _row = issue_token(crm.session, user, "test", 1)
        crm.session.commit()
        crm.close_session()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        answer = client.post("/api/v1/contacts", json={"last_name": "Blocked"}, headers=headers)
        assert answer.status_code == 503, answer.get_data(as_text=True)
        assert answer.mimetype == "application/problem+json"
        assert int(answer.headers["Retry-After"]) > 0
        # a reader is not blocked by a writer
        assert client.get("/api/v1/contacts", headers=headers).status_code == 200
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    answer = client.post("/api/v1/contacts", json={"last_name": "Later"}, headers=headers)
    assert answer.status_code == 201
    crm.engine.dispose()


def test_postgresql_down_answers_503(tmp_path: Path) -> None:
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    app = create_app(
        tmp_path, config={"database_url": closed, "secret_key": "test-secret-" + "x" * 32}
    )
    client = app.test_client()
    answer = client.get("/api/v1/contacts", headers={"Authorization": "Bearer crm_whatever"})
    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    assert answer.headers["Retry-After"]
    answer = client.post("/api/v1/auth/token", json={"email": "a@example.com", "password": "x"})
    assert answer.status_code == 503
    with client.session_transaction() as cookie:
        cookie["_user_id"] = "1.0123456789abcdef01234567"
    page = client.get("/")
    assert page.status_code == 503
    assert page.mimetype == "text/html"
    assert page.headers["Retry-After"]


def test_connection_dropped_after_the_answer_is_not_a_500(
    fresh_database: str, tmp_path: Path
) -> None:
    """PostgreSQL ending the session's connection (a restart) once the view has answered: the
    rollback at the end of the request fails, and that must not turn the answer into a 500."""
    if not fresh_database.startswith("postgresql"):
        import pytest

        pytest.skip("needs PostgreSQL to end a backend")
    from sqlalchemy import text

    app = build_app([], fresh_database, tmp_path / "instance")
    crm = app.extensions["crm"]
    with app.app_context():
        from crmcore.api.auth import issue_token
        from crmcore.instance import create_user

        user = create_user(crm, "drop@example.com", "Drop-test-password-1", "admin", "")
        token, _row = issue_token(crm.session, user, "test", 1)
        crm.session.commit()
        crm.close_session()

    @app.after_request
    def end_the_backend(response: Any) -> Any:
        pid = crm.session.scalar(text("SELECT pg_backend_pid()"))
        with crm.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return response

    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    answer = client.get("/api/v1/contacts", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    app.after_request_funcs[None].remove(end_the_backend)
    assert client.get("/api/v1/contacts", headers=headers).status_code == 200  # recovered
    crm.engine.dispose()
