"""Administration pages under ``/admin``: users, roles, teams, plugins, custom fields, settings.

Each section needs its own right (see :data:`SECTIONS`); a user without it gets 403. Every
change goes through the signed-in administrator's record service, so the kernel's rules apply
as they do to the API: nobody assigns a role or manages an account with more rights than their
own, roles are validated by ``validate_grants``, and every change is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, g, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ...errors import PermissionDenied
from ...permissions import Access


@dataclass(frozen=True)
class Section:
    """One part of the administration and who may use it."""

    name: str
    title: Any
    endpoint: str
    allowed: Callable[[Access], bool]


SECTIONS = (
    Section(
        "users",
        _l("Users"),
        "web_admin.users",
        lambda a: a.can("users", "create") or a.can("users", "update"),
    ),
    Section("roles", _l("Roles"), "web_admin.roles", lambda a: a.can("roles", "update")),
    Section("teams", _l("Teams"), "web_admin.teams", lambda a: a.can("teams", "update")),
    Section("plugins", _l("Plugins"), "web_admin.plugins", lambda a: a.has("plugins.manage")),
    Section(
        "fields",
        _l("Custom fields"),
        "web_admin.fields",
        lambda a: a.has("settings.manage") and a.can("custom_fields", "create"),
    ),
    Section("settings", _l("Settings"), "web_admin.settings", lambda a: a.has("settings.manage")),
)


#: Words shown from data (actions, field types, default roles and permissions), listed so that
#: extraction finds them for the catalogue.
DATA_WORDS = (
    _l("Read"),
    _l("Text"),
    _l("Number"),
    _l("Date"),
    _l("Choice"),
    _l("Boolean"),
    _l("Administrator"),
    _l("Manager"),
    _l("Sales representative"),
    _l("Support agent"),
    _l("Marketer"),
    _l("Read only"),
    _l("Enable and disable plugins"),
    _l("Give users their roles"),
    _l("Change instance settings and custom fields"),
    _l("Export records to files"),
    _l("Import records from files"),
)


def sections(access: Access | None) -> list[Section]:
    """The sections ``access`` may open (none for visitors)."""
    if access is None or access.user is None:
        return []
    return [s for s in SECTIONS if s.allowed(access)]


def require(name: str) -> None:
    """Refuse the request unless the signed-in user may use section ``name``."""
    section = next(s for s in SECTIONS if s.name == name)
    if not section.allowed(g.crm_access):
        raise PermissionDenied(_("Only administrators may open this page."))


def layout_context() -> dict[str, Any]:
    return {"admin_sections": sections(g.get("crm_access"))}


def make_blueprint() -> Blueprint:
    from . import people, system

    bp = Blueprint("web_admin", __name__, url_prefix="/admin")

    @bp.route("")
    def index() -> Any:
        found = sections(g.crm_access)
        if not found:
            raise PermissionDenied(_("Only administrators may open this page."))
        return render_template("web/admin/index.html")

    people.add_routes(bp)
    system.add_routes(bp)
    return bp
