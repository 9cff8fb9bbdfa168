"""Strings shown at run time (labels, choices, menu, panels, widgets), listed for extraction.

The core translates menu labels, panel and widget titles, entity titles and field labels
through the merged catalogue; this module only makes ``pybabel extract`` see them.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

RUNTIME_STRINGS = (
    # menu, panels, widgets, entities
    _l("Tickets"),
    _l("Ticket"),
    _l("Ticket message"),
    _l("Ticket messages"),
    _l("Support queue"),
    _l("Support queues"),
    _l("SLA policy"),
    _l("SLA policies"),
    _l("Conversation"),
    _l("Support tickets"),
    _l("Support backlog"),
    _l("Response times"),
    _l("SLA compliance"),
    _l("Customer satisfaction"),
    # statuses, priorities, channels, SLA states
    _l("New"),
    _l("Open"),
    _l("Pending"),
    _l("On hold"),
    _l("Solved"),
    _l("Closed"),
    _l("Low"),
    _l("Normal"),
    _l("High"),
    _l("Urgent"),
    _l("Ok"),
    _l("Warning"),
    _l("Breached"),
    # field labels
    _l("Number"),
    _l("Subject"),
    _l("Description"),
    _l("Status"),
    _l("Priority"),
    _l("Channel"),
    _l("Contact"),
    _l("Queue"),
    _l("Assignee"),
    _l("Merged into"),
    _l("First response due at"),
    _l("Resolution due at"),
    _l("First responded at"),
    _l("Solved at"),
    _l("Sla status"),
    _l("Body"),
    _l("Public"),
    _l("Author"),
    _l("Author contact"),
    _l("Mail message"),
    _l("Mail from"),
    _l("Automatic"),
    _l("Attachment ids"),
    _l("Is default"),
    _l("Assignment"),
    _l("Member ids"),
    _l("Imap host"),
    _l("Imap port"),
    _l("Imap tls"),
    _l("Imap user"),
    _l("Imap password"),
    _l("Imap folder"),
    _l("First response minutes"),
    _l("Resolution minutes"),
    _l("Warn percent"),
    _l("Body html"),
    # figures of the dashboard widgets (their keys, shown through the core's labels)
    _l("Unassigned"),
    _l("Answered"),
    _l("Compliance"),
    _l("Answers"),
    _l("Average"),
    # portal password policy (from crmcore's policy)
    _l("Use at least 12 characters."),
    _l("Use a less repetitive password."),
    # channels and assignment
    _l("Api"),
    _l("Round robin"),
    _l("Least open"),
)
