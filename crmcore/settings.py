"""Instance settings kept in the database (company name, currency, time zone, working hours...)
and saved list views per user.

Code that needs one instance default reads it through the small accessors below -
:func:`default_currency`, :func:`default_country`, :func:`phone_region`, :func:`language`,
:func:`time_zone` and :func:`base_url` - which work in a request, a CLI command or a job alike.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import AwareDateTime, Base, JSONType, utcnow

#: Defaults of every instance setting; stored values override them key by key.
DEFAULTS: dict[str, Any] = {
    "company_name": "",
    "logo_attachment_id": None,
    "default_currency": "EUR",
    "default_country": "",
    "phone_region": "",
    "language": "",
    "time_zone": "UTC",
    "base_url": "",
    "working_hours": {day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": [],
    "require_totp_for_admins": False,
    "webhook_allowed_hosts": [],
    #: days a record stays in the trash before it is deleted for good (0: kept until emptied)
    "trash_retention_days": 30,
}


class Setting(Base):
    __tablename__ = "core_setting"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow, onupdate=utcnow)


def get_settings(session: Session) -> dict[str, Any]:
    """Every setting: the stored value, or the default."""
    stored = {row.key: row.value for row in session.scalars(select(Setting))}
    return {**DEFAULTS, **stored}


# accessors --------------------------------------------------------------------------------------

#: How long a process trusts its copy of the settings: other nodes may change them meanwhile,
#: and an import must not read the table once per row.
CACHE_SECONDS = 5.0
#: What ``crm serve`` binds to when told nothing (its ``--host`` and ``--port`` defaults).
SERVE_DEFAULT_URL = "http://127.0.0.1:5000"
#: The file in the instance folder where ``crm serve`` notes the address it listens on, so
#: that a ``crm worker`` of the same instance builds the same links.
LISTEN_FILE = "listen_url"


def _crm(crm: Any = None) -> Any:
    if crm is not None:
        return crm
    from flask import current_app, has_app_context

    return current_app.extensions.get("crm") if has_app_context() else None


def current_settings(crm: Any = None) -> dict[str, Any]:
    """The instance settings of ``crm`` (default: the current app's).

    Kept for a few seconds in the application context (a request, a job, a CLI command), so an
    import reads the table once, not once per row. Outside an app (or before the first
    migration) the defaults.
    """
    from flask import g, has_app_context

    crm = _crm(crm)
    if crm is None or not has_app_context():
        return dict(DEFAULTS)
    cached = g.get("_crm_settings")
    now = time.monotonic()
    if cached is not None and cached[0] is crm and now - cached[1] < CACHE_SECONDS:
        return dict(cached[2])
    try:
        values = get_settings(crm.session)
    except Exception:  # no table yet (before ``crm init``): the defaults
        crm.session.rollback()
        return dict(DEFAULTS)
    g._crm_settings = (crm, now, values)
    return dict(values)


def forget_settings() -> None:
    """Drop the copy kept in this application context (after a change)."""
    from flask import g, has_app_context

    if has_app_context():
        g.pop("_crm_settings", None)


def default_currency(crm: Any = None) -> str:
    """The instance's default currency, an ISO 4217 code such as ``EUR``."""
    return str(current_settings(crm).get("default_currency") or DEFAULTS["default_currency"])


def default_country(crm: Any = None) -> str:
    """The instance's default country (ISO 3166-1 alpha-2, e.g. ``ES``), or ``""`` if unset."""
    return str(current_settings(crm).get("default_country") or "")


def phone_region(crm: Any = None) -> str:
    """The region numbers written without ``+`` are read in.

    ``CRM_DEFAULT_REGION`` (or ``default_region`` in crm.toml) when set, else the
    ``phone_region`` setting, else the default country, else ``US``.
    """
    crm = _crm(crm)
    configured = getattr(getattr(crm, "settings", None), "default_region", None)
    if configured:
        return str(configured).upper()
    values = current_settings(crm)
    return str(values.get("phone_region") or values.get("default_country") or "US").upper()


def language(crm: Any = None) -> str:
    """The instance's default language (``en``, ``es``), or ``""`` to follow the browser."""
    return str(current_settings(crm).get("language") or "")


def time_zone(crm: Any = None) -> str:
    """The instance's time zone (IANA name, e.g. ``Europe/Madrid``)."""
    return str(current_settings(crm).get("time_zone") or "UTC")


def base_url(crm: Any = None) -> str:
    """The public address links in mail and documents start with, without a trailing ``/``.

    ``CRM_BASE_URL`` (or ``base_url`` in crm.toml) when set, else the ``base_url`` setting,
    else the address ``crm serve`` listens on (noted in the instance folder when it starts),
    else ``crm serve``'s default address. Never the request's ``Host`` header.
    """
    crm = _crm(crm)
    config = getattr(crm, "settings", None)
    configured = getattr(config, "base_url", "")
    if configured:
        return str(configured).rstrip("/")
    stored = current_settings(crm).get("base_url")
    if stored:
        return str(stored).rstrip("/")
    listening = getattr(crm, "listen_url", None) or read_listen_url(config)
    return (listening or SERVE_DEFAULT_URL).rstrip("/")


def listen_url_of(host: str, port: int) -> str:
    """The address a server bound to ``host``:``port`` is reached at (a wildcard host becomes
    this machine's name)."""
    import socket

    if host in ("", "0.0.0.0", "::", "[::]"):  # noqa: S104  (reading a bind address)
        host = socket.getfqdn() or "localhost"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def note_listen_url(crm: Any, url: str) -> None:
    """Remember ``url`` as the address ``crm serve`` listens on, in this process and in the
    instance folder (for ``crm worker`` processes of the same instance)."""
    crm.listen_url = url
    folder = Path(crm.settings.instance_path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / LISTEN_FILE).write_text(url + "\n", encoding="utf-8")
    except OSError:  # a read-only instance folder: the in-process value still serves
        pass


def read_listen_url(config: Any) -> str | None:
    """The address noted by the last ``crm serve`` of this instance, if any."""
    folder = getattr(config, "instance_path", None)
    if folder is None:
        return None
    try:
        text = (Path(folder) / LISTEN_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text if text.startswith(("http://", "https://")) else None


class SavedView(Base):
    """A named list view of one entity for one user: the list's query string and columns."""

    __tablename__ = "core_saved_view"
    __table_args__ = (UniqueConstraint("user_id", "entity", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    entity: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(Text, default="")
    columns: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)


class PasswordReset(Base):
    """A single-use password-reset token; only its SHA-256 is stored."""

    __tablename__ = "core_password_reset"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(AwareDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
