"""Mail to customers in their language: the contact's ``locale``, else the instance's;
contacts made from Spanish mail or a Spanish page get Spanish from then on."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from crm_support.jobs import check_slas
from crm_support.models import Ticket
from sqlalchemy import select
from support_testing import eml, form_post, invite_link

from crmcore.contacts.models import Contact
from crmcore.notifications import Notification

pytestmark = pytest.mark.crm_plugins("support")
SPANISH = {"locale": "es"}


def test_a_spanish_speaking_contact_gets_spanish_mail(api, records, make_contact, outbox, desk):
    rosa = make_contact(email="rosa@cliente.example", **SPANISH)
    ticket = records.create("tickets", {"subject": "Factura", "contact_id": rosa.id})
    link = invite_link(api, outbox, rosa)
    [invitation] = outbox.to(rosa.email)
    assert invitation["Subject"] == "Tu acceso al portal de soporte"
    assert invitation["Content-Language"] == "es"
    text = invitation.get_content()
    assert text.startswith("Hola:\n\nya puedes seguir tus solicitudes de soporte en línea.")
    assert "durante 7 días" in text and link in text

    outbox.clear()
    r = api.post(f"/api/v1/tickets/{ticket.id}/messages", json={"body": "Ya está corregida."})
    assert r.status_code == 201
    [reply] = outbox.to(rosa.email)
    assert reply["Content-Language"] == "es"
    assert reply.get_content() == (
        "Ya está corregida.\n\n-- \n"
        f"Responde a este correo para contestar; mantén [{ticket.number}] en el asunto.\n"
    )

    outbox.clear()
    api.patch(f"/api/v1/tickets/{ticket.id}", json={"status": "solved"})
    [survey] = outbox.to(rosa.email)
    assert f"tu solicitud {ticket.number} se ha resuelto" in survey.get_content()
    assert "Puntúanos del 1 al 5" in survey.get_content()


def test_english_contacts_and_the_instance_default(api, records, make_contact, outbox, app, desk):
    john = make_contact(email="john@customer.example")
    ticket = records.create("tickets", {"subject": "Invoice", "contact_id": john.id})
    api.post(f"/api/v1/tickets/{ticket.id}/messages", json={"body": "Fixed."})
    [reply] = outbox.to(john.email)
    assert reply["Content-Language"] == "en"
    assert "Reply to this e-mail to answer" in reply.get_content()

    outbox.clear()
    default = app.config["BABEL_DEFAULT_LOCALE"]
    app.config["BABEL_DEFAULT_LOCALE"] = "es"
    try:  # a contact whose language is unknown is written to in the instance's
        api.post(f"/api/v1/tickets/{ticket.id}/messages", json={"body": "Otra vez."})
    finally:
        app.config["BABEL_DEFAULT_LOCALE"] = default
    [reply] = outbox.to(john.email)
    assert "Responde a este correo" in reply.get_content()


def test_spanish_mail_makes_a_spanish_contact_and_acknowledgement(
    cli, tmp_path, session, outbox, desk
):
    raw = eml("new_request.eml", uid="es1").replace(
        b"MIME-Version: 1.0\r\n", b"MIME-Version: 1.0\r\nContent-Language: es-ES\r\n"
    )
    path = tmp_path / "es.eml"
    path.write_bytes(raw)
    assert cli("support", "ingest", str(path)).exit_code == 0
    contact = session.scalars(select(Contact).where(Contact.email == "ana@customer.example")).one()
    assert contact.locale == "es"
    ticket = session.scalars(select(Ticket)).one()
    [ack] = outbox.to("ana@customer.example")
    assert ack.get_content() == (
        f"Hola:\n\nhemos recibido tu solicitud y le hemos dado la referencia {ticket.number}. "
        "Responde a este correo para añadir información; mantén la referencia en el asunto."
        "\n\nGeneral\n"
    )


def test_the_web_form_in_spanish(app, session, outbox, desk):
    client = app.test_client()
    page = client.get("/support/new", headers={"Accept-Language": "es"}).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post(
        "/support/new",
        data={
            "csrf_token": token,
            "name": "Luis Pérez",
            "email": "luis@cliente.example",
            "subject": "Ayuda",
            "description": "No funciona",
        },
        headers={"Accept-Language": "es"},
    )
    assert r.status_code == 202
    assert "Revisa tu correo" in r.get_data(as_text=True)
    [confirm] = outbox.to("luis@cliente.example")
    assert confirm["Subject"] == "Confirma tu solicitud de soporte"
    link = re.search(r"http://[^/]+(/support/new/confirm/\S+)", confirm.get_content()).group(1)
    assert form_post(client, link, {}).status_code == 201  # confirmed in another language
    contact = session.scalars(select(Contact).where(Contact.email == "luis@cliente.example")).one()
    assert contact.locale == "es"  # the language of the form, kept until the confirmation
    [_confirm, ack] = outbox.to("luis@cliente.example")
    assert ack.get_content().startswith("Hola:\n\nhemos recibido tu solicitud")
    english = form_post(
        app.test_client(),
        "/support/new",
        {"name": "Al", "email": "al@x.example", "subject": "Help", "description": "Broken"},
    )
    assert english.status_code == 202
    [confirm] = outbox.to("al@x.example")
    assert confirm.get_content().startswith("Hello,\n\nsomeone sent us a support request")


def test_sla_alerts_in_each_agents_language(app, records, session, make_user, desk):
    agente = make_user("support_agent", locale="es")
    ticket = records.create(
        "tickets", {"subject": "Lento", "priority": "urgent", "assignee_id": agente.id}
    )
    check_slas(app, ticket.first_response_due_at + dt.timedelta(minutes=1))
    [note] = session.scalars(select(Notification).where(Notification.user_id == agente.id))
    assert note.title == f"SLA incumplido: {ticket.number}"
