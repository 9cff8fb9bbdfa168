"""Replies through a real SMTP peer (aiosmtpd) when CRM_SMTP_URL is set."""

from __future__ import annotations

import socket
import time
from email import message_from_bytes, policy

import pytest

pytestmark = pytest.mark.crm_plugins("support")


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            (envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 OK"


@pytest.fixture
def smtp(crm):
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    crm.settings.smtp_url = f"smtp://127.0.0.1:{port}"
    try:
        yield inbox
    finally:
        crm.settings.smtp_url = None
        controller.stop()


def test_public_reply_goes_through_smtp(api, make_contact, smtp, outbox):
    contact = make_contact(email="hal@customer.example")
    ticket = api.post(
        "/api/v1/tickets", json={"subject": "Over SMTP", "contact_id": contact.id}
    ).get_json()
    r = api.post(f"/api/v1/tickets/{ticket['id']}/messages", json={"body": "Hello Hal"})
    assert r.status_code == 201
    deadline = time.monotonic() + 5
    while not smtp.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    [(rcpt, msg)] = smtp.messages
    assert rcpt == ["hal@customer.example"]
    assert msg["Subject"] == f"[{ticket['number']}] Over SMTP"
    assert msg["Message-ID"] == r.get_json()["mail_message_id"]
    assert outbox.files() == []


def test_subject_with_line_breaks_cannot_inject_headers(api, make_contact, outbox):
    contact = make_contact(email="ivy@customer.example")
    ticket = api.post(
        "/api/v1/tickets",
        json={"subject": "Hi\r\nBcc: victim@evil.example", "contact_id": contact.id},
    ).get_json()
    api.post(f"/api/v1/tickets/{ticket['id']}/messages", json={"body": "x"})
    [mail] = outbox.to("ivy@customer.example")
    assert mail["Bcc"] is None and "victim" in mail["Subject"]
