"""Built-in plugin: notes, tasks, logged activities and attachments."""

from __future__ import annotations

from typing import Any

from ..contributions import MenuItem, Widget
from ..db import utcnow
from ..errors import CRMError, ValidationError
from ..plugins import BUILTINS, hookimpl
from ..registry import Entity
from ..timeline import TimelineContext, TimelineItem
from . import timeline
from .models import Activity, Attachment, Note, Task
from .schemas import ActivitySchema, AttachmentSchema, NoteSchema, TaskSchema

PLUGIN = BUILTINS[__name__]


def check_link(values: dict[str, Any], record: Any, service: Any) -> None:
    """The linked record must exist and be readable; store the entity's singular name."""
    record_type = values.get("record_type", getattr(record, "record_type", None))
    record_id = values.get("record_id", getattr(record, "record_id", None))
    if record_type is None and record_id is None:
        return
    if record_type is None or record_id is None:
        raise ValidationError({"record_type": ["Give both record_type and record_id."]})
    try:
        entity = service.entity(record_type)
        service.get(entity, record_id)
    except CRMError:
        raise ValidationError({"record_id": ["No such record."]}) from None
    if entity.name in ("note", "attachment"):
        raise ValidationError({"record_type": ["Cannot link to this kind of record."]})
    values["record_type"] = entity.name


def prepare_task(values: dict[str, Any], record: Task | None, service: Any) -> None:
    check_link(values, record, service)
    status = values.get("status")
    if status is not None and status != getattr(record, "status", None):
        values["completed_at"] = utcnow() if status == "done" else None
    if "reminder_at" in values:
        values["reminded_at"] = None


@hookimpl
def crm_entities() -> list[Entity]:
    return [
        Entity(
            name="note",
            model=Note,
            schema=NoteSchema,
            plural="notes",
            title="Note",
            title_fields=("body",),
            search_fields=("body",),
            list_columns=("record_type", "record_id", "owner_id", "created_at"),
            filter_fields=("record_type", "record_id"),
            prepare=check_link,
            linked_to=("record_type", "record_id"),
        ),
        Entity(
            name="task",
            model=Task,
            schema=TaskSchema,
            plural="tasks",
            title="Task",
            title_fields=("title",),
            search_fields=("title", "description"),
            list_columns=("title", "status", "priority", "due_at", "assignee_id"),
            owner_field="assignee_id",
            filter_fields=("record_type", "record_id"),
            prepare=prepare_task,
        ),
        Entity(
            name="activity",
            model=Activity,
            schema=ActivitySchema,
            plural="activities",
            title="Activity",
            title_plural="Activities",
            title_fields=("subject",),
            search_fields=("subject", "body"),
            list_columns=("kind", "subject", "occurred_at", "owner_id"),
            filter_fields=("record_type", "record_id", "direction"),
            prepare=check_link,
            linked_to=("record_type", "record_id"),
        ),
        Entity(
            name="attachment",
            model=Attachment,
            schema=AttachmentSchema,
            plural="attachments",
            title="Attachment",
            title_fields=("filename",),
            list_columns=("filename", "content_type", "size", "created_at"),
            filter_fields=("record_type", "record_id"),
            prepare=check_link,
            linked_to=("record_type", "record_id"),
            api_create=False,
        ),
    ]


@hookimpl
def crm_menu_items() -> list[MenuItem]:
    return [MenuItem("Tasks", "/tasks", permission="tasks.read", order=30)]


def _l(text: str) -> str:
    """Mark ``text`` for the web catalogue; the page translates it when it shows it."""
    return text


def open_tasks_chart(user: Any, records: Any) -> dict[str, Any]:
    """The open tasks the user may read, by priority, as a bar chart."""
    from flask_babel import gettext
    from sqlalchemy import func, select

    if not records.access.can("tasks", "read"):
        return {}
    scoped = records.query("tasks").where(Task.status == "open").subquery()
    rows = records.session.execute(
        select(scoped.c.priority, func.count()).group_by(scoped.c.priority)
    ).all()
    counts = {priority: int(count) for priority, count in rows}
    levels = (("high", gettext("High")), ("normal", gettext("Normal")), ("low", gettext("Low")))
    return {
        "chart": {
            "type": "bar",
            "labels": [text for _key, text in levels],
            "series": [
                {"label": gettext("Open tasks"), "data": [counts.get(k, 0) for k, _t in levels]}
            ],
        }
    }


@hookimpl
def crm_dashboard_widgets() -> list[Widget]:
    return [Widget("open-tasks", _l("Open tasks by priority"), open_tasks_chart, order=20)]


@hookimpl
def crm_timeline_items(ctx: TimelineContext) -> list[TimelineItem]:
    """Notes, tasks, calls, meetings, e-mails, attachments and the record's changes."""
    return timeline.items(ctx)
