"""The application factory and ``CRM``, the per-app state kept in ``app.extensions["crm"]``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, g, has_app_context
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from . import models as _core_tables  # noqa: F401  (the shared metadata needs them all)
from .actions import collect_actions
from .config import Settings, load_settings
from .contributions import ExtraField, Permission
from .customfields import CustomField, FieldDef, definitions
from .db import create_engine_for, is_unavailable, sqlite_write_intent
from .parsing import IdConverter
from .permissions import CORE_PERMISSIONS, Access
from .plugin_state import enabled_names
from .plugins import PluginConflictError, PluginSet
from .records import RecordService
from .registry import Entity, Registry
from .search import SearchIndex
from .session_cookie import SessionCookies

if TYPE_CHECKING:
    from .jobs import Jobs

log = logging.getLogger(__name__)


class CRM:
    """Everything one app knows: settings, plugins, registry, database. Never a module global."""

    def __init__(self, app: Flask, settings: Settings, plugins: PluginSet) -> None:
        self.app = app
        self.settings = settings
        self.plugins = plugins
        self.engine = create_engine_for(settings.database_url)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.search = SearchIndex(self.engine.dialect.name)
        self.registry = Registry()
        self.permissions: dict[str, tuple[str, Permission]] = {}
        self.extra_fields: list[tuple[str, ExtraField]] = []
        self._collect_registrations()
        self.actions = collect_actions(self.registry, self.plugins.collect("crm_record_actions"))

    # start-up ---------------------------------------------------------------------------------

    def _collect_registrations(self) -> None:
        for plugin_name, entity in self.plugins.collect("crm_entities"):
            prefix = self.plugins.get(plugin_name).table_prefix
            if not entity.table.startswith(prefix):
                raise PluginConflictError(
                    f"plugin {plugin_name!r}: table {entity.table!r} must start with {prefix!r}"
                )
            self.registry.add(entity, plugin_name)
        for permission in CORE_PERMISSIONS:
            self.permissions[permission.name] = ("core", permission)
        for plugin_name, permission in self.plugins.collect("crm_permissions"):
            if permission.name in self.permissions:
                other = self.permissions[permission.name][0]
                raise PluginConflictError(
                    f"plugins {other!r} and {plugin_name!r} both declare the permission "
                    f"{permission.name!r}"
                )
            builtin = self.plugins.get(plugin_name).meta.builtin
            if not builtin and not permission.name.startswith(f"{plugin_name}."):
                raise PluginConflictError(
                    f"plugin {plugin_name!r}: permission {permission.name!r} must start with "
                    f"{plugin_name + '.'!r}"
                )
            self.permissions[permission.name] = (plugin_name, permission)
        claimed: dict[tuple[str, str], str] = {}
        for plugin_name, extra in self.plugins.collect("crm_entity_fields"):
            try:
                key = (self.registry.get(extra.entity).plural, extra.name)
            except KeyError:
                key = (extra.entity, extra.name)
            if key in claimed:
                raise PluginConflictError(
                    f"plugins {claimed[key]!r} and {plugin_name!r} both add the field "
                    f"{extra.name!r} to {key[0]!r}"
                )
            claimed[key] = plugin_name
            self.extra_fields.append((plugin_name, extra))

    # plugins ----------------------------------------------------------------------------------

    @cached_property
    def builtin_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.plugins if p.meta.builtin)

    def enabled_plugins(self) -> frozenset[str]:
        """Names of enabled plugins, read from the database once per request or CLI command."""
        cache = g if has_app_context() else None
        if cache is not None and "_crm_enabled" in cache:
            return cache._crm_enabled  # type: ignore[no-any-return]
        try:
            names = enabled_names(self.session)
        except Exception as exc:  # before the first migration there is no table yet
            self.session.rollback()
            if is_unavailable(exc):
                raise  # the database is down or busy: 503, never routes hidden as 404
            names = set()
        result = frozenset((names & set(self.plugins.plugins)) | self.builtin_names)
        if cache is not None:
            cache._crm_enabled = result
        return result

    def forget_enabled(self) -> None:
        """Forget this request's cached set of enabled plugins (after enabling or disabling)."""
        g.pop("_crm_enabled", None)

    @cached_property
    def jobs(self) -> Jobs:
        """The job queue of this app (Huey), created on first use."""
        from .jobs import Jobs

        return Jobs(self.app)

    def hook(self, name: str) -> Any:
        """The caller of an event hook, skipping disabled plugins."""
        enabled = self.enabled_plugins()
        return self.plugins.hook(name, [p for p in self.plugins.plugins if p not in enabled])

    def collect(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Contributions of enabled plugins to a registration hook, attributed to each."""
        return self.plugins.collect(hook, enabled=self.enabled_plugins(), **kwargs)

    def entities(self) -> list[Entity]:
        """Entities of enabled plugins."""
        return self.registry.of_plugins(self.enabled_plugins())

    # database ---------------------------------------------------------------------------------

    @property
    def session(self) -> Session:
        """The session of the current application context (request, CLI command or job)."""
        session = g.get("_crm_session")
        if session is None:
            session = g._crm_session = self.sessionmaker()
        return session  # type: ignore[no-any-return]

    def close_session(self, _exc: BaseException | None = None) -> None:
        """Close the session of the current application context (done at its end)."""
        session = g.pop("_crm_session", None)
        if session is not None:
            try:
                session.close()
            except DBAPIError:
                # the server dropped the connection (a restart) after the answer was made:
                # discard the connection rather than turn that answer into a 500
                session.invalidate()

    def records(
        self, access: Access | None = None, session: Session | None = None
    ) -> RecordService:
        """The record service acting with ``access`` (the system when omitted)."""
        return RecordService(self, session or self.session, access or Access.system())

    def custom_field_defs(self, session: Session, entity: Entity) -> list[FieldDef]:
        """The custom fields of ``entity``: the instance's own and enabled plugins' extra
        fields."""
        enabled = self.enabled_plugins()
        # read once per transaction: a batch of updates (an import, a nightly job) would
        # otherwise query the definitions for every record
        cache = session.info.setdefault(CUSTOM_DEFS_CACHE, {})
        if any(isinstance(o, CustomField) for o in session.new):
            cache.clear()  # a definition waits to be flushed: the query's autoflush will see it
        key = (entity.plural, enabled)
        if key not in cache:
            extra = [
                FieldDef(f.name, f.label, f.type, tuple(f.choices), f.required, plugin)
                for plugin, f in self.extra_fields
                if f.entity in (entity.name, entity.plural) and plugin in enabled
            ]
            cache[key] = definitions(session, entity.plural, extra)
        return list(cache[key])


#: ``session.info`` key of the custom field definitions read in the current transaction
CUSTOM_DEFS_CACHE = "crm_custom_field_defs"


@event.listens_for(Session, "after_transaction_end")
def _forget_custom_defs(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost one (a flush is a sub-transaction)
        session.info.pop(CUSTOM_DEFS_CACHE, None)


@event.listens_for(Session, "before_flush")
def _forget_changed_custom_defs(session: Session, _context: Any, _instances: Any) -> None:
    if any(isinstance(o, CustomField) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info.pop(CUSTOM_DEFS_CACHE, None)


def _read_only_requests_defer_locks() -> None:
    # SQLite: writing requests take the write lock when their transaction begins, so two
    # writers queue instead of failing; reading requests never take it. Set on every request:
    # a server thread keeps its context from one request to the next.
    from flask import request

    sqlite_write_intent.set(request.method not in ("GET", "HEAD", "OPTIONS"))


def _writes_by_default(_exc: BaseException | None = None) -> None:
    sqlite_write_intent.set(True)  # what follows on this thread outside a request may write


def current_crm() -> CRM:
    """The ``CRM`` of the current app."""
    return current_app.extensions["crm"]  # type: ignore[no-any-return]


def create_app(
    instance_path: str | Path | None = None,
    *,
    config: dict[str, Any] | None = None,
    plugins: Iterable[str | ModuleType] | None = None,
    discover: bool = True,
) -> Flask:
    """Create a CRM application.

    :param instance_path: the instance folder (default ``$CRM_INSTANCE_PATH`` or ``./instance``).
    :param config: settings overriding environment and ``crm.toml`` (``database_url`` ...).
    :param plugins: extra plugin modules (or module names) to load besides installed ones.
    :param discover: load installed plugins from the ``crmcore.plugins`` entry points.
    """
    settings = load_settings(instance_path, config)
    app = Flask("crmcore", instance_path=str(settings.instance_path), instance_relative_config=True)
    app.config.update(
        SECRET_KEY=settings.secret_key or None,
        MAX_CONTENT_LENGTH=settings.max_upload_mb * 1024 * 1024,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the schemas' field order
    app.session_interface = SessionCookies()
    app.url_map.converters["int"] = IdConverter  # ids the database can hold, ASCII digits only
    plugin_set = PluginSet.build(extra=plugins or (), discover_installed=discover)
    for bad in plugin_set.unavailable:
        log.error("plugin %s is unavailable: %s", bad.name, bad.error)
    crm = CRM(app, settings, plugin_set)
    app.extensions["crm"] = crm
    if settings.proxy_hops > 0:
        # the client address and scheme as the proxies saw them (rate limits, Secure cookies);
        # X-Forwarded-Host is never trusted: links are built from CRM_BASE_URL
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops, x_host=0
        )
    app.teardown_appcontext(crm.close_session)
    app.before_request(_read_only_requests_defer_locks)
    app.teardown_request(_writes_by_default)

    from .api import init_api

    init_api(app, crm)
    from .web import init_web

    init_web(app, crm)
    return app
