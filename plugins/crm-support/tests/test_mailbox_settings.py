"""A queue's mailbox settings: only ``support.mailboxes`` (admins) changes them, and a new
server or user forgets the stored password, so nobody can have ``crm support fetch-mail``
log in to a server of theirs with it.

The attacker's server is real: an IMAP greeter on loopback that writes down what it is sent.
"""

from __future__ import annotations

import re
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from crm_support.models import SupportQueue
from sqlalchemy import select

pytestmark = pytest.mark.crm_plugins("support")

SECRET = "Mailbox-secret-91"


class _Trap(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        heard: list[bytes] = self.server.heard  # type: ignore[attr-defined]
        self.wfile.write(b"* OK IMAP4rev1 trap ready\r\n")
        for line in self.rfile:
            heard.append(line)
            tag, _sep, rest = line.decode("ascii", "replace").partition(" ")
            if rest.upper().startswith("CAPABILITY"):
                self.wfile.write(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")
                self.wfile.write(f"{tag} OK done\r\n".encode())
            elif rest.upper().startswith("LOGOUT"):
                self.wfile.write(f"* BYE\r\n{tag} OK bye\r\n".encode())
                return
            else:
                self.wfile.write(f"{tag} NO thanks\r\n".encode())


@pytest.fixture
def trap() -> Iterator[Any]:
    """An IMAP server on 127.0.0.1 that refuses every login and keeps what it heard."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Trap)
    server.daemon_threads = True
    server.heard = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def mailbox_queue(records: Any, desk: dict[str, Any]) -> SupportQueue:
    """The default queue with a mailbox and its password, set by an administrator."""
    return records.update(  # type: ignore[no-any-return]
        "support_queues",
        desk["queue"],
        {
            "imap_host": "imap.example.invalid",
            "imap_port": 993,
            "imap_tls": True,
            "imap_user": "desk@example.com",
            "imap_password": SECRET,
        },
    )


def _heard(trap: Any) -> bytes:
    return b"".join(trap.heard)


def stored_password(session: Any, queue: SupportQueue) -> str | None:
    session.expire_all()
    return session.scalar(select(SupportQueue.imap_password).where(SupportQueue.id == queue.id))


@pytest.mark.parametrize(
    "change",
    [
        {"imap_host": "127.0.0.1"},
        {"imap_port": 1143},
        {"imap_tls": False},
        {"imap_user": "thief@example.com"},
        {"imap_folder": "Archive"},
        {"imap_password": "new-one"},
        {"imap_password": None},
    ],
)
def test_a_manager_may_not_touch_the_mailbox(api_as, make_user, session, mailbox_queue, change):
    manager = make_user("manager")
    r = api_as(manager).patch(f"/api/v1/support_queues/{mailbox_queue.id}", json=change)
    assert r.status_code == 403, r.get_json()
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert stored_password(session, mailbox_queue) is not None
    # the rest of the queue is still theirs to run
    r = api_as(manager).patch(
        f"/api/v1/support_queues/{mailbox_queue.id}", json={"assignment": "round_robin"}
    )
    assert r.status_code == 200, r.get_json()
    r = api_as(manager).post(
        "/api/v1/support_queues", json={"name": "Thieves", "imap_host": "127.0.0.1"}
    )
    assert r.status_code == 403


def test_repointing_the_queue_cannot_send_the_password_elsewhere(
    api_as, make_user, cli, session, mailbox_queue, trap
):
    manager = make_user("manager")
    repoint = {"imap_host": "127.0.0.1", "imap_port": trap.server_address[1], "imap_tls": False}
    r = api_as(manager).patch(f"/api/v1/support_queues/{mailbox_queue.id}", json=repoint)
    assert r.status_code == 403
    # an administrator may re-point it: the password stays behind
    admin = make_user("admin")
    r = api_as(admin).patch(f"/api/v1/support_queues/{mailbox_queue.id}", json=repoint)
    assert r.status_code == 200, r.get_json()
    assert stored_password(session, mailbox_queue) is None
    result = cli("support", "fetch-mail")
    assert result.exit_code == 1
    assert "no password is set for this mailbox" in result.output
    assert SECRET.encode() not in _heard(trap)
    assert b"LOGIN" not in _heard(trap).upper() and b"AUTHENTICATE" not in _heard(trap).upper()


@pytest.mark.parametrize(
    "change",
    [
        {"imap_port": 1143},
        {"imap_tls": False},
        {"imap_user": "other@example.com"},
    ],
)
def test_any_new_endpoint_forgets_the_password(api, session, mailbox_queue, change):
    r = api.patch(f"/api/v1/support_queues/{mailbox_queue.id}", json=change)
    assert r.status_code == 200, r.get_json()
    assert stored_password(session, mailbox_queue) is None


def test_same_values_or_a_new_password_keep_working(api, crm, session, mailbox_queue, trap):
    from crm_support import secretbox

    same = {"imap_host": "imap.example.invalid", "imap_port": 993, "imap_folder": "INBOX"}
    assert api.patch(f"/api/v1/support_queues/{mailbox_queue.id}", json=same).status_code == 200
    assert secretbox.unseal(crm, stored_password(session, mailbox_queue)) == SECRET
    moved = {
        "imap_host": "127.0.0.1",
        "imap_port": trap.server_address[1],
        "imap_tls": False,
        "imap_password": "Given-with-the-host-5",
    }
    assert api.patch(f"/api/v1/support_queues/{mailbox_queue.id}", json=moved).status_code == 200
    assert secretbox.unseal(crm, stored_password(session, mailbox_queue)) == (
        "Given-with-the-host-5"
    )


def test_the_permission_is_declared_and_only_admins_hold_it(crm, make_user):
    from crmcore.permissions import Access

    assert crm.permissions["support.mailboxes"][0] == "support"
    assert Access.for_user(make_user("admin")).has("support.mailboxes")
    for role in ("manager", "support_agent", "sales_rep", "read_only", "marketer"):
        assert not Access.for_user(make_user(role)).has("support.mailboxes"), role


def test_trap_hears_a_login(trap):
    """The trap is a real server: a client that logs in is heard (so the test above can fail)."""
    import imaplib

    client = imaplib.IMAP4("127.0.0.1", trap.server_address[1], timeout=5)
    try:
        client.login("u", SECRET)
    except imaplib.IMAP4.error:
        pass
    client.shutdown()
    assert SECRET.encode() in _heard(trap)


def test_a_manager_creates_and_edits_queues_without_a_mailbox_in_the_form(
    make_user, web_as, session
):
    """The staff form sends every field, the TLS box unticked included: a queue without a
    server is still the manager's to create and edit."""
    from support_testing import form_post

    manager = make_user("manager")
    web = web_as(manager)
    r = form_post(web, "/support_queues/new", {"name": "Billing", "assignment": "manual"})
    assert r.status_code == 303, (
        r.status_code,
        re.findall(r"(?:field-error|role=.alert.)[^<]*<?[^<]*", r.get_data(as_text=True)),
    )
    queue = session.scalars(select(SupportQueue).where(SupportQueue.name == "Billing")).one()
    edit = f"/support_queues/{queue.id}/edit"
    r = form_post(web, edit, {"name": "Billing desk", "assignment": "manual", "version": "1"})
    assert r.status_code == 303, (
        r.status_code,
        re.findall(r"(?:field-error|role=.alert.)[^<]*<?[^<]*", r.get_data(as_text=True)),
    )
    changed = {"name": "Billing desk", "assignment": "manual", "imap_host": "127.0.0.1"}
    r = form_post(web, edit, {**changed, "version": "2"})
    assert r.status_code == 403
