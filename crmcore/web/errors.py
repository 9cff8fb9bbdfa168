"""Error pages: what pages answer instead of the API's problem+json."""

from __future__ import annotations

import logging

from flask import Response, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from ..errors import CRMError

log = logging.getLogger(__name__)

_TITLES = {
    400: _l("Bad request"),
    401: _l("Please sign in"),
    403: _l("Not allowed"),
    404: _l("Page not found"),
    405: _l("Method not allowed"),
    409: _l("Conflict"),
    412: _l("Changed meanwhile"),
    413: _l("Too large"),
    422: _l("Check the form"),
    429: _l("Too many attempts"),
    500: _l("Something went wrong"),
}


def error_page(error: Exception) -> Response:
    """An HTML page for ``error``, with the status code it deserves."""
    if isinstance(error, CRMError):
        status, detail = error.status, error.translated()
    elif isinstance(error, HTTPException):
        status, detail = error.code or 500, error.description or ""
    else:
        log.exception("unhandled error on %s %s", request.method, request.path)
        _rollback()
        status, detail = 500, ""
    if status == 429:
        detail = _("Too many attempts. Wait a minute and try again.")
    elif status == 400 and "CSRF" in detail:
        detail = _("The form expired or was sent from elsewhere. Reload the page and try again.")
    elif status >= 500:
        detail = _("Something went wrong on our side. Please try again.")
    title = str(_TITLES.get(status) or _("Error"))
    try:
        html = render_template("web/error.html", status=status, title=title, detail=detail)
    except Exception:  # the layout itself failed (database down...): a bare page still answers
        log.exception("error page failed")
        _rollback()
        html = f"<!doctype html><title>{status}</title><h1>{status}</h1>"
    response = Response(html, status=status, mimetype="text/html")
    if isinstance(error, HTTPException) and error.code == 405 and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _rollback() -> None:
    from ..app import current_crm

    try:
        current_crm().session.rollback()
    except Exception:  # noqa: S110 - nothing more can be done on the way out
        pass
