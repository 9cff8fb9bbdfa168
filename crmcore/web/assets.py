"""Static files under URLs that name their content, so that browsers keep them.

``url_for`` of a static endpoint (the app's ``static``, the shell's ``web.static``, a plugin
blueprint's ``<name>.static``) adds ``v``, a digest of the file's bytes. A request carrying the
file's current digest is answered with a year of caching, ``immutable``: a page then takes its
stylesheets and scripts from the browser's cache instead of asking for each again (a page of
the shell was six requests, five of them answered 304; now one). A changed file has a new
digest, so a new URL. A request without ``v``, or with an old one, is answered as before
(``no-cache``: the browser asks again each time).
"""

from __future__ import annotations

import hashlib
import os
from stat import S_ISREG
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.security import safe_join

#: seconds a browser keeps a static file whose URL names its content
ONE_YEAR = 365 * 24 * 3600

#: digests by (path, modification time, size): a file changed in place (a developer's edit
#: under ``crm run --debug``) is read again
_digests: dict[tuple[str, int, int], str] = {}


def init_assets(app: Flask) -> None:
    """Fingerprinted URLs for every static endpoint of ``app``, and their caching."""
    app.url_defaults(_add_digest)
    app.after_request(_cache_named_content)


def is_static(endpoint: str | None) -> bool:
    """Whether ``endpoint`` serves static files (the app's or a blueprint's)."""
    return endpoint is not None and (endpoint == "static" or endpoint.endswith(".static"))


def digest(endpoint: str, filename: str) -> str | None:
    """The digest that names ``filename`` of ``endpoint``'s folder, ``None`` when there is no
    such file."""
    path = _path(endpoint, filename)
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    if not S_ISREG(stat.st_mode):  # a folder
        return None
    key = (path, stat.st_mtime_ns, stat.st_size)
    found = _digests.get(key)
    if found is None:
        with open(path, "rb") as file:
            found = hashlib.sha256(file.read()).hexdigest()[:16]
        _digests[key] = found
    return found


def _path(endpoint: str, filename: str) -> str | None:
    if endpoint == "static":
        folder = current_app.static_folder
    else:
        blueprint = current_app.blueprints.get(endpoint.rpartition(".")[0])
        folder = blueprint.static_folder if blueprint is not None else None
    if not folder:
        return None
    return safe_join(folder, filename)  # None for a name that leaves the folder


def _add_digest(endpoint: str, values: dict[str, Any]) -> None:
    if is_static(endpoint) and "v" not in values and isinstance(values.get("filename"), str):
        found = digest(endpoint, values["filename"])
        if found is not None:
            values["v"] = found


def _cache_named_content(response: Response) -> Response:
    if not is_static(request.endpoint) or response.status_code not in (200, 304):
        return response
    wanted = request.args.get("v")
    filename = (request.view_args or {}).get("filename")
    endpoint = request.endpoint or ""
    if wanted and isinstance(filename, str) and wanted == digest(endpoint, filename):
        response.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
    return response
