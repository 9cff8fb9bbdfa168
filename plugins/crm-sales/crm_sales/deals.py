"""Deals: stage and pipeline rules, default probability, stage history and time in stage."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmcore import RecordEvent, ValidationError
from crmcore.db import utcnow

from .common import check_links, default_currency
from .models import Pipeline, Stage, StageChange


def first_stage(session: Session, pipeline_id: int | None) -> Stage | None:
    """The first open stage of ``pipeline_id`` (or of the first pipeline when ``None``)."""
    if pipeline_id is None:
        pipeline_id = session.scalar(
            select(Pipeline.id)
            .where(Pipeline.deleted_at.is_(None))
            .order_by(Pipeline.position, Pipeline.id)
            .limit(1)
        )
    return session.scalar(
        select(Stage)
        .where(Stage.pipeline_id == pipeline_id, Stage.deleted_at.is_(None))
        .order_by(Stage.is_won, Stage.is_lost, Stage.position, Stage.id)
        .limit(1)
    )


def prepare_deal(values: dict[str, Any], record: Any, service: Any) -> None:
    """Check the stage against the pipeline; fill currency, pipeline and probability."""
    session = service.session
    if record is None:
        values.setdefault("currency", default_currency(session))
    check_links(service, values, {"contact_id": "contacts", "company_id": "companies"})
    pipeline_id = values.get("pipeline_id", record.pipeline_id if record is not None else None)
    if record is not None and "stage_id" not in values:
        if "pipeline_id" in values and values["pipeline_id"] != record.pipeline_id:
            raise ValidationError(
                {"stage_id": ["Give a stage of the new pipeline to move the deal there."]}
            )
        return
    stage_id = values.get("stage_id")
    stage = session.get(Stage, stage_id) if stage_id is not None else None
    if stage_id is None:
        stage = first_stage(session, pipeline_id)
        if stage is None:
            raise ValidationError({"stage_id": ["Create a pipeline with stages first."]})
    if stage is None or stage.deleted_at is not None:
        raise ValidationError({"stage_id": ["No such stage."]})
    if pipeline_id is not None and stage.pipeline_id != pipeline_id:
        raise ValidationError({"stage_id": ["This stage belongs to another pipeline."]})
    values["stage_id"] = stage.id
    values["pipeline_id"] = stage.pipeline_id
    if record is None or record.stage_id != stage.id:
        values.setdefault("probability", stage.probability)
        values["stage_changed_at"] = utcnow()


def track_stage(event: RecordEvent) -> None:
    """Close the open stage-history row of a deal and open one for its new stage."""
    if event.action not in ("create", "update") or "stage_id" not in event.changes:
        return
    deal = event.record
    now = deal.stage_changed_at or utcnow()
    session = event.session
    with session.no_autoflush:
        if event.action == "update":
            for row in session.scalars(
                select(StageChange).where(
                    StageChange.deal_id == deal.id, StageChange.left_at.is_(None)
                )
            ):
                row.left_at = now
        user = event.user
        session.add(
            StageChange(
                deal=deal,
                stage_id=deal.stage_id,
                entered_at=now,
                user_id=user.id if user is not None else None,
            )
        )


def stage_history(session: Session, deal_id: int) -> list[dict[str, Any]]:
    """A deal's stages in order, each with its time in stage in seconds (to now if open)."""
    rows = session.execute(
        select(StageChange, Stage.name)
        .join(Stage, Stage.id == StageChange.stage_id)
        .where(StageChange.deal_id == deal_id)
        .order_by(StageChange.entered_at, StageChange.id)
    )
    now = utcnow()
    out = []
    for change, name in rows:
        end = change.left_at or now
        out.append(
            {
                "stage_id": change.stage_id,
                "stage": name,
                "entered_at": change.entered_at.isoformat(),
                "left_at": change.left_at.isoformat() if change.left_at else None,
                "seconds_in_stage": int((end - change.entered_at).total_seconds()),
                "user_id": change.user_id,
            }
        )
    return out


def prepare_stage(values: dict[str, Any], record: Any, service: Any) -> None:
    """A stage stays in its pipeline; the pipeline must exist."""
    if record is not None and values.get("pipeline_id", record.pipeline_id) != record.pipeline_id:
        raise ValidationError({"pipeline_id": ["A stage cannot move to another pipeline."]})
    if record is None:
        pipeline = service.session.get(Pipeline, values["pipeline_id"])
        if pipeline is None or pipeline.deleted_at is not None:
            raise ValidationError({"pipeline_id": ["No such pipeline."]})
    won = values.get("is_won", record.is_won if record is not None else False)
    lost = values.get("is_lost", record.is_lost if record is not None else False)
    if won and lost:
        raise ValidationError({"is_lost": ["A stage is won or lost, not both."]})
