"""Inbound mail: real .eml files through ``crm support ingest`` (a file, or stdin for an MTA)."""

from __future__ import annotations

import secrets

import pytest
from crm_support.incoming import MailRejected, ingest
from crm_support.models import Ticket, TicketMessage
from sqlalchemy import select
from support_testing import eml

pytestmark = pytest.mark.crm_plugins("support")


def run_ingest(cli, tmp_path, raw: bytes):
    path = tmp_path / f"{secrets.token_hex(4)}.eml"
    path.write_bytes(raw)
    return cli("support", "ingest", str(path))


def only_ticket(session, **where):
    rows = list(session.scalars(select(Ticket).filter_by(**where)))
    assert len(rows) == 1, rows
    return rows[0]


def test_new_mail_becomes_a_ticket_and_is_acknowledged(cli, tmp_path, session, desk, outbox):
    uid = secrets.token_hex(4)
    result = run_ingest(cli, tmp_path, eml("new_request.eml", uid=uid))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("created T-")
    ticket = only_ticket(session, subject="Printer on fire")
    assert ticket.channel == "email" and ticket.queue_id == desk["queue"].id
    assert "printer is on fire" in ticket.description
    [message] = session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket.id))
    assert message.mail_message_id == f"<first-{uid}@customer.example>"
    assert message.author_contact_id == ticket.contact_id and message.author_id is None
    [ack] = outbox.to("ana@customer.example")
    assert ack["Subject"] == f"[{ticket.number}] Printer on fire"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == message.mail_message_id


def test_same_message_id_twice_creates_nothing(cli, tmp_path, session, desk, outbox):
    raw = eml("new_request.eml", uid="twice")
    assert run_ingest(cli, tmp_path, raw).exit_code == 0
    again = run_ingest(cli, tmp_path, raw)
    assert again.exit_code == 0 and again.output.startswith("duplicate")
    assert len(list(session.scalars(select(Ticket)))) == 1
    assert len(outbox.files()) == 1


def test_stdin_pipe_from_an_mta(cli, session, desk):
    result = cli("support", "ingest", "-", input=eml("new_request.eml", uid="stdin"))
    assert result.exit_code == 0, result.output
    assert only_ticket(session, subject="Printer on fire").channel == "email"


def test_reply_joins_by_in_reply_to_and_reopens(api, cli, tmp_path, session, desk, outbox):
    run_ingest(cli, tmp_path, eml("new_request.eml", uid="t1"))
    ticket = only_ticket(session, subject="Printer on fire")
    r = api.post(
        f"/api/v1/tickets/{ticket.id}/messages", json={"body": "Try water.", "status": "pending"}
    )
    our_id = r.get_json()["mail_message_id"]
    reply = eml("reply.eml", uid="t1", subject="[T-000000] whatever", in_reply_to=our_id)
    result = run_ingest(cli, tmp_path, reply)
    assert result.output.startswith(f"joined {ticket.number}"), result.output
    session.refresh(ticket)
    assert ticket.status == "open"
    bodies = [
        m.body
        for m in session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket.id))
    ]
    assert bodies[-1] == "It is still burning."


def test_subject_reference_joins_only_from_the_tickets_contact(cli, tmp_path, session, desk):
    run_ingest(cli, tmp_path, eml("new_request.eml", uid="t2"))
    ticket = only_ticket(session, subject="Printer on fire")
    own = eml(
        "subject_reference.eml", uid="a", number=ticket.number, sender="Ana <ANA@customer.example>"
    )
    assert run_ingest(cli, tmp_path, own).output.startswith(f"joined {ticket.number}")
    stranger = eml(
        "subject_reference.eml", uid="b", number=ticket.number, sender="mallory@evil.example"
    )
    result = run_ingest(cli, tmp_path, stranger)
    assert result.output.startswith("created"), result.output
    assert result.output.split()[1] != ticket.number


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: auto-replied",
        "X-Autoreply: yes",
        "Precedence: bulk",
        "Precedence: auto_reply",
    ],
)
def test_auto_replies_never_loop(api, cli, tmp_path, session, desk, outbox, header):
    run_ingest(cli, tmp_path, eml("new_request.eml", uid="t3"))
    ticket = only_ticket(session, subject="Printer on fire")
    r = api.post(
        f"/api/v1/tickets/{ticket.id}/messages", json={"body": "Solved?", "status": "pending"}
    )
    outbox.clear()
    auto = eml(
        "auto_reply.eml",
        uid="x",
        subject=ticket.subject,
        in_reply_to=r.get_json()["mail_message_id"],
        header=header,
    )
    result = run_ingest(cli, tmp_path, auto)
    assert result.output.startswith("joined"), result.output
    session.refresh(ticket)
    assert ticket.status == "pending"  # not reopened
    assert outbox.files() == []  # nothing sent back
    fresh = eml(
        "auto_reply.eml", uid="y", subject="Hello", in_reply_to="<unknown@x>", header=header
    )
    assert run_ingest(cli, tmp_path, fresh).output.startswith("ignored")
    assert outbox.files() == []
    assert len(list(session.scalars(select(Ticket)))) == 1


def test_bounces_start_nothing(cli, tmp_path, session, desk, outbox):
    result = run_ingest(cli, tmp_path, eml("bounce.eml", uid="b1"))
    assert result.exit_code == 0 and result.output.startswith("ignored")
    assert list(session.scalars(select(Ticket))) == [] and outbox.files() == []


def test_malformed_and_huge_mail_is_rejected_for_the_mta(cli, tmp_path, crm, session, desk):
    result = run_ingest(cli, tmp_path, eml("malformed.eml"))
    assert result.exit_code == 65
    crm.settings.extra["support_max_mail_mb"] = 0.01
    try:
        big = eml("new_request.eml", uid="big").replace(b"Ana\r\n", b"A" * 20_000 + b"\r\n")
        result = run_ingest(cli, tmp_path, big)
        assert result.exit_code == 65
        with pytest.raises(MailRejected, match="limit"):
            ingest(crm, big)
    finally:
        crm.settings.extra.pop("support_max_mail_mb")
    assert list(session.scalars(select(Ticket))) == []


def test_html_mail_is_sanitised(cli, tmp_path, session, desk):
    run_ingest(cli, tmp_path, eml("html_only.eml", uid="h"))
    ticket = only_ticket(session, subject="Fancy mail")
    [message] = session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket.id))
    html = message.body_html
    for bad in ("<script", "onclick", "javascript:", "<iframe", "<style"):
        assert bad not in html.lower()
    assert "<b>team</b>" in html
    assert "Hello team" in message.body and "<" not in message.body
    assert "alert" not in message.body


def test_plain_text_is_preferred_and_dangerous_attachments_are_downloads(
    api, cli, tmp_path, session, desk
):
    run_ingest(cli, tmp_path, eml("multipart_attachments.eml", uid="m"))
    ticket = only_ticket(session, subject="Logs attached")
    [message] = session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket.id))
    assert message.body == "Plain text wins."
    assert "<em>loses</em>" in message.body_html
    assert len(message.attachment_ids) == 2
    names = []
    for attachment_id in message.attachment_ids:
        r = api.get(f"/api/v1/attachments/{attachment_id}/content")
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "application/octet-stream"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Content-Disposition"].startswith("attachment;")
        names.append(r.headers["Content-Disposition"])
    assert any("invoice.exe" in n for n in names) and any("page.html" in n for n in names)


def test_reply_to_a_closed_ticket_starts_a_new_one(api, cli, tmp_path, session, desk):
    run_ingest(cli, tmp_path, eml("new_request.eml", uid="c"))
    ticket = only_ticket(session, subject="Printer on fire")
    api.patch(f"/api/v1/tickets/{ticket.id}", json={"status": "closed"})
    first_id = session.scalar(
        select(TicketMessage.mail_message_id).where(TicketMessage.ticket_id == ticket.id)
    )
    result = run_ingest(cli, tmp_path, eml("reply.eml", uid="c", subject="x", in_reply_to=first_id))
    assert result.output.startswith("created")


def test_reply_to_a_merged_ticket_lands_on_the_survivor(api, cli, tmp_path, session, desk):
    run_ingest(cli, tmp_path, eml("new_request.eml", uid="m1"))
    source = only_ticket(session, subject="Printer on fire")
    target = api.post("/api/v1/tickets", json={"subject": "Main"}).get_json()
    first_id = session.scalar(
        select(TicketMessage.mail_message_id).where(TicketMessage.ticket_id == source.id)
    )
    api.post(f"/api/v1/tickets/{source.id}/merge", json={"into": target["id"]})
    result = run_ingest(
        cli, tmp_path, eml("reply.eml", uid="m1", subject="x", in_reply_to=first_id)
    )
    assert result.output.startswith(f"joined {target['number']}"), result.output


def test_ingest_needs_the_plugin_enabled(cli, tmp_path):
    cli("plugins", "disable", "support")
    result = run_ingest(cli, tmp_path, eml("new_request.eml", uid="d"))
    assert result.exit_code != 0 and "not enabled" in result.output
