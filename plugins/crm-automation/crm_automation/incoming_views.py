"""The public endpoint of incoming webhooks: ``POST /automation/hooks/<token>``.

It is the one automation endpoint exempt from CSRF and reachable without signing in: the
sender (a web form's back end, another service) has no session, and the secret token in the
URL is what authorises it. Answers are JSON; errors are ``application/problem+json``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from crmcore import current_crm
from crmcore.api.problems import problem
from crmcore.web.security import csrf_exempt, public
from flask import Blueprint, Response, jsonify, request
from flask_babel import gettext as _
from limits import parse

from . import incoming

_TITLES = {
    400: "Bad request",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
}


def _problem(status: int, detail: str, errors: Any = None, **headers: str) -> Response:
    return problem(status, _TITLES.get(status, "Error"), detail, errors,
                   headers={k.replace("_", "-"): v for k, v in headers.items()})  # fmt: skip


def _json_type(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _rate_limited(digest: str) -> int | None:
    """Seconds until the token may be used again, or ``None`` while under its rate."""
    crm: Any = current_crm()
    limiter = crm.limiter.limiter
    rate = parse(incoming.RATE)
    if limiter.hit(rate, "automation", "hook", digest):
        return None
    reset, _left = limiter.get_window_stats(rate, "automation", "hook", digest)
    return max(1, int(reset - time.time()) + 1)


def make_blueprint() -> Blueprint:
    """The ``automation_hooks`` blueprint (public, CSRF-exempt, rate-limited per token)."""
    bp = Blueprint("automation_hooks", __name__, url_prefix=incoming.PREFIX)

    @bp.route("/<token>", methods=["POST"])
    @public
    @csrf_exempt
    def receive(token: str) -> Any:
        crm = current_crm()
        gone = _("No such webhook URL.")
        if not token or len(token) > 200:
            return _problem(404, gone)
        retry = _rate_limited(incoming.token_hash(token))
        if retry is not None:
            return _problem(429, _("Too many requests to this URL; retry later."),
                            Retry_After=str(retry))  # fmt: skip
        rule = incoming.find_rule(crm.session, token)
        if rule is None:
            return _problem(404, gone)
        if not rule.active:
            return _problem(409, _("The rule of this URL is inactive."))
        if not _json_type(request.mimetype):
            return _problem(415, _("Send the body as JSON (Content-Type: application/json)."))
        if (request.content_length or 0) > incoming.MAX_BODY:
            return _problem(413, _("The body is larger than %(size)s bytes.",
                                   size=incoming.MAX_BODY))  # fmt: skip
        raw = request.stream.read(incoming.MAX_BODY + 1)
        if len(raw) > incoming.MAX_BODY:
            return _problem(413, _("The body is larger than %(size)s bytes.",
                                   size=incoming.MAX_BODY))  # fmt: skip
        try:
            payload = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return _problem(400, _("The body is not valid JSON: %(error)s", error=str(exc)))
        if not isinstance(payload, dict):
            return _problem(400, _("The body must be a JSON object."))
        key = next((request.headers[h] for h in incoming.KEY_HEADERS if request.headers.get(h)),
                   None)  # fmt: skip
        if key is not None and len(key) > incoming.MAX_KEY:
            return _problem(400, _("The %(header)s header is longer than %(size)s characters.",
                                   header="Idempotency-Key", size=incoming.MAX_KEY))  # fmt: skip
        outcome = incoming.receive(crm, rule, payload, key)
        if outcome.problem:
            return _problem(outcome.status, _(outcome.problem), outcome.errors)
        return jsonify(outcome.body), outcome.status

    return bp
