"""Every string of the web UI is translated, and the compiled catalogues are current."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

# layout, translations, docs and the scaffold do not depend on the database engine: run once
pytestmark = pytest.mark.crm_sqlite_only

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "crmcore" / "web" / "translations"
LANGUAGES = ["es"]
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "_l": None,
    "lazy_gettext": None,
    "pgettext": ((1, "c"), 2),
    "_lp": ((1, "c"), 2),
}


def extracted() -> set[str]:
    """Message ids in the source today, found as ``scripts/translations`` finds them."""
    ids = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT / "crmcore"), METHODS, keywords=KEYWORDS
    ):
        ids.add(message if isinstance(message, str) else message[0])
    assert {"Sign in", "Save", "Contacts"} <= ids, "extraction found nothing: check METHODS"
    return ids


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_string_is_translated(lang):
    po_path = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as fh:
        catalogue = read_po(fh, locale=lang)
    translated = {m.id for m in catalogue if m.id and m.string and not m.fuzzy}
    missing = sorted(extracted() - translated)
    assert not missing, f"untranslated in {lang} (run scripts/translations): {missing}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compiled_catalogue_is_current(lang):
    folder = TRANSLATIONS / lang / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as fh:
        source = {m.id: m.string for m in read_po(fh, locale=lang) if m.id}
    with (folder / "messages.mo").open("rb") as fh:
        compiled = {m.id: m.string for m in read_mo(fh) if m.id}
    assert compiled == source, "messages.mo is stale: run scripts/translations"


def test_pages_are_spanish_for_a_spanish_user(app, make_user):
    from test_web import page, sign_in

    user = make_user("admin", locale="es")
    client = app.test_client()
    sign_in(client, user)
    html = page(client, "/contacts/new")
    for text in ("Nuevo: contacto", "Nombre", "Apellidos", "Guardar", "Cerrar sesión"):
        assert text in html
    for english in (">Save<", ">Sign out<", ">First name<"):
        assert english not in html
