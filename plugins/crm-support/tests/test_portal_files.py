"""Files in the customer portal: attached to a new request or a reply, kept whatever their
type, served only as downloads, and only to the contact whose public message carries them."""

from __future__ import annotations

import io
import re

import pytest
from crm_support.models import Ticket, TicketMessage
from sqlalchemy import select
from support_testing import csrf_of

pytestmark = pytest.mark.crm_plugins("support")

PDF = b"%PDF-1.4\n% a tiny invoice\n"
HTML = b"<html><script>alert(document.cookie)</script></html>"


def post_files(client, url, fields, files, from_page=None):
    """POST a multipart form like a browser, with the CSRF token of the page it is on."""
    page = client.get(from_page or url).get_data(as_text=True)
    data = {"csrf_token": csrf_of(page), **fields}
    data["files"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post(url, data=data, content_type="multipart/form-data")


def messages_of(session, ticket_id):
    return list(
        session.scalars(
            select(TicketMessage)
            .where(TicketMessage.ticket_id == ticket_id)
            .order_by(TicketMessage.id)
        )
    )


def assert_download(response, content):
    assert response.status_code == 200
    assert response.data == content
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_new_request_with_files_dangerous_ones_only_as_downloads(customer, session, api, desk):
    _ana, web = customer("ana@customer.example")
    r = post_files(
        web,
        "/portal/new",
        {"subject": "Invoice wrong", "description": "See the files."},
        [("invoice.pdf", PDF), ("page.html", HTML)],
    )
    assert r.status_code == 303, r.get_data(as_text=True)
    ticket = session.scalars(select(Ticket).where(Ticket.subject == "Invoice wrong")).one()
    [first] = messages_of(session, ticket.id)
    assert first.public and first.author_contact_id == ticket.contact_id
    assert first.channel == "portal" and first.body == "See the files."
    assert len(first.attachment_ids) == 2
    page = web.get(r.headers["Location"]).get_data(as_text=True)
    assert "invoice.pdf" in page and "page.html" in page
    assert page.count("See the files.") == 1  # the description is not shown twice
    links = re.findall(r'href="(/portal/attachments/\d+)"', page)
    assert len(links) == 2
    assert_download(web.get(links[0]), PDF)
    assert_download(web.get(links[1]), HTML)  # never rendered: no script can run
    # the desk sees the same files on the ticket
    staff = api.get(f"/api/v1/attachments/{first.attachment_ids[1]}/content")
    assert staff.status_code == 200 and staff.data == HTML


def test_reply_with_a_file_and_the_limits(customer, records, session, crm, monkeypatch, desk):
    bea, web = customer("bea@customer.example")
    ticket = records.create("tickets", {"subject": "Bea's", "contact_id": bea.id})
    url = f"/portal/tickets/{ticket.id}/reply"
    page = f"/portal/tickets/{ticket.id}"
    ok = post_files(web, url, {"body": "Here it is"}, [("log.txt", b"error 42")], page)
    assert ok.status_code == 303
    [reply] = messages_of(session, ticket.id)
    assert reply.body == "Here it is" and len(reply.attachment_ids) == 1

    too_many = [(f"f{n}.txt", b"x") for n in range(6)]
    r = post_files(web, url, {"body": "Six files"}, too_many, page)
    assert r.status_code == 413
    html = r.get_data(as_text=True)
    assert "Attach at most 5 files." in html and ">Six files</textarea>" in html  # kept

    monkeypatch.setitem(crm.settings.extra, "support_upload_mb", 0.01)
    r = post_files(web, url, {"body": "Big"}, [("big.bin", b"x" * 20_000)], page)
    assert r.status_code == 413 and "big.bin is larger than 0.01 MB." in r.get_data(as_text=True)
    r = post_files(web, url, {"body": "Empty"}, [("empty.txt", b"")], page)
    assert r.status_code == 413 and "empty.txt is empty." in r.get_data(as_text=True)
    new = post_files(
        web, "/portal/new", {"subject": "S", "description": "D"}, [("b", b"x" * 20_000)]
    )
    assert new.status_code == 413 and "b is larger than" in new.get_data(as_text=True)

    assert len(messages_of(session, ticket.id)) == 1  # nothing was added by refused posts
    assert session.scalars(select(Ticket).where(Ticket.subject == "S")).first() is None


def test_downloads_only_of_own_public_messages(customer, records, session, api, outbox, desk):
    cleo, cleo_web = customer("cleo@customer.example")
    dan, dan_web = customer("dan@customer.example")
    ticket = records.create("tickets", {"subject": "Cleo's", "contact_id": cleo.id})

    def staff_file(name, content, public):
        up = api.post(
            f"/api/v1/tickets/{ticket.id}/attachments",
            data={"file": (io.BytesIO(content), name)},
            content_type="multipart/form-data",
        )
        assert up.status_code == 201, up.get_json()
        r = api.post(
            f"/api/v1/tickets/{ticket.id}/messages",
            json={"body": name, "public": public, "attachment_ids": [up.get_json()["id"]]},
        )
        assert r.status_code == 201, r.get_json()
        return up.get_json()["id"]

    outbox.clear()
    public_id = staff_file("answer.pdf", PDF, True)
    note_id = staff_file("internal.txt", b"only for the desk", False)
    [mail] = outbox.to(cleo.email)  # the public reply e-mails the file along
    [part] = list(mail.iter_attachments())
    assert part.get_filename() == "answer.pdf" and part.get_content() == PDF
    assert part.get_content_type() == "application/octet-stream"

    dan_ticket = records.create("tickets", {"subject": "Dan's", "contact_id": dan.id})
    r = post_files(
        dan_web,
        f"/portal/tickets/{dan_ticket.id}/reply",
        {"body": "mine"},
        [("dan.txt", b"dan's secret")],
        f"/portal/tickets/{dan_ticket.id}",
    )
    assert r.status_code == 303
    [dan_file] = messages_of(session, dan_ticket.id)[0].attachment_ids

    assert_download(cleo_web.get(f"/portal/attachments/{public_id}"), PDF)
    assert_download(dan_web.get(f"/portal/attachments/{dan_file}"), b"dan's secret")
    page = cleo_web.get(f"/portal/tickets/{ticket.id}").get_data(as_text=True)
    assert "answer.pdf" in page and "internal.txt" not in page
    assert cleo_web.get(f"/portal/attachments/{note_id}").status_code == 404  # internal note
    assert cleo_web.get(f"/portal/attachments/{dan_file}").status_code == 404  # another's
    assert dan_web.get(f"/portal/attachments/{public_id}").status_code == 404
    highest = max(public_id, note_id, dan_file)
    allowed = {public_id}
    for guess in range(0, highest + 5):  # every id there is, and some that are not
        code = cleo_web.get(f"/portal/attachments/{guess}").status_code
        assert code == (200 if guess in allowed else 404), guess
    from crmcore.activities.models import Attachment

    stored = session.get(Attachment, public_id).stored_name
    for path in (
        f"/portal/attachments/{stored}",
        f"/portal/attachments/{public_id}/../{dan_file}",
        f"/portal/attachments/-{public_id}",
        f"/portal/attachments/{public_id}%2F..%2F{dan_file}",
    ):
        assert cleo_web.get(path).status_code == 404, path
    # the trash hides a file at once
    assert api.delete(f"/api/v1/attachments/{public_id}").status_code == 204
    assert cleo_web.get(f"/portal/attachments/{public_id}").status_code == 404
    # signed out: to the sign-in page, no file
    anonymous = cleo_web.application.test_client().get(f"/portal/attachments/{dan_file}")
    assert anonymous.status_code == 302


def test_api_refuses_files_of_another_ticket(api, records, desk):
    one = records.create("tickets", {"subject": "One"})
    two = records.create("tickets", {"subject": "Two"})
    up = api.post(
        f"/api/v1/tickets/{one.id}/attachments",
        data={"file": (io.BytesIO(b"x"), "a.txt")},
        content_type="multipart/form-data",
    )
    r = api.post(
        f"/api/v1/tickets/{two.id}/messages",
        json={"body": "b", "attachment_ids": [up.get_json()["id"]]},
    )
    assert r.status_code == 422 and "attachment_ids" in r.get_json()["errors"]
    ok = api.post(
        f"/api/v1/tickets/{one.id}/messages",
        json={"body": "b", "attachment_ids": [up.get_json()["id"]]},
    )
    assert ok.status_code == 201 and ok.get_json()["attachment_ids"] == [up.get_json()["id"]]


def test_staff_reply_form_attaches_files(web, records, session, desk):
    ticket = records.create("tickets", {"subject": "Staff files"})
    page = f"/tickets/{ticket.id}"
    r = post_files(
        web,
        f"/support/tickets/{ticket.id}/reply",
        {"body": "See attached", "public": "0"},
        [("notes.txt", b"n")],
        page,
    )
    assert r.status_code == 303
    [note] = messages_of(session, ticket.id)
    assert not note.public and len(note.attachment_ids) == 1
    assert "notes.txt" in web.get(page).get_data(as_text=True)


def test_merging_tickets_of_two_contacts_is_refused(customer, records, session, api, desk):
    """Merging would move B's thread - replies and files - into A's ticket, shown in A's
    portal: it is refused with 409, and A's portal shows nothing of B's."""
    ana, ana_web = customer("ana.merge@customer.example")
    ben, ben_web = customer("ben.merge@customer.example")
    ana_ticket = records.create("tickets", {"subject": "Ana's", "contact_id": ana.id})
    ben_ticket = records.create("tickets", {"subject": "Ben's", "contact_id": ben.id})
    r = post_files(
        ben_web,
        f"/portal/tickets/{ben_ticket.id}/reply",
        {"body": "Ben's private reply"},
        [("ben-contract.txt", b"ben's contract")],
        f"/portal/tickets/{ben_ticket.id}",
    )
    assert r.status_code == 303
    [ben_file] = messages_of(session, ben_ticket.id)[0].attachment_ids

    for source, target in ((ben_ticket, ana_ticket), (ana_ticket, ben_ticket)):
        r = api.post(f"/api/v1/tickets/{source.id}/merge", json={"into": target.id})
        assert r.status_code == 409, r.get_json()
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert "different contacts" in r.get_json()["detail"]
    session.expire_all()
    assert session.get(Ticket, ben_ticket.id).merged_into_id is None
    assert [m.body for m in messages_of(session, ben_ticket.id)] == ["Ben's private reply"]

    page = ana_web.get(f"/portal/tickets/{ana_ticket.id}").get_data(as_text=True)
    assert "Ben's private reply" not in page and "ben-contract.txt" not in page
    assert ana_web.get(f"/portal/attachments/{ben_file}").status_code == 404

    # tickets of the same contact still merge, and one without a contact merges into any
    ana_again = records.create("tickets", {"subject": "Ana's again", "contact_id": ana.id})
    r = api.post(f"/api/v1/tickets/{ana_again.id}/merge", json={"into": ana_ticket.id})
    assert r.status_code == 200, r.get_json()
    loose = records.create("tickets", {"subject": "Nobody's", "contact_id": None})
    r = api.post(f"/api/v1/tickets/{loose.id}/merge", json={"into": ana_ticket.id})
    assert r.status_code == 409  # its thread would reach Ana's portal too
    r = api.post(f"/api/v1/tickets/{ben_ticket.id}/merge", json={"into": loose.id})
    assert r.status_code == 200  # a ticket without a contact shows in no portal
