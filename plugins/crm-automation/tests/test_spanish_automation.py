"""The automation pages in Spanish: run results, notes, states, action and trigger labels, the
dry run and the incoming/call-webhook parts show no English the catalogue knows."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo

import crm_automation

pytestmark = [
    pytest.mark.crm_plugins("automation", "autotest"),
    pytest.mark.usefixtures("immediate_jobs"),
]

MO = Path(crm_automation.__file__).parent / "translations/es/LC_MESSAGES/messages.mo"


def english_texts() -> set[str]:
    """The plugin's message ids whose Spanish differs, with placeholders as patterns."""
    with MO.open("rb") as fh:
        return {
            m.id
            for m in read_mo(fh)
            if isinstance(m.id, str) and m.id and m.string and m.string != m.id and len(m.id) > 3
        }


class Texts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style") and self.skip > 0

    def handle_data(self, data):
        if not self.skip:
            self.texts.extend(line.strip() for line in data.splitlines() if line.strip())


def leaks(html: str) -> set[str]:
    """English texts of the catalogue found on the page (whole lines, or a run's result)."""
    parser = Texts()
    parser.feed(html)
    found = set()
    english = english_texts()
    for text in parser.texts:
        body = re.sub(r"^\d+\. ", "", text)
        for message in english:
            if "%(" in message:
                regex = re.escape(message)
                regex = re.sub(r"%\\\(\w+\\\)s", ".+", regex)
                if re.fullmatch(regex, body) or any(
                    re.fullmatch(regex, part.strip()) for part in body.split(":", 1)[1:]
                ):
                    found.add(message)
            elif body == message or body.endswith(" " + message):
                found.add(message)
    return found


def test_run_history_and_dry_run_are_spanish(web_as, make_user, make_rule, make_contact, records):
    admin = make_user("admin", locale="es")
    web = web_as(admin)
    rule = make_rule(
        {"type": "updated"},
        [{"type": "add_tags", "tags": ["vip"]}, {"type": "add_tags", "tags": ["vip"]},
         {"type": "create_task", "title": "Llamar"}],
        conditions="last_name=Ruiz", name="Regla de prueba",
    )  # fmt: skip
    contact = make_contact(last_name="Ruiz")
    records.update("contacts", contact, {"first_name": "Ana"})
    page = web.get(f"/automation/rules/{rule.id}").get_data(as_text=True)
    assert "Etiquetas añadidas: vip" in page and "Las etiquetas ya estaban" in page
    assert "Añadir etiquetas: hecha" in page or "Añadir etiquetas:" in page
    assert "Tags added" not in page and "add_tags" not in page.split("<table", 1)[1]
    assert leaks(page) == set()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    dry = web.post(f"/automation/rules/{rule.id}", data={"csrf_token": token})
    body = dry.get_data(as_text=True)
    assert "Add tags" not in body and leaks(body) == set()


def test_the_builder_and_the_webhook_parts_are_spanish(web_as, make_user, allow_hosts, receiver):
    allow_hosts("127.0.0.1")
    web = web_as(make_user("admin", locale="es"))
    builder = web.get("/automation/rules/new").get_data(as_text=True)
    assert "Se recibe un webhook entrante" in builder and "Llamar a un webhook" in builder
    assert leaks(builder) == set()
    token = re.search(r'name="csrf_token" value="([^"]+)"', builder).group(1)
    refused = web.post("/automation/rules/new", data={
        "csrf_token": token, "name": "Formulario", "entity": "contact", "active": "on",
        "trigger_type": "incoming_webhook", "match_field": "email", "slots": "3",
        "act-0-type": "call_webhook", "act-0-url": "http://10.0.0.1/x"})  # fmt: skip
    message = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "Acción 1 (call_webhook): http://10.0.0.1/x" in message and "is refused" not in message
    r = web.post("/automation/rules/new", data={
        "csrf_token": token, "name": "Formulario", "entity": "contact", "active": "on",
        "trigger_type": "incoming_webhook", "match_field": "email", "slots": "3",
        "act-0-type": "call_webhook", "act-0-url": receiver.url,
        "act-0-fields": "text = Nuevo {{ record.email }}"})  # fmt: skip
    assert r.status_code == 200, r.get_data(as_text=True)
    page = r.get_data(as_text=True)
    assert "URL del webhook entrante" in page and "Cópiela ahora" in page
    assert "Secreto de firma (X-CRM-Signature)" in page
    assert leaks(page) == set()
    listing = web.get("/automation/rules").get_data(as_text=True)
    assert "Se recibe un webhook entrante" in listing and "incoming_webhook" not in listing
    assert leaks(listing) == set()


def test_the_endpoint_answers_in_the_sender_s_language(api, client):
    from urllib.parse import urlsplit

    made = api.post("/api/v1/workflows", json={
        "name": "Form", "entity": "contacts", "actions": [{"type": "add_tags", "tags": ["x"]}],
        "trigger": {"type": "incoming_webhook", "match_field": "email"}}).get_json()  # fmt: skip
    path = urlsplit(made["hook_url"]).path
    r = client.post(path, data="[", content_type="application/json",
                    headers={"Accept-Language": "es"})  # fmt: skip
    assert r.status_code == 400 and "no es JSON válido" in r.get_json()["detail"]
