"""``crm support fetch-mail`` against a real IMAP server: a throw-away Dovecot on loopback
(tests/imap_server.py), plain IMAP and implicit TLS, mail delivered with APPEND."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from crm_support.models import SupportQueue, Ticket, TicketMessage
from imap_server import Dovecot, deliver, empty, flags, missing
from sqlalchemy import func, select
from support_testing import eml

from crmcore.audit import AuditEntry

pytestmark = [
    pytest.mark.crm_plugins("support"),
    pytest.mark.skipif(missing() is not None, reason=missing() or ""),
]

DESK, DESK_PASSWORD = "desk@example.com", "Imap-desk-pass-7"
#: not ASCII: imaplib's LOGIN cannot send it, AUTHENTICATE PLAIN in UTF-8 can
SOPORTE, SOPORTE_PASSWORD = "soporte@example.com", "contraseña-Ñandú-9"
WRONG_PASSWORD = "Wrong-imap-pass-3"


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot({DESK: DESK_PASSWORD, SOPORTE: SOPORTE_PASSWORD}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Iterator[Any]:
    """The desk's mailbox, emptied, through a client of its own (as a mail program)."""
    client = dovecot.client(DESK)
    empty(client)
    yield client
    client.logout()


@pytest.fixture
def imap_queue(records: Any, desk: dict[str, Any], dovecot: Dovecot) -> SupportQueue:
    """The default queue polling the desk's mailbox over plain IMAP on loopback."""
    return records.update(  # type: ignore[no-any-return]
        "support_queues",
        desk["queue"],
        {
            "imap_host": "127.0.0.1",
            "imap_port": dovecot.port,
            "imap_tls": False,
            "imap_user": DESK,
            "imap_password": DESK_PASSWORD,
        },
    )


def tickets(session: Any) -> list[Ticket]:
    return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def test_unread_mail_becomes_tickets_once(
    cli, session, mailbox, imap_queue, outbox, caplog, dovecot
):
    caplog.set_level(logging.INFO)
    deliver(mailbox, eml("new_request.eml", uid="imap1"))
    deliver(mailbox, eml("multipart_attachments.eml", uid="imap2"))
    deliver(mailbox, eml("bounce.eml", uid="imap3"))
    assert flags(mailbox) == [set(), set(), set()]  # unread, as delivered

    result = cli("support", "fetch-mail")
    assert result.exit_code == 0, result.output
    assert result.output == "General: created 2, ignored 1\n"
    created = tickets(session)
    assert [t.subject for t in created] == ["Printer on fire", "Logs attached"]
    assert {t.channel for t in created} == {"email"}
    assert {t.queue_id for t in created} == {imap_queue.id}
    attachments = session.scalar(
        select(TicketMessage.attachment_ids).where(TicketMessage.ticket_id == created[1].id)
    )
    assert len(attachments) == 2
    assert len(outbox.to("ana@customer.example")) == 1  # acknowledged; the bounce was not
    assert flags(mailbox) == [{"\\Seen"}] * 3  # every message marked read, none moved

    again = cli("support", "fetch-mail")
    assert again.exit_code == 0 and again.output == "General: nothing new\n"
    assert len(tickets(session)) == 2

    # someone marks a message unread again in their mail program: still nothing twice
    mailbox.store("1", "-FLAGS", "(\\Seen)")
    third = cli("support", "fetch-mail", "--queue", "General")
    assert third.output == "General: duplicate 1\n"
    assert len(tickets(session)) == 2 and flags(mailbox)[0] == {"\\Seen"}

    assert "Login: user=<desk@example.com>, method=PLAIN" in dovecot.log  # it was the server
    for text in (result.output, again.output, third.output, caplog.text):
        assert DESK_PASSWORD not in text


def test_wrong_password_is_a_clear_error_without_the_password(
    cli, records, session, mailbox, imap_queue, caplog
):
    caplog.set_level(logging.INFO)
    deliver(mailbox, eml("new_request.eml", uid="imap-wrong"))
    records.update("support_queues", imap_queue, {"imap_password": WRONG_PASSWORD})
    result = cli("support", "fetch-mail")
    assert result.exit_code == 1
    assert result.output == (
        "General: failed: login as desk@example.com failed: "
        "[AUTHENTICATIONFAILED] Authentication failed.\n"
    )
    assert "Traceback" not in result.output and "Traceback" not in caplog.text
    assert "AUTHENTICATIONFAILED" in caplog.text  # the log has the error...
    for text in (result.output, caplog.text):
        assert WRONG_PASSWORD not in text and DESK_PASSWORD not in text  # ...not the password
    assert tickets(session) == []
    assert flags(mailbox) == [set()]  # left for the next run


def test_passwords_are_encrypted_at_rest_and_out_of_the_audit_log(
    crm, records, session, imap_queue, api
):
    from crm_support import secretbox

    stored = session.scalar(
        select(SupportQueue.imap_password).where(SupportQueue.id == imap_queue.id)
    )
    assert stored.startswith("fernet:") and DESK_PASSWORD not in stored
    assert secretbox.unseal(crm, stored) == DESK_PASSWORD
    audit = [
        str(a.changes)
        for a in session.scalars(select(AuditEntry).where(AuditEntry.entity == "support_queue"))
    ]
    assert any("imap_password" in a for a in audit)  # the change is recorded...
    assert not any(DESK_PASSWORD in a for a in audit)  # ...without the password
    body = api.get(f"/api/v1/support_queues/{imap_queue.id}").get_json()
    assert body["imap_user"] == DESK and "imap_password" not in body


def test_secret_changed_means_set_the_password_again(cli, crm, mailbox, imap_queue, monkeypatch):
    monkeypatch.setattr(crm.settings, "secret_key", "another-secret-key-" + "x" * 40)
    result = cli("support", "fetch-mail")
    assert result.exit_code == 1
    assert "cannot be decrypted" in result.output and "set the queue's imap_password" in (
        result.output
    )


def test_tls_checks_the_certificate_and_sends_utf8_passwords(
    cli, records, session, dovecot, imap_queue, monkeypatch
):
    client = dovecot.client(SOPORTE, tls=True)
    empty(client)
    deliver(client, eml("new_request.eml", uid="imap-tls"))
    records.update(
        "support_queues",
        imap_queue,
        {
            "imap_host": "127.0.0.1",
            "imap_port": dovecot.tls_port,
            "imap_tls": True,
            "imap_user": SOPORTE,
            "imap_password": SOPORTE_PASSWORD,
        },
    )
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    untrusted = cli("support", "fetch-mail")
    assert untrusted.exit_code == 1
    assert f"the certificate of 127.0.0.1:{dovecot.tls_port} is not trusted" in untrusted.output
    assert "self-signed" in untrusted.output and "Traceback" not in untrusted.output
    assert tickets(session) == []

    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.cert))  # trust the server's own CA
    trusted = cli("support", "fetch-mail")
    assert trusted.exit_code == 0, trusted.output
    assert trusted.output == "General: created 1\n"
    assert [t.subject for t in tickets(session)] == ["Printer on fire"]
    assert flags(client) == [{"\\Seen"}]
    client.logout()


def test_too_large_mail_is_marked_read_and_skipped(
    cli, crm, session, mailbox, imap_queue, monkeypatch, caplog
):
    monkeypatch.setitem(crm.settings.extra, "support_max_mail_mb", 0.01)
    big = eml("new_request.eml", uid="imap-big").replace(b"Ana\r\n", b"A" * 20_000 + b"\r\n")
    deliver(mailbox, big)
    deliver(mailbox, eml("reply.eml", uid="imap-small", subject="Hi", in_reply_to="<x@y>"))
    result = cli("support", "fetch-mail")
    assert result.exit_code == 0 and result.output == "General: rejected 1, created 1\n"
    assert "is too large" in caplog.text
    assert session.scalar(select(func.count()).select_from(Ticket)) == 1
    assert flags(mailbox) == [{"\\Seen"}, {"\\Seen"}]


def test_a_named_folder_and_a_missing_one(cli, records, session, mailbox, imap_queue):
    mailbox.create('"Support requests"')
    try:
        deliver(mailbox, eml("new_request.eml", uid="imap-folder"), '"Support requests"')
        records.update("support_queues", imap_queue, {"imap_folder": "Support requests"})
        ok = cli("support", "fetch-mail")
        assert ok.exit_code == 0 and ok.output == "General: created 1\n"
        records.update("support_queues", imap_queue, {"imap_folder": "Nowhere"})
        missing_folder = cli("support", "fetch-mail")
        assert missing_folder.exit_code == 1
        assert "General: failed: opening folder 'Nowhere' failed" in missing_folder.output
    finally:
        mailbox.select("INBOX")
        mailbox.delete('"Support requests"')


def test_unknown_queue_and_unreachable_server(cli, records, imap_queue, dovecot):
    unknown = cli("support", "fetch-mail", "--queue", "Nope")
    assert unknown.exit_code == 1 and "no queue called 'Nope'" in unknown.output
    from crmcore.testing.browser import free_port

    # a new port forgets the password unless it is given again
    records.update(
        "support_queues", imap_queue, {"imap_port": free_port(), "imap_password": DESK_PASSWORD}
    )
    down = cli("support", "fetch-mail")
    assert down.exit_code == 1 and "General: failed: cannot connect to 127.0.0.1:" in down.output
