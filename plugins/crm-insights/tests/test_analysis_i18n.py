"""Every string of the plugin is in its Spanish catalogue, and the compiled catalogue is current."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import crm_insights

PACKAGE = Path(crm_insights.__file__).parent
FOLDER = PACKAGE / "translations" / "es" / "LC_MESSAGES"
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def test_every_string_has_spanish() -> None:
    found = {
        m if isinstance(m, str) else m[0]
        for _f, _l, m, _c, _x in extract_from_dir(str(PACKAGE), METHODS, keywords=KEYWORDS)
    }
    assert {"Customer segments", "Call list", "Win probability"} <= found
    with (FOLDER / "messages.po").open("rb") as fh:
        translated = {m.id for m in read_po(fh, locale="es") if m.id and m.string and not m.fuzzy}
    assert not sorted(found - translated), "run scripts/translations crm-insights"


def test_compiled_catalogue_is_current() -> None:
    with (FOLDER / "messages.po").open("rb") as fh:
        source = {m.id: m.string for m in read_po(fh, locale="es") if m.id}
    with (FOLDER / "messages.mo").open("rb") as fh:
        compiled = {m.id: m.string for m in read_mo(fh) if m.id}
    assert compiled == source
