"""Campaign and template content: validation at save time."""

from __future__ import annotations

from typing import Any

from crmcore import ValidationError

from .models import Campaign, EmailTemplate, Segment


def prepare_template(values: dict[str, Any], record: EmailTemplate | None, service: Any) -> None:
    """Templates are checked when saved (see :mod:`crm_marketing.templating`)."""


def prepare_campaign(values: dict[str, Any], record: Campaign | None, service: Any) -> None:
    """A campaign's segment must exist."""
    segment_id = values.get("segment_id")
    if segment_id is not None:
        segment = service.session.get(Segment, segment_id)
        if segment is None or segment.deleted_at is not None:
            raise ValidationError({"segment_id": ["No such segment."]})
