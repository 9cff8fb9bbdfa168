"""The campaign wizard: audience (a segment or list) -> content (a template) -> schedule ->
review (recipients after opt-outs, spam-risk hints) -> send.

Stateless: each step posts every answer so far (hidden fields), so Back and Next lose nothing
and nothing is stored until Send, which creates the campaign through the record service and
starts it (now or at the chosen time).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func

from crmcore import CRMError

from . import compose, segments
from .content import normal_address

STEPS = ("audience", "content", "schedule", "review")
MAX_LINKS = 15
MIN_CAPS = 8


@dataclass
class Answers:
    """What the wizard's form holds."""

    name: str = ""
    segment_id: int | None = None
    template_id: int | None = None
    from_email: str = ""
    when: str = "now"
    at: str = ""
    step: str = "audience"
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_form(cls, form: Any) -> Answers:
        step = str(form.get("step", "audience"))
        return cls(
            name=str(form.get("name", ""))[:200],
            segment_id=_id(form.get("segment_id")),
            template_id=_id(form.get("template_id")),
            from_email=str(form.get("from_email", ""))[:254],
            when="later" if form.get("when") == "later" else "now",
            at=str(form.get("at", ""))[:40],
            step=step if step in STEPS else "audience",
        )


def _id(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


def check_step(records: Any, answers: Answers, step: str, tz_name: str) -> dict[str, str]:
    """Messages per field of one step (empty when it may go on)."""
    errors: dict[str, str] = {}
    if step == "audience":
        if not answers.name.strip():
            errors["name"] = _("Give the campaign a name.")
        if answers.segment_id is None:
            errors["segment_id"] = _("Choose a segment or a list.")
        else:
            try:
                records.get("segments", answers.segment_id)
            except CRMError:
                errors["segment_id"] = _("No such segment.")
    elif step == "content":
        if answers.template_id is None:
            errors["template_id"] = _("Choose a template.")
        else:
            try:
                records.get("email_templates", answers.template_id)
            except CRMError:
                errors["template_id"] = _("No such template.")
        address, problem = normal_address(answers.from_email)
        if problem or not address:
            errors["from_email"] = problem or _("Give the sender's address.")
    elif step == "schedule" and answers.when == "later":
        try:
            if send_at(answers, tz_name) <= dt.datetime.now(dt.UTC):
                errors["at"] = _("Choose a time in the future.")
        except CRMError:
            errors["at"] = _("Give a date and time.")
    return errors


def send_at(answers: Answers, tz_name: str) -> dt.datetime:
    from .web import parse_local

    return parse_local(answers.at, tz_name)


def audience(records: Any, segment: Any) -> dict[str, Any]:
    """``members``, ``opted_out``, ``no_email`` and ``recipients`` (who will get it) among the
    segment's contacts the user may see; ``error`` when the segment cannot be evaluated."""
    model = records.entity("contacts").model
    try:
        stmt = segments.members_query(records.crm, records, segment)
    except CRMError as exc:
        return {"error": str(exc.detail)}
    counted = stmt.with_only_columns(
        func.count(model.id),
        func.count(model.id).filter(model.email_opt_out.is_(True)),
        func.count(model.id).filter(model.email.is_(None) | (model.email == "")),
        func.count(model.id).filter(
            model.email_opt_out.is_not(True), model.email.is_not(None), model.email != ""
        ),
    ).order_by(None)
    members, opted_out, no_email, recipients = records.session.execute(counted).one()
    return {
        "error": None,
        "members": members,
        "opted_out": opted_out,
        "no_email": no_email,
        "recipients": recipients,
    }


_WORD = re.compile(r"[^\W\d_]+")


def spam_hints(subject: str, body_html: str, body_text: str | None) -> list[str]:
    """What spam filters and readers hold against a message; empty when nothing stands out."""
    hints = []
    words = "".join(_WORD.findall(subject or ""))
    if len(words) >= MIN_CAPS and words.isupper():
        hints.append(_("The subject is in capitals."))
    if (subject or "").count("!") >= 2:
        hints.append(_("The subject has several exclamation marks."))
    if "unsubscribe_url" not in (body_html or ""):
        hints.append(
            _("The template has no unsubscribe link; a standard footer with one will be added.")
        )
    links = compose.link_urls(body_html or "")
    if len(links) > MAX_LINKS:
        hints.append(_("The message has %(num)s links; many links look like spam.", num=len(links)))
    text = re.sub(r"<[^>]+>", " ", body_html or "")
    if (body_html or "").count("<img") >= 1 and len(text.split()) < 20:
        hints.append(_("The message is mostly images with little text."))
    return hints
