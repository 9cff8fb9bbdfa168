"""REST endpoints of campaign and template content: previews and test messages.

``POST /api/v1/email_templates/<id>/preview``  ``{"contact_id"}``: ``{"subject", "html", "text"}``
``POST /api/v1/campaigns/<id>/preview``        the same for a campaign
``POST /api/v1/email_templates/<id>/test``     ``{"to", "contact_id"}``: one test message
``POST /api/v1/campaigns/<id>/test``           the same for a campaign

Previews and test messages are rendered for a contact the caller may read (their scope: any
other id is "No such contact."), or for the sample contact when no ``contact_id`` is given.
Nothing is tracked: links stay as written, no open pixel, and the unsubscribe link belongs to
nobody. A test message needs the ``marketing.send`` permission, goes to one valid address, has
``[Test]`` before its subject and is limited to :data:`TEST_RATE` per user.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, g
from flask_smorest import Blueprint
from limits import parse_many
from marshmallow import Schema, fields, validate

from crmcore import CRMError, PermissionDenied, ValidationError, current_crm
from crmcore.mail import MailError, send
from crmcore.web.i18n import contact_locale

from . import compose
from .content import normal_address

#: test messages per user
TEST_RATE = "10 per minute;100 per day"


class TooManyRequests(CRMError):
    status = 429
    title = "Too many requests"


class MailNotSent(CRMError):
    status = 502
    title = "Bad gateway"


class PreviewInput(Schema):
    contact_id = fields.Integer(
        load_default=None,
        allow_none=True,
        metadata={"description": "render for this contact; omitted: the sample contact"},
    )


class TestInput(PreviewInput):
    to = fields.String(
        required=True,
        validate=validate.Length(3, 254),
        metadata={"description": "the one address the test message goes to"},
    )


class PreviewOutput(Schema):
    subject = fields.String()
    html = fields.String(metadata={"description": "the sanitised HTML document"})
    text = fields.String(metadata={"description": "the plain-text part"})


class TestOutput(Schema):
    to = fields.String()
    subject = fields.String()


def _records() -> Any:
    return current_crm().records(g.crm_access)


def _contact(records: Any, contact_id: int | None) -> Any:
    """The contact to render for, within the caller's scope; ``None`` for the sample."""
    if contact_id is None:
        return None
    try:
        return records.get("contacts", contact_id)
    except CRMError:  # not found, outside the scope, or no right to read contacts at all
        raise ValidationError({"contact_id": ["No such contact."]}) from None


def _company(records: Any, contact: Any) -> Any:
    """The contact's company, when the caller may read it (else its fields render empty)."""
    if contact is None or contact.company_id is None:
        return None
    try:
        return records.get("companies", contact.company_id)
    except CRMError:
        return None


def _content(records: Any, plural: str, record_id: int) -> compose.Compiled:
    record = records.get(plural, record_id)
    crm = records.crm
    try:
        if plural == "campaigns":
            return compose.compiled(crm, record)
        return compose.compiled_template(crm, record)
    except compose.ComposeError as exc:
        raise ValidationError({"_schema": [str(exc)]}) from None


def _render(
    records: Any, plural: str, record_id: int, contact_id: int | None
) -> tuple[compose.Compiled, Any, str]:
    """The content, the context for the contact (within the caller's scope) and the language."""
    content = _content(records, plural, record_id)
    contact = _contact(records, contact_id)
    context = compose.preview_context(records.crm, content, contact, _company(records, contact))
    return content, context, contact_locale(current_app, contact)


def preview(records: Any, plural: str, record_id: int, contact_id: int | None) -> dict[str, str]:
    """``{"subject", "html", "text"}`` of a campaign or template for a contact."""
    content, context, lang = _render(records, plural, record_id, contact_id)
    try:
        parts = compose.preview_parts(records.crm, content, context, lang)
    except compose.ComposeError as exc:
        raise ValidationError({"_schema": [str(exc)]}) from None
    return {"subject": parts.subject, "html": parts.html, "text": parts.text}


def _allow_test(user_id: Any) -> None:
    limiter = current_crm().limiter.limiter
    for item in parse_many(TEST_RATE):
        if not limiter.hit(item, "crm-marketing", "test-send", str(user_id)):
            raise TooManyRequests(f"At most {TEST_RATE.replace(';', ' and ')} test messages.")


def send_test(
    records: Any, plural: str, record_id: int, to: str, contact_id: int | None
) -> dict[str, str]:
    """Send one test message of a campaign or template to ``to``."""
    if not records.access.has("marketing.send"):
        raise PermissionDenied("You may not send campaigns or test messages.")
    content, context, lang = _render(records, plural, record_id, contact_id)
    address, problem = normal_address(to)
    if problem or not address:
        raise ValidationError({"to": [problem or "Give the address to send the test to."]})
    _allow_test(getattr(records.user, "id", None))
    try:
        message = compose.trial_message(records.crm, content, address, context, lang)
    except compose.ComposeError as exc:
        raise ValidationError({"_schema": [str(exc)]}) from None
    try:
        send(current_app, message)
    except MailError as exc:
        raise MailNotSent(f"The mail server did not take the test message: {exc}") from None
    return {"to": address, "subject": str(message["Subject"])}


def blueprint() -> Blueprint:
    """Previews and test messages of campaigns and e-mail templates."""
    blp = Blueprint(
        "marketing_content",
        __name__,
        url_prefix="/api/v1",
        description="Marketing: previews and test messages of campaigns and templates",
    )

    for plural, title in (("campaigns", "campaign"), ("email_templates", "e-mail template")):
        _routes(blp, plural, title)
    return blp


def _routes(blp: Blueprint, plural: str, title: str) -> None:
    @blp.route(f"/{plural}/<int:record_id>/preview", methods=["POST"], endpoint=f"{plural}_preview")
    @blp.arguments(PreviewInput, location="json")
    @blp.response(200, PreviewOutput)
    @blp.doc(summary=f"The {title} rendered for a contact (no tracking)")
    def preview_view(data: dict[str, Any], record_id: int) -> Any:
        return preview(_records(), plural, record_id, data.get("contact_id"))

    @blp.route(f"/{plural}/<int:record_id>/test", methods=["POST"], endpoint=f"{plural}_test")
    @blp.arguments(TestInput, location="json")
    @blp.response(200, TestOutput)
    @blp.doc(summary=f"Send one test message of the {title} (needs marketing.send)")
    def test_view(data: dict[str, Any], record_id: int) -> Any:
        return send_test(_records(), plural, record_id, data["to"], data.get("contact_id"))
