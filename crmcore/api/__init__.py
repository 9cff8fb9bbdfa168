"""The REST API under ``/api/v1``: built on flask-smorest, derived from the entity registry."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint as FlaskBlueprint
from flask import Flask, Response, abort, after_this_request, g, request, send_from_directory
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_smorest import Api
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from .. import idempotency, notifications
from ..db import is_unavailable, utcnow
from ..errors import CRMError, NotFound, ServiceUnavailable
from ..permissions import Access
from ..plugins import PluginConflictError
from . import (
    account,
    actions,
    attachments,
    data,
    meta,
    openapi,
    problems,
    resources,
    search,
    settings,
)
from .auth import TOKEN_ID_KEY, bearer_token, touch_token
from .bodies import use_json_body_parser
from .list_statements import ListStatements
from .token_cache import TokenCache

API_PREFIX = "/api/v1"
STATIC = Path(__file__).parent / "static"


class ProblemSchema(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    instance = fields.String()
    errors = fields.Dict(metadata={"description": "Messages per field"})


class CRMApi(Api):  # type: ignore[misc]
    """flask-smorest's Api answering errors as problem+json, and documenting its blueprints
    when the OpenAPI document is first read.

    flask-smorest documents a blueprint as it registers it, which cost every process that
    makes the app (each ``crm`` command) about a tenth of its CPU time, for a document most of
    them never serve. A blueprint's routes are registered at once; its documentation, and
    every other step given to :meth:`document`, runs in order on the first read of
    :attr:`spec`.
    """

    #: no catch-all error response: each operation lists its own (``openapi.document_errors``)
    DEFAULT_ERROR_RESPONSE_NAME = None

    def __init__(self, app: Flask, **kwargs: Any) -> None:
        self._spec: Any = None
        self._undocumented: list[Callable[[Any], None]] = []
        self._documenting = threading.RLock()
        self._in_step = False
        super().__init__(app, **kwargs)

    @property
    def spec(self) -> Any:
        """The ``APISpec``, with every step given to :meth:`document` done."""
        if self._undocumented and self._spec is not None:
            with self._documenting:  # another thread waits until every step is done
                if not self._in_step:  # a step that reads the spec gets it as it stands
                    self._in_step = True
                    try:
                        while self._undocumented:
                            self._undocumented[0](self._spec)
                            del self._undocumented[0]  # a step that failed is tried again
                    finally:
                        self._in_step = False
        return self._spec

    @spec.setter
    def spec(self, value: Any) -> None:
        self._spec = value

    def complete(self) -> None:
        """Do every pending step now: a server before it serves (its workers inherit the
        document), ``crm doctor``; two plugins' schemas that would share a name in the
        document raise :class:`crmcore.plugins.PluginConflictError` here."""
        self.spec  # noqa: B018 - reading it does the steps

    def document(self, step: Callable[[Any], None]) -> None:
        """Run ``step(spec)`` when the document is first read, after the steps given before."""
        self._undocumented.append(step)

    def register_blueprint(
        self, blp: ApiBlueprint, *, parameters: list[Any] | None = None, **options: Any
    ) -> None:
        """Register ``blp``'s routes now and its documentation with :meth:`document`."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)

        def step(spec: Any) -> None:
            blp.register_views_in_doc(self, self._app, spec, name=name, parameters=parameters)
            spec.tag({"name": name, "description": blp.description})

        self.document(step)

    def handle_http_exception(self, error: HTTPException) -> Response:
        return _page_error(error) or problems.from_http_exception(error)


def init_api(app: Flask, crm: Any) -> None:
    app.config.update(
        API_TITLE="CRM API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        RATELIMIT_HEADERS_ENABLED=True,
    )
    use_json_body_parser(app)
    def plugin_of(module: str) -> str | None:
        for plugin in crm.plugins:
            package = plugin.module.__name__.rpartition(".")[0] or plugin.module.__name__
            if module == package or module.startswith(package + "."):
                return str(plugin.name)
        return None

    api = CRMApi(
        app,
        spec_kwargs={
            "marshmallow_plugin": MarshmallowPlugin(
                schema_name_resolver=openapi.SchemaNames(crm.registry, plugin_of)
            ),
            "info": {
                "description": "REST API of the CRM. Authenticate with "
                "`Authorization: Bearer <token>` from POST /api/v1/auth/token."
            },
        },
    )
    api.spec.components.schema("Problem", schema=ProblemSchema)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearerAuth": []}]
    converter = api.ma_plugin.converter
    converter.add_attribute_function(openapi.decimal_as_string)
    converter.add_attribute_function(
        openapi.nullable_columns(
            {
                entity.full_schema: {n: c.nullable for n, c in entity.model.__table__.c.items()}
                for entity in crm.registry
            }
        )
    )
    crm.api = api
    crm.token_cache = TokenCache()
    crm.list_statements = ListStatements()
    storage = crm.settings.redis_url or "memory://"
    crm.limiter = Limiter(
        get_remote_address, app=app, storage_uri=storage, key_prefix="crm-limits", default_limits=[]
    )

    app.register_error_handler(CRMError, lambda e: _page_error(e) or problems.from_crm_error(e))
    app.register_error_handler(Exception, _unexpected)
    app.before_request(_authenticate)
    app.before_request(_hide_disabled)
    app.before_request(_idempotent_begin)
    app.after_request(_idempotent_finish)
    app.after_request(_security_headers)

    crm.blueprint_plugins = {}
    prefixes: dict[str, str] = {}

    def register(blp: FlaskBlueprint, plugin: str) -> None:
        prefix = (blp.url_prefix or "").rstrip("/")
        if prefix and prefix != API_PREFIX and prefix in prefixes and prefixes[prefix] != plugin:
            raise PluginConflictError(
                f"plugins {prefixes[prefix]!r} and {plugin!r} both claim the route prefix "
                f"{prefix!r}"
            )
        if blp.name in crm.blueprint_plugins and crm.blueprint_plugins[blp.name] != plugin:
            raise PluginConflictError(
                f"plugins {crm.blueprint_plugins[blp.name]!r} and {plugin!r} both register "
                f"a blueprint called {blp.name!r}"
            )
        prefixes.setdefault(prefix, plugin)
        crm.blueprint_plugins[blp.name] = plugin
        if isinstance(blp, ApiBlueprint):
            api.register_blueprint(blp)
        else:
            app.register_blueprint(blp)

    register(account.make_blueprint(crm.limiter, crm.settings.login_rate_limit), "users")
    register(search.make_blueprint(), "users")
    register(notifications.make_blueprint(), "users")
    register(meta.make_blueprint(), "users")
    register(settings.make_blueprint(), "users")
    register(attachments.make_blueprint(), "activities")
    register(data.make_imports_blueprint(), "users")
    register(data.make_export_blueprint(), "users")
    for entity in crm.registry:
        api.document(
            lambda spec, entity=entity: spec.components.schema(
                openapi.patch_schema_name(_component_name(entity)), schema=entity.update_schema
            )
        )
        blueprint = resources.make_blueprint(crm, entity)
        actions.add_routes(blueprint, crm, entity)
        register(blueprint, entity.plugin)
    for plugin, blp in crm.plugins.collect("crm_blueprints"):
        register(blp, plugin)

    app.view_functions["api-docs.openapi_json"] = account.public(_openapi_json)
    app.add_url_rule(f"{API_PREFIX}/docs", "api_docs_page", account.public(_docs_page))
    app.add_url_rule(
        f"{API_PREFIX}/docs/assets/<path:filename>", "api_docs_assets", account.public(_docs_assets)
    )


def _crm() -> Any:
    from ..app import current_crm

    return current_crm()


def _page_error(error: Exception) -> Response | None:
    """Outside the API, the web UI (when installed) answers errors with an HTML page."""
    render = getattr(_crm(), "error_page", None)
    if render is None or request.path.startswith(API_PREFIX):
        return None
    return render(error)  # type: ignore[no-any-return]


def _unexpected(error: Exception) -> Response:
    if is_unavailable(error):
        _forget_failed_transaction()
        unavailable = ServiceUnavailable()
        page = _page_error(unavailable)
        if page is not None:
            return page
        response = problems.from_crm_error(unavailable)
        response.headers["Retry-After"] = str(unavailable.retry_after)
        return response
    page = _page_error(error)
    if page is not None:
        return page
    if isinstance(error, HTTPException):
        return problems.from_http_exception(error)
    return problems.from_unexpected(error)


def _forget_failed_transaction() -> None:
    try:
        _crm().session.rollback()
    except Exception:  # noqa: S110 - the connection is gone; teardown closes the session
        pass


def _authenticate() -> None:
    """Every API view needs a valid bearer token, unless marked ``public``."""
    if not request.path.startswith(API_PREFIX):
        return
    view = request.endpoint and _crm().app.view_functions.get(request.endpoint)
    token = bearer_token()
    crm = _crm()
    if token and request.method in getattr(getattr(view, "view_class", None), "crm_reads_only", ()):
        read_only_connection(crm)
    found = crm.token_cache.resolve(crm.session, token) if token else None
    if found is not None:
        g.crm_user = found.user
        g.crm_access = Access.for_user(found.user)
        request.environ[TOKEN_ID_KEY] = found.token_id
        if found.needs_touch:
            token_id, secret = found.token_id, token

            @after_this_request
            def touch(response: Any) -> Any:
                if not response.is_streamed and touch_token(crm.session, token_id):
                    crm.token_cache.touched(secret, utcnow())
                return response

        return
    if view is None or getattr(view, "crm_public", False):
        return
    response = problems.problem(
        401,
        "Unauthorized",
        "Send a valid token: Authorization: Bearer <token>.",
        headers={"WWW-Authenticate": 'Bearer realm="crm"'},
    )
    abort(response)


def read_only_connection(crm: Any) -> None:
    """On PostgreSQL, run this request's statements without a transaction: each read is a
    statement of its own, as in a transaction at PostgreSQL's default isolation (read
    committed, a snapshot per statement), without the ``BEGIN`` and ``ROLLBACK`` round trips.
    Only for views that never write (``crm_reads_only``); the pool gives the connection its
    usual mode back when the request ends."""
    session = crm.session
    # not on a session bound to a connection already in a transaction (the test kit's)
    if crm.engine.dialect.name == "postgresql" and session.get_bind() is crm.engine:
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def _idempotent_begin() -> Response | None:
    if not request.path.startswith(API_PREFIX):
        return None
    return idempotency.begin(_crm())


def _idempotent_finish(response: Response) -> Response:
    return idempotency.finish(_crm(), response)


def _hide_disabled() -> Response | None:
    """Routes of disabled plugins answer 404, as if they did not exist."""
    crm = _crm()
    plugin = crm.blueprint_plugins.get(request.blueprint or "")
    if plugin is None:
        plugin_of_path = _plugin_of_entity_path(crm, request.view_args or {})
        if plugin_of_path is None:
            return
        plugin = plugin_of_path
    if plugin not in crm.builtin_names and plugin not in crm.enabled_plugins():
        # links in mail already sent (unsubscribe, open, click) answer even so
        view = request.endpoint and crm.app.view_functions.get(request.endpoint)
        fallback = getattr(view, "crm_when_disabled", None)
        if fallback is not None:
            return fallback(**(request.view_args or {}))  # type: ignore[no-any-return]
        abort(404)


def _plugin_of_entity_path(crm: Any, view_args: dict[str, Any]) -> str | None:
    plural = view_args.get("plural")
    if not plural:
        return None
    try:
        return crm.registry.get(plural).plugin  # type: ignore[no-any-return]
    except KeyError:
        abort(404)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith(API_PREFIX):
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault(
            "Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"
        )
    return response


def _component_name(entity: Any) -> str:
    """The name of an entity's schema in the document."""
    return openapi.entity_component_name(entity)


def _openapi_json() -> Response:
    """The OpenAPI document of what this instance has enabled, custom fields included."""
    crm = _crm()
    spec = copy.deepcopy(crm.api.spec.to_dict())
    enabled = crm.enabled_plugins()
    hidden_tags = {name for name, plugin in crm.blueprint_plugins.items() if plugin not in enabled}
    for path in list(spec.get("paths", {})):
        operations = spec["paths"][path]
        for method in list(operations):
            op = operations[method]
            # a record action that a disabled plugin adds to another plugin's entity
            if isinstance(op, dict) and op.get("x-crm-plugin") not in (None, *enabled):
                del operations[method]
    openapi.truthful(spec, crm.app, hidden_tags)
    schemas = spec.get("components", {}).get("schemas", {})
    for entity in crm.entities():
        if not entity.has_custom_fields:
            continue
        defs = crm.custom_field_defs(crm.session, entity)
        name = _component_name(entity)
        for component, required in (
            (schemas.get(name), [d.name for d in defs if d.required]),
            (schemas.get(openapi.patch_schema_name(name)), []),
        ):
            if not component:
                continue
            custom: dict[str, Any] = {
                "type": "object",
                "additionalProperties": False,
                "properties": {d.name: d.openapi() for d in defs},
            }
            if required:
                custom["required"] = required
            component["properties"]["custom_fields"] = custom
    from ..duplicates.hints import document_hints

    document_hints(spec, list(crm.entities()), _component_name)
    return crm.app.json.response(spec)


def _docs_page() -> Response:
    return send_from_directory(STATIC, "docs.html", mimetype="text/html", max_age=0)


def _docs_assets(filename: str) -> Response:
    if filename == "docs.js":
        return send_from_directory(STATIC, "docs.js")
    import swagger_ui_bundle

    if filename not in (
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
    ):
        raise NotFound("No such file.")  # only the three assets, never a listing
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)
