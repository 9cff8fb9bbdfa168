"""The core's part of a record's timeline: notes, tasks, calls, meetings, e-mails, attachments
(a company's include its contacts') and the record's own changes."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, or_, select

from ..audit import AuditEntry
from ..timeline import TimelineContext, TimelineItem
from ..web.i18n import AUDIT_ACTIONS, choice_text, label
from .models import Activity, Attachment, Note, Task

KIND_LABELS = {
    "note": _l("Notes"),
    "task": _l("Tasks"),
    "call": _l("Calls"),
    "meeting": _l("Meetings"),
    "email": _l("E-mails"),
    "attachment": _l("Attachments"),
    "change": _l("Changes"),
}
ACTIVITY_TITLES = {"call": _l("Call"), "meeting": _l("Meeting"), "email": _l("E-mail")}
_SUMMARY = 300
#: The entity each kind is read from (a change: the record's own).
_SOURCE: dict[str, Any] = {
    "note": "notes",
    "task": "tasks",
    "call": "activities",
    "meeting": "activities",
    "email": "activities",
    "attachment": "attachments",
}


def items(ctx: TimelineContext) -> list[TimelineItem]:
    """The core's items for ``ctx``'s record, one query per kind asked for."""
    access = ctx.records.access
    wanted = {
        kind
        for kind, text in KIND_LABELS.items()
        if access.can(_SOURCE.get(kind, ctx.entity), "read") and ctx.wants(kind, text)
    }
    out: list[TimelineItem] = []
    if "note" in wanted:
        for note in ctx.records.session.scalars(_linked(ctx, "notes", Note, Note.created_at)):
            out.append(
                TimelineItem(
                    "note", note.created_at, gettext("Note"), note.body[:_SUMMARY],
                    None, note.owner_id, note.id, _dump(ctx, "notes", note),
                )
            )  # fmt: skip
    if "task" in wanted:
        for task in ctx.records.session.scalars(_linked(ctx, "tasks", Task, Task.created_at)):
            out.append(
                TimelineItem(
                    "task", task.created_at, task.title, choice_text(task.status, "status"),
                    ctx.link("tasks", task.id), task.assignee_id, task.id,
                    _dump(ctx, "tasks", task),
                )
            )  # fmt: skip
    activity_kinds = wanted & set(ACTIVITY_TITLES)
    if activity_kinds:
        stmt = _linked(ctx, "activities", Activity, Activity.occurred_at)
        for act in ctx.records.session.scalars(stmt.where(Activity.kind.in_(activity_kinds))):
            kind_title = ACTIVITY_TITLES.get(act.kind, act.kind)
            out.append(
                TimelineItem(
                    act.kind, act.occurred_at, f"{kind_title}: {act.subject}",
                    (act.body or "")[:_SUMMARY], None, act.owner_id, act.id,
                    _dump(ctx, "activities", act),
                )
            )  # fmt: skip
    if "attachment" in wanted:
        stmt = _linked(ctx, "attachments", Attachment, Attachment.created_at)
        for att in ctx.records.session.scalars(stmt):
            out.append(
                TimelineItem(
                    "attachment", att.created_at, att.filename, att.filename,
                    f"/api/v1/attachments/{att.id}/content", att.owner_id, att.id,
                    _dump(ctx, "attachments", att),
                )
            )  # fmt: skip
    if "change" in wanted:
        out.extend(_changes(ctx))
    return out


def _linked(ctx: TimelineContext, plural: str, model: Any, time: Any) -> Select[Any]:
    """The query of readable rows of ``model`` attached to the record (on a company, also to
    its contacts), newest first, as many as the page needs."""
    entity = ctx.records.entity(plural)
    on_record = and_(model.record_type == ctx.entity.name, model.record_id == ctx.record.id)
    if ctx.is_company:
        on_record = or_(
            on_record,
            and_(model.record_type == "contact", model.record_id.in_(ctx.contact_ids())),
        )
    stmt = ctx.records.query(entity).where(on_record).order_by(time.desc(), model.id.desc())
    return stmt.limit(ctx.fetch)


def _dump(ctx: TimelineContext, plural: str, row: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = ctx.records.entity(plural).dump_schema.dump(row)
    return dumped


def _changes(ctx: TimelineContext) -> list[TimelineItem]:
    rows = ctx.records.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity == ctx.entity.name, AuditEntry.record_id == ctx.record.id)
        .order_by(AuditEntry.id.desc())
        .limit(ctx.fetch)
    )
    out = []
    for entry in rows:
        line = change_summary(ctx.entity, entry.action, entry.changes)
        data = {"changes": entry.changes, "action": entry.action}
        item = TimelineItem("change", entry.at, line, line, None, entry.user_id, entry.id, data)
        out.append(item)
    return out


def change_summary(entity: Any, action: str, changes: dict[str, Any] | None) -> str:
    """A change in the reader's language: "Changed Company, Title" with the fields' labels."""
    if action != "update":
        text = AUDIT_ACTIONS.get(action)
        return str(text) if text is not None else action
    names = ", ".join(
        label(name.removeprefix("custom_fields."), entity) for name in sorted(changes or {})
    )
    return str(gettext("Changed %(fields)s", fields=names))
