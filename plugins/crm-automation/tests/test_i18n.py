"""The automation plugin speaks Spanish: the catalogue is complete and compiled."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import crm_automation

PACKAGE = Path(crm_automation.__file__).parent
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


def test_every_message_has_a_spanish_translation(tmp_path):
    wanted = extracted(tmp_path)
    assert len(wanted) > 100, "extraction found too little: the check would be vacuous"
    assert (None, "Save rule") in wanted and (None, "A record is created") in wanted
    with PO.open("rb") as f:
        done = {
            _key(m)
            for m in read_po(f)
            if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, tuple) else m.string)
        }
    assert sorted(wanted - done, key=str) == []


def test_the_compiled_catalogue_is_current():
    def flat(value):
        return tuple(value) if isinstance(value, list | tuple) else value

    with PO.open("rb") as f:
        source = {flat(m.id): flat(m.string) for m in read_po(f) if m.id}
    with PO.with_suffix(".mo").open("rb") as f:
        compiled = {flat(m.id): flat(m.string) for m in read_mo(f) if m.id}
    assert compiled == source, "messages.mo is stale: run scripts/translations"
