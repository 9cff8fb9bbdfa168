"""The win probability panel on deal pages and the model page."""

from __future__ import annotations

from typing import Any

from crmcore import Panel, PermissionDenied, current_crm
from flask import Blueprint, g, render_template
from flask_babel import format_percent, gettext
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from .predict import DEAL, LEAD, MIN_PER_CLASS, SPECS, Spec, current, predict, sales_enabled

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
}
MODEL_TITLES = {DEAL.name: _l("Deal win probability"), LEAD.name: _l("Lead conversion probability")}


def too_little(model: Any) -> str:
    """The message of a model trained on too few examples."""
    if model.name == LEAD.name:
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
        factors = Markup("").join(
            Markup("<li>{}: {}</li>").format(
                FEATURE_LABELS.get(name, name),
                gettext("raises the probability")
                if weight > 0
                else gettext("lowers the probability"),
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

    return render


render_win = _renderer(DEAL)
render_conversion = _renderer(LEAD)


def panels() -> list[Panel]:
    """The win probability panel (deals) and the conversion probability panel (leads)."""
    return [
        Panel("insights_win", "Win probability", "deals", render_win, order=40),
        Panel(
            "insights_conversion", "Conversion probability", "leads", render_conversion, order=40
        ),
    ]


def models_page() -> Any:
    """``GET /insights/models/``: each model's latest evaluation and earlier versions, for the
    entities the reader may read."""
    from sqlalchemy import select

    from .models import PredictionModel

    records = current_crm().records(g.crm_access)
    readable = [s for s in SPECS.values() if records.access.can(s.entity, "read")]
    if not sales_enabled(records.crm) or not readable:
        raise PermissionDenied("You may not read deals or leads.")
    shown = []
    for spec in readable:
        history = list(
            records.session.scalars(
                select(PredictionModel)
                .where(PredictionModel.name == spec.name)
                .order_by(PredictionModel.version.desc())
                .limit(10)
            )
        )
        shown.append((spec.name, MODEL_TITLES[spec.name], history[0] if history else None, history))
    return render_template(
        "insights/analysis/models.html", shown=shown, labels=FEATURE_LABELS, too_little=too_little
    )


def make_blueprint() -> Blueprint:
    """The ``insights_models`` blueprint under ``/insights/models``."""
    bp = Blueprint("insights_models", __name__, url_prefix="/insights/models")
    bp.add_url_rule("/", "models", models_page)
    return bp
