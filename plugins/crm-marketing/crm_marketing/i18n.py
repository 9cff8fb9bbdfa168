"""Words shown at run time: statuses and reasons for the pages, and the labels the core
translates itself (menu, panels, widgets, entities, fields), listed so that message extraction
finds them for the plugin's Spanish catalogue (see the README, "Translations")."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

#: A campaign's status, for people.
CAMPAIGN_STATUS = {
    "draft": _l("Draft"),
    "scheduled": _l("Scheduled"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "cancelled": _l("Cancelled"),
}
#: What became of one recipient's message.
RECIPIENT_STATUS = {
    "queued": _l("Queued"),
    "sending": _l("Sending"),
    "handover": _l("Sending"),
    "sent": _l("Sent"),
    "unknown": _l("Unknown"),
    "failed": _l("Failed"),
    "skipped": _l("Skipped"),
}
#: Why a recipient was skipped.
SKIP_REASON = {
    "opted_out": _l("Opted out"),
    "bounced": _l("Address bounced"),
    "no_email": _l("No e-mail address"),
    "no_address": _l("No postal address"),
    "other": _l("Other"),
}
#: The kinds of campaigns.
CAMPAIGN_KIND = {"email": _l("E-mail"), "direct_mail": _l("Direct mail")}
#: Series of the results chart.
SERIES = {
    "sent": _l("Sent"),
    "open": _l("Opens"),
    "click": _l("Clicks"),
    "unsubscribe": _l("Unsubscribes"),
    "bounce": _l("Bounces"),
}

LABELS = (
    # menu, panels, widgets
    _l("Campaigns"),
    _l("Segments"),
    _l("E-mail templates"),
    _l("Sending"),
    _l("Results"),
    _l("Members"),
    _l("Campaign open and click rates"),
    _l("Revenue from campaigns"),
    # entities
    _l("Campaign"),
    _l("Segment"),
    _l("E-mail template"),
    # fields (labels the core derives from the field names)
    _l("Query"),
    _l("Company query"),
    _l("Conditions"),
    _l("Member count"),
    _l("Body html"),
    _l("Body text"),
    _l("Segment"),
    _l("Template"),
    _l("From email"),
    _l("From name"),
    _l("Reply to"),
    _l("Send rate"),
    _l("Scheduled at"),
    _l("Started at"),
    _l("Finished at"),
    # permissions
    _l("Send or schedule campaigns"),
    _l("See campaign results"),
    # widget tables (keys and columns the dashboard shows as labels)
    _l("Delivered"),
    _l("Opened"),
    _l("Clicked"),
    _l("Deals"),
    _l("Won deals"),
    _l("Revenue"),
)
