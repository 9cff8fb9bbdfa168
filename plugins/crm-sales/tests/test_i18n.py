"""The sales pages speak Spanish too: the catalogue is complete and current."""

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).parents[1]
PO = ROOT / "crm_sales/translations/es/LC_MESSAGES/messages.po"

pytestmark = pytest.mark.crm_plugins("sales")


def test_every_source_message_has_a_spanish_translation(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "pybabel"),
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT / "crm_sales",
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    with PO.open("rb") as f:
        translated = {m.id for m in read_po(f) if m.id and m.string}
    assert wanted - translated == set()


def test_public_form_in_spanish(client):
    page = client.get("/sales/web-to-lead", headers={"Accept-Language": "es"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Enviar" in html and "Apellidos" in html
