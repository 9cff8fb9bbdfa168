"""The text a row's fingerprint hashes stays ``json.dumps``'s, character for character: a
file imported by an earlier version must be recognised row for row."""

from __future__ import annotations

import json
import random

import pytest

from crmcore.importing.converting import canonical_text

pytestmark = pytest.mark.crm_sqlite_only  # no database involved

#: characters JSON escapes or that differ between encoders: quotes, backslashes, controls,
#: non-ASCII letters, a lone surrogate, line and paragraph separators, an emoji
ALPHABET = ['"', "\\", "/", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "a", "Z", " ", "é", "ñ",
            "\u2028", "\u2029", "\ud800", "😀", "{", "}", ":", ",", "[", "1"]  # fmt: skip


def former(entity: str, cells: dict[str, str]) -> str:
    return json.dumps([entity, cells], sort_keys=True, ensure_ascii=False)


def test_canonical_text_is_json_dumps_on_a_generated_corpus() -> None:
    rnd = random.Random(8)
    for _ in range(5000):
        cells = {
            "".join(rnd.choices(ALPHABET, k=rnd.randint(0, 6))): "".join(
                rnd.choices(ALPHABET, k=rnd.randint(0, 12))
            )
            for _ in range(rnd.randint(0, 8))
        }
        entity = rnd.choice(["contact", "company", 'we"ird'])
        assert canonical_text(entity, cells) == former(entity, cells), cells


def test_canonical_text_of_no_cells_and_of_ordered_keys() -> None:
    assert canonical_text("contact", {}) == former("contact", {}) == '["contact", {}]'
    cells = {"b": "2", "a": "1", "custom_fields.level": "gold", "B": "3"}
    assert canonical_text("contact", cells) == former("contact", cells)
