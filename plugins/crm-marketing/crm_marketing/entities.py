"""The marketing entities. Their ``prepare`` steps live with the logic they guard."""

from __future__ import annotations

from crmcore import Entity

from .content import prepare_campaign, prepare_template
from .models import Campaign, EmailTemplate, Segment
from .schemas import CampaignSchema, EmailTemplateSchema, SegmentSchema
from .segments import prepare_segment


def entities() -> list[Entity]:
    """Segments, e-mail templates and campaigns."""
    return [
        Entity(
            name="segment",
            model=Segment,
            schema=SegmentSchema,
            plural="segments",
            title="Segment",
            title_fields=("name",),
            search_fields=("name", "description"),
            list_columns=("name", "kind", "owner_id", "updated_at"),
            filter_fields=("tags",),
            prepare=prepare_segment,
        ),
        Entity(
            name="email_template",
            model=EmailTemplate,
            schema=EmailTemplateSchema,
            plural="email_templates",
            title="E-mail template",
            title_fields=("name",),
            search_fields=("name", "subject"),
            list_columns=("name", "subject", "owner_id", "updated_at"),
            prepare=prepare_template,
        ),
        Entity(
            name="campaign",
            model=Campaign,
            schema=CampaignSchema,
            plural="campaigns",
            title="Campaign",
            title_fields=("name",),
            search_fields=("name", "subject"),
            list_columns=("name", "kind", "status", "segment_id", "started_at", "owner_id"),
            filter_fields=("tags", "template_id"),
            sort_fields=("finished_at", "scheduled_at"),
            prepare=prepare_campaign,
        ),
    ]
