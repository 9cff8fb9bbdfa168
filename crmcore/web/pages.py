"""The layout's shared data, the home page (dashboard widgets) and global search."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Blueprint, g, render_template, request, send_from_directory
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l

from ..app import current_crm
from ..menu import menu_groups
from . import dashboard
from .i18n import LANGUAGES
from .security import public

log = logging.getLogger(__name__)
#: The menu's groups of the first-party modules (a plugin's title, or its items' ``group``),
#: and the settings page's message for a bad public address, listed for extraction.
RUNTIME_STRINGS = (
    _l("Sales"),
    _l("Marketing"),
    _l("Support"),
    _l("Knowledge base"),
    _l(
        "Not a valid address: http:// or https://, a host, no query (e.g. https://crm.example.com)."
    ),
)
INSTANT_LIMIT = 8
PAGE_LIMIT = 50


def _allowed(permission: str | None) -> bool:
    return permission is None or g.crm_access.has(permission)


def menu() -> list[dict[str, Any]]:
    """The navigation the user may see: the top row (``label`` ``None``), then one group per
    module, each ``{"label", "id", "current", "entries": [{"label", "url", "current"}]}``."""
    if g.get("crm_access") is None:
        return []
    path = request.path
    groups = []
    for group in menu_groups(current_crm(), g.crm_access):
        entries = []
        for entry in group.entries:
            url = entry.url.rstrip("/") or "/"
            current = path == entry.url or path == url or path.startswith(url + "/")
            entries.append({"label": gettext(entry.label), "url": entry.url, "current": current})
        groups.append(
            {
                "label": gettext(group.label) if group.label else None,
                "id": "nav-" + (entries[0]["url"].strip("/").replace("/", "-") or "home"),
                "current": any(e["current"] for e in entries),
                "entries": entries,
            }
        )
    return groups


def layout_context() -> dict[str, Any]:
    """Variables every template gets: navigation, user, languages."""
    try:
        entries = menu()
    except Exception:  # an error page must render even when plugins or the database fail
        log.exception("menu failed")
        entries = []
    return {
        "nav": entries,
        "branding": branding(),
        "user": g.get("crm_user"),
        "languages": LANGUAGES,
        "locale": str(get_locale() or "en"),
    }


def branding() -> dict[str, Any]:
    """The instance's name and whether it has a logo, for the page header."""
    from ..settings import current_settings

    try:
        values = current_settings(current_crm())
    except Exception:  # an error page must render even when the database fails
        current_crm().session.rollback()
        values = {}
    return {
        "name": values.get("company_name") or "CRM",
        "logo": isinstance(values.get("logo_attachment_id"), int),
    }


def table_of(value: Any) -> dict[str, Any]:
    """A widget value as something a template can show: a table, a list or a plain value."""
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        columns = list(dict.fromkeys(k for row in value for k in row))
        return {
            "kind": "table",
            "columns": columns,
            "rows": [[row.get(c) for c in columns] for row in value],
        }
    if isinstance(value, Mapping):
        return {
            "kind": "table",
            "columns": ["", ""],
            "rows": [[k, v] for k, v in value.items()],
            "pairs": True,
        }
    if isinstance(value, list):
        return {"kind": "list", "items": value}
    return {"kind": "value", "value": value}


def widgets() -> list[dict[str, Any]]:
    """Dashboard widgets the user may see, each with its data computed in their scope."""
    crm = current_crm()
    found = [w for _p, w in crm.collect("crm_dashboard_widgets") if _allowed(w.permission)]
    found.sort(key=lambda w: (w.order, w.name))
    out = []
    for widget in found:
        try:
            data = dict(widget.render(g.crm_user, crm.records(g.crm_access)))
        except Exception:
            log.exception("dashboard widget %s failed", widget.name)
            crm.session.rollback()
            out.append({"name": widget.name, "title": widget.title, "error": True, "parts": []})
            continue
        out.append(
            {
                "name": widget.name,
                "title": widget.title,
                "error": False,
                "parts": (parts := dashboard.parts_of(data, table_of)),
                "charts": any(part["kind"] == "chart" for _key, part in parts),
                "controls": dashboard.controls_of(data.get(dashboard.CONTROLS_KEY)),
            }
        )
    return out


def make_blueprint() -> Blueprint:
    bp = Blueprint("web_pages", __name__)

    @bp.route("/")
    def home() -> Any:
        return render_template("web/home.html", widgets=widgets())

    @bp.route("/favicon.ico")
    @public
    def favicon() -> Any:
        folder = Path(__file__).parent / "static"
        return send_from_directory(folder, "favicon.ico", mimetype="image/vnd.microsoft.icon")

    @bp.route("/search")
    def search() -> Any:
        crm = current_crm()
        query = request.args.get("q", "")[:200]
        instant = bool(request.headers.get("HX-Request"))
        entities = crm.entities()
        docs = crm.search.search(
            crm.session, g.crm_access, entities, query, INSTANT_LIMIT if instant else PAGE_LIMIT
        )
        by_name = {e.name: e for e in entities}
        hits = [
            {
                "entity": by_name[d.entity],
                "id": d.record_id,
                "title": d.title,
                "url": f"/{by_name[d.entity].plural}/{d.record_id}",
            }
            for d in docs
        ]
        template = "web/_search_results.html" if instant else "web/search.html"
        return render_template(template, q=query, search_q=query, hits=hits, instant=instant)

    return bp
