"""Panels on record pages: sending and results on a campaign, members on a segment, the
campaigns a contact received.

Each renders a template of ``templates/marketing/`` (autoescaped: campaign names, segment
names and addresses are users' text) and reads through the viewer's record service, so it
shows only what they may read.
"""

from __future__ import annotations

from typing import Any

from flask import render_template
from sqlalchemy import func, select

from crmcore import CRMError, Panel

from . import i18n
from .models import Campaign, Recipient
from .results import CHART_SERIES, campaign_results

SEND = "marketing.send"
RESULTS = "marketing.results"
MEMBERS_SHOWN = 10
CAMPAIGNS_SHOWN = 20
#: What each status allows from the campaign page (see :mod:`crm_marketing.sending`).
CAN_START = ("draft",)
CAN_CANCEL = ("scheduled", "sending")


def labels() -> dict[str, Any]:
    """The words for statuses, kinds and reasons that the templates show."""
    return {
        "campaign_statuses": i18n.CAMPAIGN_STATUS,
        "recipient_statuses": i18n.RECIPIENT_STATUS,
        "reasons": i18n.SKIP_REASON,
        "kinds": i18n.CAMPAIGN_KIND,
    }


def campaign_sending(record: Campaign, user: Any, records: Any) -> str:
    """Status, the times of the send, the send/schedule/cancel forms and the preview link."""
    access = records.access
    may_send = access.has(SEND)
    segment = None
    if record.segment_id is not None and access.can("segments", "read"):
        try:
            segment = records.get("segments", record.segment_id)
        except CRMError:
            segment = None
    return render_template(
        "marketing/_panel_campaign.html",
        campaign=record,
        segment=segment,
        can_start=may_send and record.status in CAN_START,
        can_cancel=may_send and record.status in CAN_CANCEL,
        may_send=may_send,
        may_see_results=access.has(RESULTS) and record.status in ("sending", "sent", "cancelled"),
        user_zone=getattr(user, "timezone", None) or "UTC",
        **labels(),
    )


def chart_of(timeline: dict[str, Any], labels: dict[str, str]) -> dict[str, Any] | None:
    """The Chart.js configuration of a time series (the core's ``crm.js`` draws it)."""
    points = timeline.get("points") or []
    if not points:
        return None
    hourly = timeline.get("bucket") == "hour"
    return {
        "type": "line",
        "data": {
            "labels": [p["at"][:16].replace("T", " ") if hourly else p["at"][:10] for p in points],
            "datasets": [
                {"label": labels[kind], "data": [p.get(kind, 0) for p in points]}
                for kind in CHART_SERIES
            ],
        },
    }


def campaign_results_panel(record: Campaign, user: Any, records: Any) -> str | None:
    """Counts, rates, a chart of events over time, top links and attribution."""
    if not _has_recipients(records.session, record.id):
        return None  # nothing was sent, scheduled or not: no results to show
    results = campaign_results(records, record)
    series = {kind: str(text) for kind, text in i18n.SERIES.items()}
    return render_template(
        "marketing/_panel_results.html",
        campaign=record,
        results=results,
        chart=chart_of(results["timeline"], series),
        **labels(),
    )


def _has_recipients(session: Any, campaign_id: int) -> bool:
    found = session.scalar(
        select(Recipient.id).where(Recipient.campaign_id == campaign_id).limit(1)
    )
    return found is not None


def segment_members(record: Any, user: Any, records: Any) -> str:
    """The live member count and the first members, in the viewer's scope."""
    from . import segments

    error = None
    total, members = 0, []
    try:
        stmt = segments.members_query(records.crm, records, record)
        contact = records.entity("contacts").model
        total = records.count("contacts", stmt)
        members = list(records.session.scalars(stmt.order_by(contact.id).limit(MEMBERS_SHOWN)))
    except CRMError as exc:  # the saved query no longer works, or needs orders to be read
        error = exc.detail
    return render_template(
        "marketing/_panel_segment.html",
        segment=record,
        total=total,
        members=members,
        error=error,
        contacts=records.entity("contacts"),
    )


def contact_campaigns(record: Any, user: Any, records: Any) -> str:
    """The campaigns the contact received (that the viewer may read), and what they did."""
    stmt = (
        records.query("campaigns")
        .join(Recipient, Recipient.campaign_id == Campaign.id)
        .add_columns(Recipient)
        .where(Recipient.contact_id == record.id)
        .order_by(
            func.coalesce(Recipient.sent_at, Recipient.created_at).desc(), Recipient.id.desc()
        )
        .limit(CAMPAIGNS_SHOWN)
    )
    rows = list(records.session.execute(stmt))
    return render_template(
        "marketing/_panel_contact.html",
        rows=rows,
        show_engagement=records.access.has(RESULTS),
        **labels(),
    )


def template_editor_link(record: Any, user: Any, records: Any) -> str:
    """A link from a template's page to its editor with the live preview."""
    return render_template("marketing/_panel_template.html", template=record)


def panels() -> list[Panel]:
    """Five panels: sending and results on campaigns, members on segments, campaigns on
    contacts, the editor's link on e-mail templates."""
    return [
        Panel(
            "marketing-editor",
            "Editor",
            "email_template",
            template_editor_link,
            "email_templates.read",
            5,
        ),
        Panel("marketing-sending", "Sending", "campaign", campaign_sending, "campaigns.read", 10),
        Panel("marketing-results", "Results", "campaign", campaign_results_panel, RESULTS, 11),
        Panel("marketing-members", "Members", "segment", segment_members, "segments.read", 10),
        Panel("marketing-contact", "Campaigns", "contact", contact_campaigns, "campaigns.read", 40),
    ]
