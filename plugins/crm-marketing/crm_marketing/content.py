"""Campaign and template content: what is checked when it is saved.

Both ``prepare`` steps run inside the record service (API, web forms, imports alike):

- every template field compiles and renders against the sample context in the sandbox
  (:func:`crm_marketing.templating.check`): syntax errors, sandbox escapes and unknown
  placeholders are field errors naming the line;
- header fields cannot carry a header of their own: no line breaks or control characters in
  the subject, from name or addresses, one plain address in ``from_email``/``reply_to``
  (validated with email-validator, stored normalised), no commas or angle brackets in them
  nor in the from name;
- a campaign's segment and template must exist; choosing a template copies its subject and
  bodies into the campaign where none were given;
- once a campaign left ``draft`` its content is frozen: what was (or is being) sent is what
  the campaign shows.
"""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email

from crmcore import CRMError, ValidationError

from . import templating
from .models import Campaign, EmailTemplate, Segment

#: what a campaign's messages are made of; frozen once the campaign left draft
CONTENT_FIELDS = (
    "kind",
    "segment_id",
    "template_id",
    "subject",
    "body_html",
    "body_text",
    "from_email",
    "from_name",
    "reply_to",
)
_TEMPLATE_FIELDS = ("subject", "body_html", "body_text")
_CONTROL = {chr(c) for c in range(32)} - {"\t"} | {"\x7f"}
_ADDRESS_FORBIDDEN = set(",;<>\"'() \t") | _CONTROL


def _header_problem(value: str) -> str | None:
    if "\r" in value or "\n" in value:
        return "Line breaks are not allowed here (they would add e-mail headers)."
    if any(c in _CONTROL for c in value):
        return "Control characters are not allowed here."
    return None


def _check_name(value: str | None) -> str | None:
    if not value:
        return None
    problem = _header_problem(value)
    if problem:
        return problem
    if any(c in value for c in ",<>"):
        return "Commas and angle brackets are not allowed in a sender name."
    return None


def normal_address(value: str | None) -> tuple[str | None, str | None]:
    """``(normalised address, problem)`` for one plain address (from, reply-to, test)."""
    if value is None or not value.strip():
        return None, None
    value = value.strip()
    problem = _header_problem(value)
    if problem:
        return None, problem
    if any(c in _ADDRESS_FORBIDDEN for c in value):
        return None, (
            "Give one plain address such as news@example.com, without a name, commas, "
            "spaces or angle brackets."
        )
    try:
        found = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        return None, f"Not a valid e-mail address: {exc}"
    return found.normalized, None


def _check_templates(values: dict[str, Any], errors: dict[str, list[str]]) -> None:
    subject = values.get("subject")
    if subject:
        problem = _header_problem(subject)
        if problem:
            errors.setdefault("subject", []).append(problem)
        else:
            _collect(errors, subject, "subject", html=False)
    if values.get("body_html"):
        _collect(errors, values["body_html"], "body_html", html=True)
    if values.get("body_text"):
        _collect(errors, values["body_text"], "body_text", html=False)


def _collect(errors: dict[str, list[str]], source: str, field: str, *, html: bool) -> None:
    try:
        templating.check(source, field=field, html=html)
    except ValidationError as exc:
        errors.setdefault(field, []).extend(exc.messages[field])


def prepare_template(values: dict[str, Any], record: EmailTemplate | None, service: Any) -> None:
    """A template's subject and bodies must render in the sandbox; the subject cannot break
    the header."""
    errors: dict[str, list[str]] = {}
    _check_templates(values, errors)
    if errors:
        raise ValidationError(errors)


def _refuse_frozen(values: dict[str, Any], record: Campaign | None) -> None:
    if record is None or record.status == "draft":
        return
    changed = {
        name: ["The campaign is no longer a draft: its content cannot change."]
        for name in CONTENT_FIELDS
        if name in values and values[name] != getattr(record, name)
    }
    if changed:
        raise ValidationError(changed)


def _apply_template(
    values: dict[str, Any], record: Campaign | None, service: Any, errors: dict[str, list[str]]
) -> None:
    template_id = values.get("template_id")
    if template_id is None or (record is not None and record.template_id == template_id):
        return
    try:
        template = service.get("email_templates", template_id)
    except CRMError:  # not found, or not readable by this user: the same answer
        errors["template_id"] = ["No such template."]
        return
    for name in _TEMPLATE_FIELDS:
        if not values.get(name):
            values[name] = getattr(template, name)


def prepare_campaign(values: dict[str, Any], record: Campaign | None, service: Any) -> None:
    """Segment and template exist, content renders, header fields are single and clean,
    content frozen once the campaign left draft."""
    _refuse_frozen(values, record)
    errors: dict[str, list[str]] = {}
    segment_id = values.get("segment_id")
    if segment_id is not None:
        segment = service.session.get(Segment, segment_id)
        if segment is None or segment.deleted_at is not None:
            errors["segment_id"] = ["No such segment."]
    _apply_template(values, record, service, errors)
    _check_templates(values, errors)
    for name in ("from_email", "reply_to"):
        if name in values:
            normal, problem = normal_address(values[name])
            if problem:
                errors[name] = [problem]
            else:
                values[name] = normal
    if "from_name" in values:
        problem = _check_name(values["from_name"])
        if problem:
            errors["from_name"] = [problem]
        elif values["from_name"] is not None:
            values["from_name"] = values["from_name"].strip() or None
    if errors:
        raise ValidationError(errors)


def ready_problems(campaign: Campaign) -> dict[str, list[str]]:
    """What keeps a campaign from being sent (empty when it can go): a draft may be saved
    incomplete, sending needs a segment and, for e-mail, a subject and a body."""
    problems: dict[str, list[str]] = {}
    if campaign.segment_id is None:
        problems["segment_id"] = ["Choose the segment to send to."]
    if campaign.kind == "email":
        if not (campaign.subject or "").strip():
            problems["subject"] = ["An e-mail campaign needs a subject."]
        if not (campaign.body_html or "").strip():
            problems["body_html"] = ["An e-mail campaign needs a body."]
    return problems


def check_ready(campaign: Campaign) -> None:
    """Raise :class:`crmcore.ValidationError` unless the campaign can be sent."""
    problems = ready_problems(campaign)
    if problems:
        raise ValidationError(problems, "The campaign is not ready to send.")
