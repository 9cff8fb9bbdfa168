"""The web application: server-rendered pages for people, beside the REST API.

``init_web(app, crm)`` wires sign-in (Flask-Login), CSRF (Flask-WTF), languages (Flask-Babel),
security headers, HTML error pages and the blueprints: account pages, home and search, and the
generic record pages derived from the entity registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, g, redirect, request, url_for
from flask_login import LoginManager, current_user

from . import assets, security

if TYPE_CHECKING:
    from .session import Account

__all__ = ["Account", "init_web"]


def __getattr__(name: str) -> Any:
    # the pages' modules (and through them the API and every model) load in ``init_web``, not
    # when a module imports one of its neighbours here (``crmcore.web.i18n``, say)
    if name == "Account":
        from .session import Account

        return Account
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def init_web(app: Flask, crm: Any) -> None:
    """Attach the web pages to ``app``; call once, after ``init_api``."""
    from . import (
        account,
        actions,
        admin,
        auth,
        consent,
        display,
        errors,
        i18n,
        importer,
        inbox,
        line_editor,
        pages,
        previews,
        views,
    )
    from .session import load_account

    app.config.update(security.cookie_config(crm.settings.base_url))
    app.before_request(_forget_previous_request)
    security.init_security(app)
    assets.init_assets(app)
    i18n.init_i18n(app, i18n.plugin_translation_dirs(crm))

    login_manager = LoginManager(app)
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_account)
    app.before_request(_signed_in_user)

    crm.error_page = errors.error_page
    shell = Blueprint(
        "web",
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path="/static/web",
    )
    app.register_blueprint(shell)
    app.register_blueprint(auth.make_blueprint(crm))
    app.register_blueprint(consent.make_blueprint())
    app.register_blueprint(pages.make_blueprint())
    app.register_blueprint(importer.make_blueprint())
    app.register_blueprint(account.make_blueprint(crm))
    app.register_blueprint(inbox.make_blueprint())
    app.register_blueprint(admin.make_blueprint())
    app.register_blueprint(line_editor.make_blueprint())
    app.register_blueprint(previews.make_blueprint())
    actions.init_actions(app)
    app.register_blueprint(views.make_blueprint())  # last: its /<plural> routes are catch-alls
    app.context_processor(pages.layout_context)
    app.context_processor(inbox.layout_context)
    app.context_processor(admin.layout_context)
    app.add_template_filter(display.format_value, "show")
    app.add_template_filter(i18n.label, "label")


#: What extensions and pages cache on ``g`` for one request.
_REQUEST_CACHE = (
    "_login_user",
    "crm_user",
    "crm_access",
    "crm_auth_failed",
    "csrf_token",
    "csrf_valid",
    "_flask_babel",
)


def _forget_previous_request() -> None:
    """An app context can outlive one request (tests do that): start each page afresh."""
    g.pop("_flask_babel", None)  # the language is chosen per request, the API's too
    if not security.is_api_path():
        for key in _REQUEST_CACHE:
            g.pop(key, None)


def _signed_in_user() -> Response | None:
    """Load the user of the session for pages, or send visitors to the sign-in page."""
    if security.is_api_path():
        return None
    view = request.endpoint and request.url_rule and _view(request.endpoint)
    if current_user.is_authenticated:
        from ..permissions import Access

        g.crm_user = current_user.user
        g.crm_access = Access.for_user(current_user.user)
        return None
    if view is None or request.endpoint == "web.static" or getattr(view, "crm_public", False):
        return None
    target = request.full_path if request.query_string else request.path
    login = url_for("web_auth.login", next=target if request.method == "GET" else None)
    if request.headers.get("HX-Request"):
        return Response(status=401, headers={"HX-Redirect": login})
    return redirect(login)


def _view(endpoint: str) -> Any:
    from flask import current_app

    return current_app.view_functions.get(endpoint)
