"""The report pages in Spanish: no English message of the plugin's catalogue left on them."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

pytestmark = pytest.mark.crm_plugins("sales", "insights")
CATALOGUE = Path(__file__).parents[1] / "crm_insights/translations/es/LC_MESSAGES/messages.po"


class _Texts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.texts: set[str] = set()
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("aria-label", "title", "placeholder") and value:
                self.texts.add(value.strip())

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.texts.add(data.strip())


def english() -> set[str]:
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    return {m.id for m in catalogue if m.id and m.string and m.string != m.id}


def test_report_pages_are_spanish(
    make_user: Any, web_as: Any, make_deal: Any, records: Any
) -> None:
    make_deal("A", close_date="2026-01-10")
    report = records.create(
        "reports",
        {
            "name": "Por etapa",
            "chart": "bar",
            "pinned": True,
            "definition": {
                "entity": "deals",
                "group_by": ["close_date:month", "stage_id"],
                "measures": ["count", "sum:amount"],
            },
        },
    )
    client = web_as(make_user("admin", locale="es"))
    leaks = {}
    urls = [
        "/insights/reports/new",
        f"/insights/reports/{report.id}",
        f"/insights/reports/{report.id}?view=pivot",
        f"/insights/reports/{report.id}/edit",
        "/insights/reports",
        "/reports",
        f"/reports/{report.id}",
        f"/reports/{report.id}/edit",
        "/reports/new",
        "/",
    ]
    words = english()
    for url in urls:
        response = client.get(url, follow_redirects=True)  # /reports/new goes to the builder
        assert response.status_code == 200, url
        parser = _Texts()
        parser.feed(response.get_data(as_text=True))
        found = {t for t in parser.texts if t in words}
        if found:
            leaks[url] = found
    assert not leaks
    assert "Agrupar por" in client.get("/insights/reports/new").get_data(as_text=True)
    # column headings name the fields in the reader's language, not by their API keys
    page = client.get(f"/insights/reports/{report.id}").get_data(as_text=True)
    assert "Suma (Importe)" in page and "Etapa</th>" in page, page
    assert "close_date" not in page.split("<table", 1)[1].split("</thead>", 1)[0]
