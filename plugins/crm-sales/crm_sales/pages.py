"""The Forecast page and the Sales settings page (carrier tracking links, web-to-lead snippet).

Both read and write through the signed-in user's record service and settings API, so the
forecast shows only the deals and quotas the user may read, and only holders of
``sales.settings`` change the settings.
"""

from __future__ import annotations

import json
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from crmcore import CRMError, PermissionDenied, current_crm

from .models import Pipeline

PERIODS = ("month", "quarter")


def _records() -> Any:
    return current_crm().records(g.crm_access)


def _choice(name: str, errors: dict[str, list[str]], options: set[int]) -> int | None:
    """The id chosen in filter ``name``, or ``None``; a value not offered is an error."""
    raw = str(request.args.get(name, "")).strip()
    if not raw:
        return None
    if raw.isascii() and raw.isdigit() and int(raw) in options:
        return int(raw)
    errors[name] = [_("Choose one of the list.")]
    return None


def forecast_page() -> Any:
    """``GET /sales/forecast``: filters (period, pipeline, owner, team) and the figures."""
    from crmcore.users.models import Team, User

    from .forecast import forecast

    records = _records()
    session = records.session
    pipelines = list(
        session.scalars(records.query("pipelines").order_by(Pipeline.position, Pipeline.id))
    )
    users = (
        list(session.scalars(records.query("users").order_by(User.name, User.id)))
        if records.access.can("users", "read")
        else [g.crm_user]
    )
    teams = (
        list(session.scalars(records.query("teams").order_by(Team.name)))
        if records.access.can("teams", "read")
        else []
    )
    errors: dict[str, list[str]] = {}
    period = str(request.args.get("period") or "month")
    if period not in PERIODS:
        errors["period"] = [_("Choose a month or a quarter.")]
        period = "month"
    pipeline_id = _choice("pipeline_id", errors, {p.id for p in pipelines})
    owner_id = _choice("owner_id", errors, {u.id for u in users})
    team_id = _choice("team_id", errors, {t.id for t in teams})
    data = forecast(records, period, owner_id, pipeline_id, team_id)
    return render_template(
        "sales/forecast.html",
        data=data,
        errors=errors,
        values=request.args,
        pipelines=pipelines,
        users=users,
        teams=teams,
        can_edit_quotas=records.access.can("quotas", "create"),
    ), (422 if errors else 200)


def _snippet() -> str:
    """The HTML a website pastes to post its contact form here."""
    from crmcore.settings import base_url

    action = base_url().rstrip("/") + url_for("sales_web_to_lead.web_to_lead")
    return render_template("sales/web_to_lead_snippet.html", action=action).strip()


def read_patterns(text: str) -> tuple[dict[str, str], list[str]]:
    """Carrier patterns from the form's JSON object; the messages of what is wrong in it."""
    from .shipments import pattern_error

    text = text.strip()
    if not text:
        return {}, []
    try:
        value = json.loads(text)
    except ValueError:
        return {}, [_("Write a JSON object such as %(example)s.", example=EXAMPLE)]
    if not isinstance(value, dict) or len(value) > 100:
        return {}, [_("Write a JSON object such as %(example)s.", example=EXAMPLE)]
    out: dict[str, str] = {}
    problems = []
    for carrier, pattern in value.items():
        name = str(carrier).strip().lower()[:100]
        if not isinstance(pattern, str):
            problem: str | None = _("Use an http or https address.")
        elif len(pattern) > 500:
            problem = _("At most 500 characters.")
        else:
            problem = pattern_error(pattern)
        if not name or problem is not None:
            problems.append(
                _("%(carrier)s: %(problem)s", carrier=name or "?", problem=problem or "")
            )
        else:
            out[name] = str(pattern)
    return out, problems


EXAMPLE = '{"ups": "https://www.ups.com/track?tracknum={number}"}'


def settings_page() -> Any:
    """``GET``/``POST /sales/settings``: carriers' tracking URLs and the web-to-lead snippet."""
    from crmcore.api.settings import save_settings

    from .shipments import TRACKING_SETTING, tracking_patterns

    if not g.crm_access.has("sales.settings"):
        raise PermissionDenied(_("Only managers may change the sales settings."))
    errors: dict[str, list[str]] = {}
    text = json.dumps(tracking_patterns(), indent=2, ensure_ascii=False)
    if request.method == "POST":
        text = str(request.form.get("tracking_urls", ""))[:20000]
        patterns, problems = read_patterns(text)
        if problems:
            errors["tracking_urls"] = problems
        else:
            session = current_crm().session
            try:
                save_settings(session, {TRACKING_SETTING: patterns}, g.crm_user.id)
            except CRMError as error:
                errors["tracking_urls"] = [str(error.detail or error.title)]
            else:
                flash(_("The sales settings are saved."), "success")
                return redirect(url_for("sales.settings"), 303)
    return render_template(
        "sales/settings.html",
        tracking_urls=text,
        errors=errors,
        snippet=_snippet(),
        example=EXAMPLE,
    ), (422 if errors else 200)
