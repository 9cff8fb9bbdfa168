"""The template editor page: an e-mail template's subject, HTML and plain text beside a live
preview for a chosen contact (the core's reference picker), the merge fields to copy, the
plain-text part as it will be sent, and a test message.

The preview renders what is typed, unsaved, exactly as a message is rendered (sanitised HTML,
the plain-text part derived when none is given), for a contact the user may read or the sample
contact. It is shown in an ``<iframe sandbox srcdoc>``: no script, an opaque origin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from flask_babel import gettext as _

from crmcore import CRMError, ValidationError
from crmcore.mail import MailError, send
from crmcore.web.i18n import contact_locale

from . import compose, templating
from .content import normal_address

MAX_BODY = 200_000


@dataclass
class Draft:
    """What the editor's form holds."""

    subject: str = ""
    body_html: str = ""
    body_text: str = ""
    contact_id: int | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_form(cls, form: Any) -> Draft:
        raw_contact = str(form.get("contact_id", "")).strip()
        return cls(
            subject=str(form.get("subject", ""))[:300],
            body_html=str(form.get("body_html", ""))[:MAX_BODY],
            body_text=str(form.get("body_text", ""))[:MAX_BODY],
            contact_id=int(raw_contact)
            if raw_contact.isdigit() and len(raw_contact) < 10
            else None,
        )

    @classmethod
    def of(cls, template: Any) -> Draft:
        return cls(template.subject or "", template.body_html or "", template.body_text or "")


def merge_fields() -> list[tuple[str, list[str]]]:
    """The placeholders a template may use, grouped."""
    return [
        (_("Contact"), [f"{{{{ contact.{n} }}}}" for n in templating.CONTACT_FIELDS]),
        (_("Company"), [f"{{{{ company.{n} }}}}" for n in templating.COMPANY_FIELDS]),
        (_("Message"), ["{{ campaign.name }}", "{{ unsubscribe_url }}"]),
    ]


def _contact(records: Any, contact_id: int | None) -> Any:
    if contact_id is None:
        return None
    try:
        return records.get("contacts", contact_id)
    except CRMError:  # not found or outside the reader's scope: the sample contact
        return None


def _company(records: Any, contact: Any) -> Any:
    if contact is None or contact.company_id is None:
        return None
    try:
        return records.get("companies", contact.company_id)
    except CRMError:
        return None


def _compiled(records: Any, draft: Draft, name: str) -> compose.Compiled:
    return compose._compile(
        records.crm,
        subject=draft.subject,
        body_html=draft.body_html,
        body_text=draft.body_text or None,
        from_email=None,
        from_name=None,
        reply_to=None,
        name=name,
        campaign_id=None,
    )


def render(records: Any, draft: Draft, name: str) -> dict[str, Any]:
    """``subject``, ``html`` and ``text`` of the draft for its contact, or ``error``."""
    contact = _contact(records, draft.contact_id)
    try:
        content = _compiled(records, draft, name)
        context = compose.preview_context(records.crm, content, contact, _company(records, contact))
        parts = compose.preview_parts(
            records.crm, content, context, contact_locale(current_app, contact)
        )
    except (compose.ComposeError, templating.RenderError) as exc:
        return {"error": str(exc), "contact": contact}
    return {
        "subject": parts.subject,
        "html": parts.html,
        "text": parts.text,
        "error": None,
        "contact": contact,
    }


def send_test(records: Any, draft: Draft, name: str, to: str) -> str:
    """Send the draft for its contact to ``to``; the address, or ``ValidationError``."""
    from .content_api import _allow_test

    if not records.access.has("marketing.send"):
        raise ValidationError({"to": [_("You may not send test messages.")]})
    address, problem = normal_address(to)
    if problem or not address:
        raise ValidationError({"to": [problem or _("Give the address to send the test to.")]})
    _allow_test(getattr(records.user, "id", None))
    contact = _contact(records, draft.contact_id)
    try:
        content = _compiled(records, draft, name)
        context = compose.preview_context(records.crm, content, contact, _company(records, contact))
        message = compose.trial_message(
            records.crm, content, address, context, contact_locale(current_app, contact)
        )
    except (compose.ComposeError, templating.RenderError) as exc:
        raise ValidationError({"body_html": [str(exc)]}) from None
    try:
        send(current_app, message)
    except MailError as exc:
        raise ValidationError(
            {"to": [_("The mail server did not take the test message.")]}
        ) from exc
    return address
