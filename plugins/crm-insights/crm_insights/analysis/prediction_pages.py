"""The win probability panel on deal pages and the model page."""

from __future__ import annotations

from typing import Any

from crmcore import Panel, PermissionDenied, current_crm
from flask import Blueprint, g, render_template
from flask_babel import format_percent, gettext
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from .predict import MIN_PER_CLASS, current, predict_deal, sales_enabled

FEATURE_LABELS = {
    "amount_log": _l("Amount"),
    "calls": _l("Calls logged"),
    "meetings": _l("Meetings logged"),
    "emails": _l("E-mails logged"),
    "notes": _l("Notes"),
    "has_contact": _l("Has a contact"),
    "has_company": _l("Has a company"),
}


def too_little(model: Any) -> str:
    """The message of a model trained on too few examples."""
    return str(
        gettext(
            "Too little data to predict: %(won)s won and %(lost)s lost deals; at least %(min)s of "
            "each are needed.",
            won=model.positives,
            lost=model.negatives,
            min=MIN_PER_CLASS,
        )
    )


def render_win(record: Any, user: Any, records: Any) -> str | None:
    """The open deal's win probability and its top factors."""
    crm = records.crm
    if not sales_enabled(crm):
        return None
    stage = records.session.get(crm.registry.get("stages").model, record.stage_id)
    if stage is not None and (stage.is_won or stage.is_lost):
        return None
    model = current(records.session)
    if model is None:
        return str(Markup("<p class='empty'>{}</p>").format(gettext("No model trained yet.")))
    if model.status != "ok":
        return str(Markup("<p class='empty'>{}</p>").format(too_little(model)))
    scored = predict_deal(crm, records.session, record)
    assert scored is not None
    factors = Markup("").join(
        Markup("<li>{}: {}</li>").format(
            FEATURE_LABELS.get(name, name),
            gettext("raises the probability") if weight > 0 else gettext("lowers the probability"),
        )
        for name, weight in scored.factors
    )
    return str(
        Markup(
            "<p class='insights-score'><strong>{}</strong> <small>{}</small></p>"
            "<p>{}</p><ul>{}</ul>"
        ).format(
            format_percent(scored.probability, "#,##0 %"),
            gettext("model version %(version)s", version=scored.version),
            gettext("Main factors:"),
            factors,
        )
    )


def panels() -> list[Panel]:
    """The win probability panel (deals)."""
    return [Panel("insights_win", "Win probability", "deals", render_win, order=40)]


def models_page() -> Any:
    """``GET /insights/models/``: the deal model's versions and holdout evaluation."""
    from sqlalchemy import select

    from .models import PredictionModel

    records = current_crm().records(g.crm_access)
    if not sales_enabled(records.crm) or not records.access.can("deals", "read"):
        raise PermissionDenied("You may not read deals.")
    history = list(
        records.session.scalars(
            select(PredictionModel).order_by(PredictionModel.version.desc()).limit(10)
        )
    )
    return render_template(
        "insights/analysis/models.html",
        latest=current(records.session),
        history=history,
        labels=FEATURE_LABELS,
        too_little=too_little,
    )


def make_blueprint() -> Blueprint:
    """The ``insights_models`` blueprint under ``/insights/models``."""
    bp = Blueprint("insights_models", __name__, url_prefix="/insights/models")
    bp.add_url_rule("/", "models", models_page)
    return bp
