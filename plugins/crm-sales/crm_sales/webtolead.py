"""The public web-to-lead form: ``GET``/``POST /sales/web-to-lead``.

A company website posts its contact form here, so this one endpoint is public and exempt from
CSRF (the visitor has no session to abuse). Spam protection instead:

* a honeypot field ``homepage``, hidden from people by CSS: a post that fills it is answered
  like a success and stored nowhere;
* a rate limit per client address (Flask-Limiter, ``[sales] web_to_lead_rate`` in crm.toml,
  default ``5 per minute;50 per day``).

New leads get ``source = "web"``, status ``new`` and, when ``[sales] web_to_lead_owner`` names a
user's e-mail, that owner.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask.blueprints import BlueprintSetupState
from sqlalchemy import func, select

from crmcore import ValidationError, current_crm
from crmcore.web.security import csrf_exempt, public

DEFAULT_RATE = "5 per minute;50 per day"
FIELDS = ("first_name", "last_name", "email", "phone", "company_name", "description")
HONEYPOT = "homepage"


def _sales_settings(crm: Any) -> dict[str, Any]:
    value = crm.settings.extra.get("sales") or {}
    return value if isinstance(value, dict) else {}


def _owner_id(crm: Any) -> int | None:
    email = _sales_settings(crm).get("web_to_lead_owner")
    if not email:
        return None
    model = crm.registry.get("users").model
    return crm.session.scalar(
        select(model.id).where(func.lower(model.email) == str(email).lower(), model.active)
    )


def _limit(state: BlueprintSetupState) -> None:
    crm = state.app.extensions["crm"]
    rate = str(_sales_settings(crm).get("web_to_lead_rate") or DEFAULT_RATE)
    crm.limiter.limit(rate, methods=["POST"])(state.blueprint)


def make_blueprint() -> Blueprint:
    """The ``sales_web_to_lead`` blueprint (public, CSRF-exempt, rate-limited)."""
    bp = Blueprint("sales_web_to_lead", __name__, url_prefix="/sales")
    bp.record_once(_limit)

    @bp.route("/web-to-lead", methods=["GET", "POST"])
    @public
    @csrf_exempt
    def web_to_lead() -> Any:
        values = {name: str(request.form.get(name, ""))[:2000].strip() for name in FIELDS}
        if request.method == "GET":
            return render_template("sales/web_to_lead.html", values={}, errors={})
        if request.form.get(HONEYPOT):
            return render_template("sales/web_to_lead_thanks.html")
        crm = current_crm()
        data: dict[str, Any] = {k: v for k, v in values.items() if v}
        data["source"] = "web"
        errors: dict[str, Any] = {}
        if not values["email"]:
            errors["email"] = ["Give your e-mail address."]
        else:
            owner = _owner_id(crm)
            if owner is not None:
                data["owner_id"] = owner
            try:
                crm.records().create("leads", data)
            except ValidationError as error:
                errors = error.messages
        if errors:
            return render_template("sales/web_to_lead.html", values=values, errors=errors), 422
        return render_template("sales/web_to_lead_thanks.html")

    return bp
