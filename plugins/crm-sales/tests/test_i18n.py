"""The sales pages speak Spanish too: the catalogue is complete and current."""

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).parents[1]
PO = ROOT / "crm_sales/translations/es/LC_MESSAGES/messages.po"

pytestmark = pytest.mark.crm_plugins("sales")


@pytest.mark.crm_sqlite_only  # the catalogue, no database
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


@pytest.mark.crm_sqlite_only  # the catalogues, no database
def test_runtime_labels_are_in_the_catalogues():
    """Menu entries, widget and panel titles, entity titles and field labels are translated
    at run time: each must be in the core's or this plugin's catalogue."""
    import crm_sales.plugin as sales

    from crmcore.web.i18n import TRANSLATIONS, humanise

    def strings(path):
        with path.open("rb") as f:
            return {m.id for m in read_po(f) if m.id and m.string}

    known = strings(PO) | strings(TRANSLATIONS / "es/LC_MESSAGES/messages.po")
    wanted = {m.label for m in sales.crm_menu_items()}
    wanted |= {w.title for w in sales.crm_dashboard_widgets()}
    wanted |= {p.title for p in sales.crm_record_panels()}
    wanted |= {f.label for f in sales.crm_entity_fields()}
    for entity in sales.crm_entities():
        wanted |= {entity.title, entity.title_plural}
        wanted |= {humanise(name) for name in entity.full_schema._declared_fields}
        for action in entity.actions:  # the button and the inputs of its dialog
            wanted.add(action.label)
            for name, field in (action.schema._declared_fields if action.schema else {}).items():
                wanted.add(field.metadata.get("label") or humanise(name))
    assert sorted(wanted - known) == []
