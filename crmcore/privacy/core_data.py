"""The core's part of a person's data: contacts, their companies, notes, tasks, activities,
attachments and history; and the traces of them left elsewhere (audit rows of other records,
search documents, notifications, import reports, the file outbox)."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from typing import Any

from sqlalchemy import select

from ..activities.models import Activity, Attachment, Note, Task
from ..audit import AuditEntry
from ..contacts.models import Company
from ..importing.models import ImportJob
from ..mail.outbox import outbox_path
from ..notifications import Notification
from .person import Person, PersonData, scrub_search


def sections(person: Person) -> list[PersonData]:
    """What the core holds about ``person``; the contacts are purged last."""
    session, ids = person.session, person.contact_ids
    company_ids = sorted({c.company_id for c in person.contacts if c.company_id})
    companies = (
        list(session.scalars(select(Company).where(Company.id.in_(company_ids))))
        if company_ids
        else []
    )
    out = [
        PersonData("core.traces", erase=lambda: _erase_traces(person)),
        PersonData(
            "core.contacts",
            [person.row(c) for c in person.contacts],
            erase=lambda: person.purge("contact", ids),
        ),
        PersonData("core.companies", [person.row(c) for c in companies]),
    ]
    for name, model in (("notes", Note), ("activities", Activity), ("attachments", Attachment)):
        rows = (
            list(
                session.scalars(
                    select(model).where(model.record_type == "contact", model.record_id.in_(ids))
                )
            )
            if ids
            else []
        )
        out.append(PersonData(f"core.{name}", [person.row(r) for r in rows]))
    out[-1].files = person.files("contact", ids)
    tasks = (
        list(
            session.scalars(
                select(Task).where(Task.record_type == "contact", Task.record_id.in_(ids))
            )
        )
        if ids
        else []
    )
    out.append(PersonData("core.tasks", [person.row(t) for t in tasks]))
    history = (
        list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity == "contact", AuditEntry.record_id.in_(ids))
                .order_by(AuditEntry.id)
            )
        )
        if ids
        else []
    )
    out.append(PersonData("core.history", [person.row(a) for a in history]))
    return out


def _erase_traces(person: Person) -> None:
    """Pseudonymise what mentions the person in rows that are kept; runs after every plugin
    and the contacts' purge (it is the core's first section, erasers run in reverse)."""
    person.scrub_rows(AuditEntry, ["changes"])
    # other records' notes and logged activities that name the person
    person.scrub_rows(Note, ["body"])
    person.scrub_rows(Activity, ["subject", "body"])
    person.scrub_rows(Task, ["title", "description"])
    person.scrub_rows(Notification, ["title", "body"])
    person.scrub_rows(ImportJob, ["filename", "error"])
    scrub_search(person)
    _erase_outbox(person)


def _erase_outbox(person: Person) -> None:
    """Messages to or about the person waiting in (or kept by) the file outbox are deleted."""
    folder = outbox_path(person.crm.settings.instance_path)
    if not folder.is_dir():
        return
    needles = [t.lower() for t in person.terms]
    for path in folder.glob("*.eml"):
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        text = _message_text(raw).lower()
        if any(n in text for n in needles):
            path.unlink(missing_ok=True)


def _message_text(raw: bytes) -> str:
    """The headers and decoded text parts of a message (bodies may be base64 or QP)."""
    try:
        message: Any = BytesParser(policy=policy.default).parsebytes(raw)
        parts = [str(v) for _k, v in message.items()]
        for part in message.walk():
            if part.get_content_maintype() == "text":
                parts.append(part.get_content())
        return "\n".join(parts)
    except Exception:  # a malformed file: compare its raw bytes
        return raw.decode("utf-8", "replace")
