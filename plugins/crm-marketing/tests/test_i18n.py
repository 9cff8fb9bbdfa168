"""The marketing plugin speaks Spanish: the catalogue is complete, compiled and current."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import crm_marketing
import pytest
from babel.messages.pofile import read_po

PACKAGE = Path(crm_marketing.__file__).parent
PO = PACKAGE / "translations/es/LC_MESSAGES/messages.po"
KEYWORDS = ("_l", "lazy_gettext", "lazy_pgettext:1c,2")


def _key(message):
    return (message.context, message.id if isinstance(message.id, str) else tuple(message.id))


def extracted(tmp_path: Path) -> set:
    """Every message of the package's code and templates, as the catalogue's keys."""
    pot = tmp_path / "messages.pot"
    command = [str(Path(sys.executable).parent / "pybabel"), "extract", "-F", "../babel.cfg"]
    for keyword in KEYWORDS:
        command += ["-k", keyword]
    subprocess.run([*command, "-o", str(pot), "."], cwd=PACKAGE, check=True, capture_output=True)
    with pot.open("rb") as f:
        return {_key(m) for m in read_po(f) if m.id}


def translated() -> set:
    with PO.open("rb") as f:
        return {
            _key(m)
            for m in read_po(f)
            if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, tuple) else m.string)
        }


@pytest.mark.crm_sqlite_only  # the catalogue, no database
def test_every_message_has_a_spanish_translation(tmp_path):
    wanted = extracted(tmp_path)
    assert len(wanted) > 100, "extraction found too little: the check would be vacuous"
    assert (None, "Send now") in wanted and ("campaign status", "Sent") in wanted
    assert sorted(wanted - translated(), key=str) == []


@pytest.mark.crm_sqlite_only  # the catalogue, no database
def test_the_compiled_catalogue_is_current():
    assert PO.with_suffix(".mo").stat().st_mtime >= PO.stat().st_mtime - 1


def test_pages_in_spanish(web_as, make_user, records, session, make_contact):
    from crm_marketing.models import Recipient

    marketer = make_user("marketer", locale="es")
    segment = records.create("segments", {"name": "Todos", "query": "tags=es"})
    campaign = records.create(
        "campaigns",
        {
            "name": "Primavera",
            "segment_id": segment.id,
            "subject": "Hola",
            "body_html": "<p>Hola</p>",
            "from_email": "news@example.com",
        },
    )
    contact = make_contact()
    session.add(Recipient(campaign_id=campaign.id, contact_id=contact.id, status="sent"))
    session.commit()
    client = web_as(marketer)
    html = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Enviar ahora" in html and "Programar" in html and "Resultados" in html
    assert "Borrador" in html  # the campaign's status, in context
    assert "<dt>Enviados</dt>" in html  # the results' count, in context
    html = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert ">Enviado<" in html  # the message's status, in context
    html = client.get("/").get_data(as_text=True)
    assert "Aperturas y clics de las campañas" in html
    # a flash from the send forms, and a check's message from another module
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    client.post(
        f"/marketing/campaigns/{campaign.id}/schedule",
        data={"csrf_token": token, "at": "2001-01-01T10:00"},
    )
    records.update("campaigns", campaign, {"subject": ""})
    client.post(f"/marketing/campaigns/{campaign.id}/send", data={"csrf_token": token})
    html = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Elige un momento futuro." in html
    assert "Una campaña de correo necesita un asunto." in html
