"""The probability panels (win on deals, conversion on leads, purchase propensity and churn
risk on contacts), the model page and its window settings."""

from __future__ import annotations

from typing import Any

from crmcore import Panel, PermissionDenied, current_crm
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import format_percent, gettext
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from . import churn, customer_model, propensity
from .customer_model import CustomerSpec
from .predict import (
    DEAL,
    LEAD,
    MIN_PER_CLASS,
    SPECS,
    Score,
    Spec,
    current,
    predict,
    sales_enabled,
)

FEATURE_LABELS = {
    "amount_log": _l("Amount"),
    "calls": _l("Calls logged"),
    "meetings": _l("Meetings logged"),
    "emails": _l("E-mails logged"),
    "notes": _l("Notes"),
    "has_contact": _l("Has a contact"),
    "has_company": _l("Has a company"),
    "has_email": _l("Has an e-mail"),
    "has_phone": _l("Has a phone"),
    "has_company_name": _l("Has a company name"),
    "has_website": _l("Has a website"),
    "has_title": _l("Has a job title"),
    "orders_log": _l("Orders so far"),
    "recent_orders": _l("Orders in the last window"),
    "days_since_last_log": _l("Days since the last order"),
    "days_since_first_log": _l("Days since the first order"),
    "spent_log": _l("Money spent"),
    "order_trend": _l("Orders in the last window against the one before"),
    "repeat_customer": _l("Ordered on more than one day"),
    "overdue_log": _l("Time since the last order against the usual interval"),
}
MODEL_TITLES = {
    DEAL.name: _l("Deal win probability"),
    LEAD.name: _l("Lead conversion probability"),
    propensity.NAME: _l("Purchase propensity"),
    churn.NAME: _l("Churn risk"),
}
#: the customer models, in the order of the model page
CUSTOMER_SPECS = {spec.name: spec for spec in (propensity.SPEC, churn.SPEC)}
#: per customer model: the label of its window on the model page and its form
WINDOW_LABELS = {propensity.NAME: _l("Purchase window"), churn.NAME: _l("Churn window")}
BAD_WINDOW = "Enter a whole number of days from 7 to 730."


def too_little(model: Any) -> str:
    """The message of a model trained on too few examples."""
    if model.name == propensity.NAME:
        text = gettext(
            "Too little data to predict: %(won)s customers ordered and %(lost)s did not in the "
            "%(days)s days after their earlier orders; at least %(min)s of each are needed.",
            won=model.positives,
            lost=model.negatives,
            days=(model.params or {}).get("window_days", propensity.DEFAULT_WINDOW),
            min=MIN_PER_CLASS,
        )
    elif model.name == churn.NAME:
        text = gettext(
            "Too little data to predict: %(lost)s customers bought nothing and %(kept)s ordered "
            "again in the %(days)s days after their earlier orders; at least %(min)s of each are "
            "needed.",
            lost=model.positives,
            kept=model.negatives,
            days=(model.params or {}).get("window_days", churn.DEFAULT_WINDOW),
            min=MIN_PER_CLASS,
        )
    elif model.name == LEAD.name:
        text = gettext(
            "Too little data to predict: %(won)s converted and %(lost)s unqualified leads; at "
            "least %(min)s of each are needed.",
            won=model.positives,
            lost=model.negatives,
            min=MIN_PER_CLASS,
        )
    else:
        text = gettext(
            "Too little data to predict: %(won)s won and %(lost)s lost deals; at least %(min)s of "
            "each are needed.",
            won=model.positives,
            lost=model.negatives,
            min=MIN_PER_CLASS,
        )
    return str(text)


def _renderer(spec: Spec) -> Any:
    def render(record: Any, user: Any, records: Any) -> str | None:
        """The open record's probability and its top factors."""
        crm = records.crm
        if not sales_enabled(crm) or not spec.is_open(crm, records.session, record):
            return None
        model = current(records.session, spec.name)
        if model is None:
            return str(Markup("<p class='empty'>{}</p>").format(gettext("No model trained yet.")))
        if model.status != "ok":
            return str(Markup("<p class='empty'>{}</p>").format(too_little(model)))
        scored = predict(crm, records.session, record, spec)
        assert scored is not None
        return explanation(scored)

    return render


def explanation(scored: Score, window: int | None = None, churned: bool = False) -> str:
    """A score as a panel shows it: the probability (of an order in ``window`` days, or of
    none when ``churned``), the model version and the factors that moved it most, each saying
    which way."""
    factors = Markup("").join(
        Markup("<li>{}: {}</li>").format(
            FEATURE_LABELS.get(name, name),
            gettext("raises the probability") if weight > 0 else gettext("lowers the probability"),
        )
        for name, weight in scored.factors
    )
    within = ""
    if window is not None and churned:
        within = gettext("of no order in the next %(days)s days", days=window)
    elif window is not None:
        within = gettext("of an order in the next %(days)s days", days=window)
    return str(
        Markup(
            "<p class='insights-score'><strong>{}</strong> {} <small>{}</small></p>"
            "<p>{}</p><ul>{}</ul>"
        ).format(
            format_percent(scored.probability, "#,##0 %"),
            within,
            gettext("model version %(version)s", version=scored.version),
            gettext("Main factors:"),
            factors,
        )
    )


def _customer_renderer(spec: CustomerSpec) -> Any:
    def render(record: Any, user: Any, records: Any) -> str | None:
        """The contact's score under a customer model (a chance of buying in the model's
        window, or of not buying) and its top factors; hidden without the plugin providing
        orders."""
        crm = records.crm
        if not sales_enabled(crm):
            return None
        model = current(records.session, spec.name)
        if model is None:
            return str(Markup("<p class='empty'>{}</p>").format(gettext("No model trained yet.")))
        if model.status != "ok":
            return str(Markup("<p class='empty'>{}</p>").format(too_little(model)))
        scored = customer_model.predict(crm, records.session, spec, record.id)
        if scored is None:
            return str(Markup("<p class='empty'>{}</p>").format(gettext("No orders yet.")))
        window = (model.params or {}).get("window_days", spec.default_window)
        return explanation(scored, int(window), churned=spec.churned)

    return render


render_win = _renderer(DEAL)
render_conversion = _renderer(LEAD)
render_propensity = _customer_renderer(propensity.SPEC)
render_churn = _customer_renderer(churn.SPEC)


def panels() -> list[Panel]:
    """The win probability (deals), conversion probability (leads), purchase propensity and
    churn risk (contacts) panels."""
    return [
        Panel("insights_win", "Win probability", "deals", render_win, order=40),
        Panel(
            "insights_conversion", "Conversion probability", "leads", render_conversion, order=40
        ),
        Panel(
            "insights_propensity", "Purchase propensity", "contacts", render_propensity, order=42
        ),
        Panel("insights_churn", "Churn risk", "contacts", render_churn, order=43),
    ]


def models_page() -> Any:
    """``GET /insights/models/``: each model's latest evaluation and earlier versions, for the
    entities the reader may read."""
    records = current_crm().records(g.crm_access)
    return _page(records, {})


def _shown(records: Any) -> list[tuple[str, Any, Any, list[Any]]]:
    """Per model the reader may see: its name, title, latest training and the last ten."""
    from sqlalchemy import select

    from .models import PredictionModel

    readable = [s.name for s in SPECS.values() if records.access.can(s.entity, "read")]
    if records.access.can("contacts", "read"):
        readable.extend(CUSTOMER_SPECS)
    if not sales_enabled(records.crm) or not readable:
        raise PermissionDenied("You may not read deals, leads or contacts.")
    shown = []
    for name in readable:
        history = list(
            records.session.scalars(
                select(PredictionModel)
                .where(PredictionModel.name == name)
                .order_by(PredictionModel.version.desc())
                .limit(10)
            )
        )
        shown.append((name, MODEL_TITLES[name], history[0] if history else None, history))
    return shown


def _page(records: Any, refused: dict[str, str]) -> Any:
    """The model page; ``refused`` maps a customer model to the window value it refused."""
    from crmcore.settings import get_settings

    shown = _shown(records)
    settings = get_settings(records.session)
    windows = {
        name: refused.get(name, str(customer_model.window_days(spec, settings)))
        for name, spec in CUSTOMER_SPECS.items()
    }
    return render_template(
        "insights/analysis/models.html",
        shown=shown,
        labels=FEATURE_LABELS,
        too_little=too_little,
        windows=windows,
        window_labels=WINDOW_LABELS,
        defaults={name: spec.default_window for name, spec in CUSTOMER_SPECS.items()},
        window_errors={name: [BAD_WINDOW] for name in refused},
        can_set_window=records.access.has("settings.manage"),
    ), (422 if refused else 200)


def save_window() -> Any:
    """``POST /insights/models/window``: the window (days) of a customer model - ``model`` is
    ``purchase_propensity`` (the default) or ``churn_risk`` - for users who may change the
    instance settings; the next training uses it."""
    from crmcore.api.settings import save_settings

    records = current_crm().records(g.crm_access)
    if not records.access.has("settings.manage"):
        raise PermissionDenied("You may not change the instance settings.")
    spec = CUSTOMER_SPECS.get(request.form.get("model", propensity.NAME))
    if spec is None:
        abort(400)
    raw = request.form.get("window_days", "").strip()[:20]
    days = int(raw) if raw.isascii() and raw.isdigit() else 0
    if not customer_model.MIN_WINDOW <= days <= customer_model.MAX_WINDOW:
        return _page(records, {spec.name: raw})
    save_settings(records.session, {spec.setting: days}, g.crm_user.id)
    if spec.churned:
        flash(gettext("The churn window is saved; the next training uses it."), "success")
    else:
        flash(gettext("The purchase window is saved; the next training uses it."), "success")
    return redirect(url_for("insights_models.models"), 303)


def make_blueprint() -> Blueprint:
    """The ``insights_models`` blueprint under ``/insights/models``."""
    bp = Blueprint("insights_models", __name__, url_prefix="/insights/models")
    bp.add_url_rule("/", "models", models_page)
    bp.add_url_rule("/window", "window", save_window, methods=["POST"])
    return bp
