"""Labels the core translates at run time (menus, panels, widgets, entity and field names),
listed so that message extraction finds them for the plugin's catalogue."""

from typing import Any

from flask import has_request_context
from flask_babel import gettext
from flask_babel import lazy_gettext as _l


def text(message: str, **params: Any) -> str:
    """``message`` with ``params`` in the language of the request being answered (English
    outside a request: the command line, jobs), for messages made with data in them."""
    if has_request_context():
        return str(gettext(message, **params))
    return message % params if params else message


LABELS = (
    _l("Automation"),
    # workflow rules: the menu, the entity, its fields, the permission, the builder's days
    _l("Workflows"),
    _l("Workflow"),
    _l("Entity"),
    _l("Trigger"),
    _l("Conditions"),
    _l("Actions"),
    _l("Active"),
    _l("System"),
    _l("Sequence"),
    _l("Exit conditions"),
    _l("Create and change system workflow rules"),
    _l("Rule builder"),
    _l("Monday"),
    _l("Tuesday"),
    _l("Wednesday"),
    _l("Thursday"),
    _l("Friday"),
    _l("Saturday"),
    _l("Sunday"),
    _l("low"),
    _l("normal"),
    _l("high"),
    # incoming webhooks and the call-webhook action (labels of the kinds, answers of the URL)
    _l("Incoming webhook"),
    _l("Call a webhook"),
    _l("The rule cannot act: its owner is gone or deactivated."),
    _l("Hook url"),
    _l("Rotate hook url"),
    _l("Rotate signing secret"),
    _l("Make a new incoming-webhook URL (the old one stops working)."),
    _l("Make a new signing secret for the call-webhook actions."),
    _l("The incoming-webhook URL: only in the answer that made it."),
    _l("The call-webhook signing secret: only in the answer that made it."),
    # webhooks
    _l("Webhook"),
    _l("Webhooks"),
    _l("Url"),
    _l("Entities"),
    _l("Events"),
    _l("Signing secret"),
    _l("Disabled reason"),
    _l("Delivery log"),
    _l("Rotate secret"),
    _l("Replay delivery"),
    _l("Delivery id"),
    _l("An https:// address reachable from the internet."),
    _l("Plural names, separated by commas: contacts, deals."),
    _l("created, updated, deleted, restored - separated by commas; empty for all."),
    _l("Make a new signing secret (shown once); the old one stops working."),
    _l("Send one delivery's event again, with a new delivery id."),
    _l("New secret made: copy it from the webhook's page now, it is shown once."),
    _l("Delivery queued again."),
    _l("This webhook has no such delivery."),
    # reasons of the SSRF guard (crm_automation.webhooks.ssrf)
    _l("not a URL"),
    _l("contains spaces or control characters"),
    _l("not a valid URL"),
    _l("only http:// and https:// addresses are allowed"),
    _l("user names and passwords in the address are not allowed"),
    _l("no host"),
    _l("not a valid port"),
    _l("the host name does not resolve"),
    _l("unexpected address %(address)s"),
    _l("%(host)s is %(kind)s (%(address)s), which webhooks may not call"),
    _l("a cloud metadata address"),
    _l("a loopback address"),
    _l("an unspecified address"),
    _l("a link-local address"),
    _l("a multicast address"),
    _l("a private address"),
    _l("a reserved address"),
    _l("a site-local address"),
    _l("not a public address"),
)
