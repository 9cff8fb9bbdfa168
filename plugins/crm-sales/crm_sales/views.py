"""Pages of the sales plugin: a board per pipeline, deals as cards in stage columns.

Cards move by drag and drop (``static/board.js`` sends ``PATCH /sales/deals/<id>/stage`` with
the CSRF token in ``X-CSRFToken``) or, without a mouse or script, with the select and button of
each card (a form ``POST`` to the same URL). Both go through the user's record service, so only
deals the user may update move, and only within their pipeline.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from crmcore import CRMError, ValidationError, current_crm

from .models import Deal, Pipeline, Stage


def _records() -> Any:
    return current_crm().records(g.crm_access)


def board_context(records: Any, pipeline_id: int) -> dict[str, Any]:
    """The pipeline, its stages with their deals (in the user's scope), and the pipelines."""
    pipeline = records.get("pipelines", pipeline_id)
    session = records.session
    stages = list(
        session.scalars(
            select(Stage)
            .where(Stage.pipeline_id == pipeline.id, Stage.deleted_at.is_(None))
            .order_by(Stage.position, Stage.id)
        )
    )
    deals = list(
        session.scalars(
            records.query("deals")
            .where(Deal.pipeline_id == pipeline.id)
            .order_by(Deal.close_date.is_(None), Deal.close_date, Deal.id)
        )
    )
    deal_entity = records.entity("deals")
    movable = {
        d.id for d in deals if records.access.allows_record(deal_entity, "update", d, session)
    }
    columns = []
    for stage in stages:
        mine = [d for d in deals if d.stage_id == stage.id]
        columns.append({"stage": stage, "deals": mine, "totals": column_totals(mine)})
    pipelines = list(
        session.scalars(records.query("pipelines").order_by(Pipeline.position, Pipeline.id))
    )
    return {
        "pipeline": pipeline,
        "pipelines": pipelines,
        "stages": stages,
        "columns": columns,
        "movable": movable,
    }


def column_totals(deals: list[Any]) -> list[tuple[str, Decimal]]:
    """The amounts of a column's deals summed per currency, currencies in order."""
    sums: dict[str, Decimal] = {}
    for deal in deals:
        sums[deal.currency] = sums.get(deal.currency, Decimal(0)) + (deal.amount or Decimal(0))
    return sorted(sums.items())


def move_deal(records: Any, deal_id: int, raw_stage: Any) -> Any:
    """Move a deal to another stage of its pipeline (422 for another pipeline's stage)."""
    try:
        stage_id = int(raw_stage)
    except (TypeError, ValueError):
        raise ValidationError({"stage_id": ["Choose a stage."]}) from None
    return records.update("deals", deal_id, {"stage_id": stage_id})


def make_blueprint() -> Blueprint:
    """The ``sales`` blueprint under ``/sales``, with its templates and static files."""
    bp = Blueprint(
        "sales",
        __name__,
        url_prefix="/sales",
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )

    @bp.route("/board")
    def first_board() -> Any:
        records = _records()
        first = records.session.scalar(
            records.query("pipelines").order_by(Pipeline.position, Pipeline.id).limit(1)
        )
        if first is None:
            return render_template("sales/no_pipeline.html")
        return redirect(url_for("sales.board", pipeline_id=first.id))

    @bp.route("/board/<int:pipeline_id>")
    def board(pipeline_id: int) -> Any:
        return render_template("sales/board.html", **board_context(_records(), pipeline_id))

    @bp.route("/forecast")
    def forecast() -> Any:
        from .pages import forecast_page

        return forecast_page()

    @bp.route("/settings", methods=["GET", "POST"])
    def settings() -> Any:
        from .pages import settings_page

        return settings_page()

    @bp.route("/quotes/<int:quote_id>/pdf")
    def quote_pdf(quote_id: int) -> Any:
        """The quote as a PDF, for the link on the quote's page (the user's read scope)."""
        from .pdf import quote_pdf as render

        quote = _records().get("quotes", quote_id)
        pdf = render(current_app, current_crm().records(), quote)
        return Response(
            pdf,
            mimetype="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{quote.number}.pdf"'},
        )

    @bp.route("/deals/<int:deal_id>/stage", methods=["POST", "PATCH"])
    def deal_stage(deal_id: int) -> Any:
        records = _records()
        if request.method == "PATCH":
            body = request.get_json(silent=True)
            raw = body.get("stage_id") if isinstance(body, dict) else None
            try:
                deal = move_deal(records, deal_id, raw)
            except CRMError as error:
                messages = getattr(error, "messages", None)
                return jsonify(
                    {"title": error.title, "detail": error.detail, "errors": messages}
                ), error.status
            return jsonify(
                {"id": deal.id, "stage_id": deal.stage_id, "probability": deal.probability}
            )
        deal = records.get("deals", deal_id)
        pipeline_id = deal.pipeline_id
        try:
            deal = move_deal(records, deal_id, request.form.get("stage_id"))
        except ValidationError as error:
            for messages in error.messages.values():
                for message in messages:
                    flash(message, "error")
            return redirect(url_for("sales.board", pipeline_id=pipeline_id), 303)
        flash(f"{deal.title}: moved.", "success")
        return redirect(url_for("sales.board", pipeline_id=pipeline_id) + f"#deal-{deal.id}", 303)

    return bp
