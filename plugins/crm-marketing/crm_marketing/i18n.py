"""Words shown at run time: statuses and reasons for the pages, and the labels the core
translates itself (menu, panels, widgets, entities, fields), listed so that message extraction
finds them for the plugin's Spanish catalogue.

Words whose translation depends on what they describe carry a context (``pgettext``): a
campaign is *Enviada*, a message *Enviado*, and the results count people who were *Enviados*.

The catalogue, ``translations/es/LC_MESSAGES/messages.po``, is merged with the core's (one
``messages`` domain), so a message id the core also translates keeps one translation: use the
core's informal Spanish (*tú*). After changing strings::

    cd plugins/crm-marketing/crm_marketing
    ../../../.venv/bin/pybabel extract -F ../babel.cfg -k _l -k lazy_gettext \
        -k lazy_pgettext:1c,2 --no-location --sort-output --project crm-marketing \
        -o translations/messages.pot .
    ../../../.venv/bin/pybabel update --no-fuzzy-matching --width 100 -l es \
        -i translations/messages.pot -d translations
    # translate the new entries in translations/es/LC_MESSAGES/messages.po, then
    ../../../.venv/bin/pybabel compile -d translations

``tests/test_i18n.py`` fails while an entry is missing or the ``.mo`` file is older than the
``.po``.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

#: A campaign's status, for people.
CAMPAIGN_STATUS = {
    "draft": lazy_pgettext("campaign status", "Draft"),
    "scheduled": lazy_pgettext("campaign status", "Scheduled"),
    "sending": lazy_pgettext("campaign status", "Sending"),
    "sent": lazy_pgettext("campaign status", "Sent"),
    "cancelled": lazy_pgettext("campaign status", "Cancelled"),
}
#: What became of one recipient's message.
RECIPIENT_STATUS = {
    "queued": lazy_pgettext("message status", "Queued"),
    "sending": lazy_pgettext("message status", "Sending"),
    "handover": lazy_pgettext("message status", "Sending"),
    "sent": lazy_pgettext("message status", "Sent"),
    "unknown": lazy_pgettext("message status", "Unknown"),
    "failed": lazy_pgettext("message status", "Failed"),
    "skipped": lazy_pgettext("message status", "Skipped"),
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
    "sent": lazy_pgettext("results", "Sent"),
    "delivered": _l("Delivered"),
    "open": _l("Opens"),
    "click": _l("Clicks"),
    "unsubscribe": _l("Unsubscribes"),
    "bounce": _l("Bounces"),
}

LABELS = (
    # menu, panels, widgets
    _l("Campaigns"),
    _l("Segments"),
    _l("Segment builder"),
    _l("New campaign"),
    _l("Editor"),
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
    _l("Or groups"),
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
    # segment kinds
    _l("Dynamic"),
    _l("Static"),
)

#: Messages of the plugin's checks that the pages show (form errors, flash messages), listed so
#: that they are translated like the rest; the API answers them in English.
MESSAGES = (
    _l("A segment cannot change kind."),
    _l("A static segment lists its contacts; it has no query nor conditions."),
    _l("Give a list of conditions."),
    _l("You may not read orders, so you cannot choose contacts by them."),
    _l("The segment has purchase-history conditions and the sales plugin is not enabled."),
    _l("The segment chooses contacts by their orders, and you may not read orders."),
    _l("Line breaks are not allowed here (they would add e-mail headers)."),
    _l("Control characters are not allowed here."),
    _l("Commas and angle brackets are not allowed in a sender name."),
    _l("The campaign is no longer a draft: its content cannot change."),
    _l("No such template."),
    _l("No such segment."),
    _l("No such campaign."),
    _l("No such contact."),
    _l("Choose the segment to send to."),
    _l("An e-mail campaign needs a subject."),
    _l("An e-mail campaign needs a body."),
    _l("An e-mail campaign needs a sender address."),
    _l("The campaign's segment no longer exists."),
    _l("The campaign is not ready to send."),
    _l("The campaign cannot be sent yet."),
    _l("Labels are made for direct-mail campaigns only."),
    _l("Send the campaign first: its recipients are chosen when it is sent."),
    _l("You may not send campaigns or test messages."),
    _l("You may not see campaign results."),
)
