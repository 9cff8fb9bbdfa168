"""Static files under URLs that name their content (``crmcore.web.assets``): a page's stylesheets
and scripts are cached by the browser for a year and change URL when they change."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, url_for
from test_web import page

from crmcore.web import assets

pytestmark = pytest.mark.crm_sqlite_only  # files and headers, not the database

YEAR = "public, max-age=31536000, immutable"


def _static_urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/[^"]*static[^"]*)"', html)


def test_a_page_names_each_static_file_by_its_content_and_the_browser_keeps_it(
    web: Any, app: Any
) -> None:
    urls = _static_urls(page(web, "/contacts"))
    assert any("/static/web/crm.css?v=" in url for url in urls), urls
    for url in urls:
        path, _, query = url.partition("?v=")
        assert re.fullmatch(r"[0-9a-f]{16}", query), url
        answer = web.get(url.replace("&amp;", "&"))
        assert answer.status_code == 200, url
        assert answer.headers["Cache-Control"] == YEAR, url
        folder = Path(app.blueprints["web"].static_folder)
        if path.startswith("/static/web/"):
            content = (folder / path.removeprefix("/static/web/")).read_bytes()
            assert answer.data == content


@pytest.mark.crm_plugins("support")
def test_a_plugin_blueprint_s_files_are_named_and_kept(web: Any, app: Any) -> None:
    with app.test_request_context():
        url = url_for("support.static", filename="support/triage.js")
    assert "?v=" in url
    assert web.get(url).headers["Cache-Control"] == YEAR  # plugins' files: signed in only


def test_without_the_current_digest_the_browser_asks_again(client: Any) -> None:
    plain = client.get("/static/web/crm.css")
    assert plain.status_code == 200 and "immutable" not in plain.headers.get("Cache-Control", "")
    old = client.get("/static/web/crm.css?v=0123456789abcdef")
    assert old.status_code == 200 and "immutable" not in old.headers.get("Cache-Control", "")
    # a name that leaves the folder is not found, with or without a digest
    assert client.get("/static/web/../../app.py?v=0123456789abcdef").status_code == 404
    assert client.get("/static/web/missing.css?v=0123456789abcdef").status_code == 404


def test_a_changed_file_gets_a_new_url(tmp_path: Path) -> None:
    app = Flask(__name__, static_folder=str(tmp_path), static_url_path="/static")
    assets.init_assets(app)
    probe = tmp_path / "probe.css"
    probe.write_text("a { color: red }")
    client = app.test_client()
    with app.test_request_context():
        first = url_for("static", filename="probe.css")
        assert client.get(first).headers["Cache-Control"] == YEAR
        probe.write_text("a { color: blue; }")
        second = url_for("static", filename="probe.css")
        assert "immutable" not in client.get(first).headers.get("Cache-Control", "")
        assert client.get(second).headers["Cache-Control"] == YEAR
        assert url_for("static", filename="missing.css") == "/static/missing.css"
        assert assets.digest("static", "../probe.css") is None
        (tmp_path / "folder").mkdir()
        assert url_for("static", filename="folder") == "/static/folder"  # no file, no digest
    assert first != second and first.startswith("/static/probe.css?v=")
