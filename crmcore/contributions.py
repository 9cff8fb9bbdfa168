"""Small value objects that plugins return from their hooks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .users.models import User

ACTIONS = ("read", "create", "update", "delete")
SCOPES = ("own", "team", "all")


@dataclass(frozen=True)
class Permission:
    """A named permission such as ``marketing.send``; the prefix must be the plugin's name."""

    name: str
    title: str


@dataclass(frozen=True)
class RoleGrant:
    """A default grant given to ``role`` when the plugin is enabled.

    ``entity`` with ``actions`` (``{"read": "all", "update": "own"}``) grants record access;
    ``permission`` grants a named permission. Roles that do not exist yet are skipped.
    """

    role: str
    entity: str | None = None
    actions: Mapping[str, str] = field(default_factory=dict)
    permission: str | None = None


@dataclass(frozen=True)
class ExtraField:
    """A field one plugin adds to another plugin's entity, stored with the custom fields.

    ``type`` is one of ``text number date choice boolean``.
    """

    entity: str
    name: str
    label: str
    type: str = "text"
    choices: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class MenuItem:
    """An entry of the main navigation; hidden from users lacking ``permission``.

    ``permission`` is a named permission or ``"<entity>.read"``. ``group`` is the heading the
    entry is listed under (a translatable label); by default the title of the plugin that
    contributes it, and none (the top row) for the core's built-in plugins.
    """

    label: str
    url: str
    permission: str | None = None
    order: int = 100
    icon: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Widget:
    """A dashboard widget. ``render(user, records)`` returns JSON-ready data for its chart.

    ``records`` is the user's record service: query through ``records.query(...)`` so the
    figures stay within the user's permission scope.
    """

    name: str
    title: str
    render: Callable[[User, Any], Mapping[str, Any]]
    permission: str | None = None
    order: int = 100


@dataclass(frozen=True)
class Panel:
    """A panel on the detail page of ``entity`` records (a template slot).

    ``render(record, user, records)`` returns markup with everything users wrote escaped
    (``markupsafe.escape``), or ``None`` to hide the panel for that record. ``records`` is the
    user's record service, so related records stay within their permission scope.

    ``replaces`` names the kernel's related-record lists (``"<plural>.<field>"``, e.g.
    ``"deals.contact_id"``) the panel shows instead: while the panel is shown, the page leaves
    those lists out (so the records are not listed twice) and puts their "Add" link on the panel.
    """

    name: str
    title: str
    entity: str
    render: Callable[[Any, User, Any], str | None]
    permission: str | None = None
    order: int = 100
    replaces: tuple[str, ...] = ()


@dataclass(frozen=True)
class PeriodicJob:
    """A job run on a schedule by the job consumer.

    ``schedule`` is a cron-style mapping for Huey's ``crontab`` (``{"minute": "*/5"}``).
    ``run(app)`` runs inside an application context.
    """

    name: str
    run: Callable[[Any], None]
    schedule: Mapping[str, str] = field(default_factory=lambda: {"minute": "*"})


@dataclass
class DemoContext:
    """What ``crm_demo_data`` gets: a record service acting as the demo admin, and a seeded RNG."""

    records: Any
    random: Any
    users: dict[str, Any] = field(default_factory=dict)
