"""What a record's page shows: fields, related records, the timeline with its inline forms,
plugin panels and the audit history."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any
from urllib.parse import urlencode

from flask import request
from markupsafe import Markup
from sqlalchemy import select

from ..app import current_crm
from ..audit import AuditEntry
from ..parsing import whole_number
from ..records import RecordService
from ..registry import Entity
from ..timeline import TimelinePage, build, parse_kinds
from .display import USER_FIELDS, choice_of, resolve
from .forms import HIDDEN, ordered_fields
from .i18n import AUDIT_ACTIONS, label
from .line_editor import detail_tables

log = logging.getLogger(__name__)
HISTORY_LIMIT = 50
#: Rows shown per related-records section; the rest are one link away.
RELATED_LIMIT = 10


def shown_fields(entity: Entity) -> list[str]:
    """Fields on the detail page: every readable schema field but system and secret ones."""
    out = []
    for name, schema_field in ordered_fields(entity):
        if name in HIDDEN or schema_field.load_only or name not in entity.columns:
            continue
        out.append(name)
    return out


def panels(records: RecordService, entity: Entity, record: Any) -> list[dict[str, Any]]:
    """Panels of enabled plugins for this record; a failing panel is left out, not fatal."""
    crm = current_crm()
    found = [
        p
        for _plugin, p in crm.collect("crm_record_panels")
        if p.entity in (entity.name, entity.plural)
        and (p.permission is None or records.access.has(p.permission))
    ]
    out = []
    for panel in sorted(found, key=lambda p: (p.order, p.name)):
        try:
            html = panel.render(record, records.user, records)
        except Exception:
            log.exception("panel %s failed", panel.name)
            continue
        if html is not None:
            # the Panel contract: plugins return markup with everything users wrote escaped
            out.append(
                {
                    "name": panel.name,
                    "title": panel.title,
                    "html": Markup(str(html)),  # noqa: S704
                    "replaces": panel.replaces,
                    "add": [],
                }
            )
    return out


def foreign_keys_to(entity: Entity, other: Entity) -> list[str]:
    """Columns of ``other`` holding a foreign key to ``entity``'s table (``company_id``)."""
    names = []
    for key, attribute in other.columns.items():
        column = getattr(attribute, "property", None)
        for col in getattr(column, "columns", ()):
            if any(fk.column.table.name == entity.table for fk in col.foreign_keys):
                names.append(key)
    return names


def related(records: RecordService, entity: Entity, record: Any) -> list[dict[str, Any]]:
    """Records of enabled entities that point to ``record`` through a foreign key, each list
    within the reader's scope (an entity they may not read is left out)."""
    out = []
    for other in current_crm().entities():
        if entity.name == "user" or not records.access.can(other, "read"):
            continue  # every owned record points to a user: the lists would say nothing
        for column in foreign_keys_to(entity, other):
            if not _listed_as_related(other, column):
                continue
            attribute = other.attribute(column)
            stmt = records.query(other).where(attribute == record.id)
            stmt = stmt.order_by(other.model.id.desc()).limit(RELATED_LIMIT + 1)
            rows = list(records.session.scalars(stmt))
            more_url = None
            if len(rows) > RELATED_LIMIT and column in other.filterable:
                more_url = f"/{other.plural}?{column}={record.id}"
            out.append(
                {
                    "entity": other,
                    "field": column,
                    "rows": rows[:RELATED_LIMIT],
                    "more_url": more_url,
                    "new_url": (
                        f"/{other.plural}/new"
                        if records.access.can(other, "create") and other.api_create
                        else None
                    ),
                    "key": f"{other.plural}-{column}",
                    "ref": f"{other.plural}.{column}",
                }
            )
    return out


def _listed_as_related(entity: Entity, column: str) -> bool:
    """A schema field with ``metadata={"related_list": False}`` keeps its records out of the
    related lists of the record it points at (a plugin panel shows them its own way, or they
    would only be noise there)."""
    declared = getattr(entity.schema, "_declared_fields", {}).get(column)
    return declared is None or declared.metadata.get("related_list", True) is not False


def _user_names(records: RecordService, ids: set[Any]) -> dict[int, str]:
    from ..users.models import User

    ids = {i for i in ids if isinstance(i, int)}
    if not ids:
        return {}
    return {
        u.id: u.name or u.email
        for u in records.session.scalars(select(User).where(User.id.in_(ids)))
    }


def history(records: RecordService, entity: Entity, record_id: int) -> list[AuditEntry]:
    return list(
        records.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity == entity.name, AuditEntry.record_id == record_id)
            .order_by(AuditEntry.id.desc())
            .limit(HISTORY_LIMIT)
        )
    )


def timeline_page(records: RecordService, entity: Entity, record_id: int) -> TimelinePage:
    """The page of the record's timeline that the query string asks for (``kind``, ``cursor``);
    kinds the timeline does not have are ignored and a cursor that is not a number starts from
    the top, as a hand-edited link should."""
    args = request.args
    offset = whole_number(args.get("cursor") or "0") or 0
    kinds = parse_kinds(args.getlist("kind"))
    page = build(records, entity, record_id, kinds=kinds, offset=offset)
    if kinds is not None and not kinds <= set(page.kinds):
        known = frozenset(kinds & set(page.kinds)) or None
        page = build(records, entity, record_id, kinds=known, offset=offset)
    return page


def timeline_vars(records: RecordService, entity: Entity, page: TimelinePage) -> dict[str, Any]:
    """Template variables of the timeline list, its filter and its "load more" link."""
    selected = sorted(set(parse_kinds(request.args.getlist("kind")) or ()) & set(page.kinds))
    more_url = None
    if page.next_offset is not None:
        more_url = "?" + urlencode([*(("kind", k) for k in selected), ("cursor", page.next_offset)])
    return {
        "timeline": page.items,
        "timeline_kinds": page.kinds,
        "timeline_selected": selected,
        "timeline_more": more_url,
        "timeline_people": page.actors,
    }


def context(records: RecordService, entity: Entity, record_id: int, tz_name: str) -> dict[str, Any]:
    """Template variables of the detail page; ``NotFound`` when the user may not read it."""
    record = records.get(entity, record_id)
    names = shown_fields(entity)
    refs = resolve(records, entity, [record], names)
    custom = []
    if entity.has_custom_fields:
        values = record.custom_fields or {}
        custom = [
            (d.shown_label, values.get(d.name))
            for d in current_crm().custom_field_defs(records.session, entity)
        ]
    page = timeline_page(records, entity, record_id)
    changes = history(records, entity, record_id)
    people = _user_names(
        records, {c.user_id for c in changes} | {getattr(record, f, None) for f in USER_FIELDS}
    )
    access = records.access
    shown_panels = panels(records, entity, record)
    sections = related(records, entity, record)
    for panel in shown_panels:
        for section in [s for s in sections if s["ref"] in panel["replaces"]]:
            sections.remove(section)
            if section["new_url"]:
                panel["add"].append(section)
    return {
        "entity": entity,
        "record": record,
        "fields": names,
        "refs": refs,
        "nested_tables": detail_tables(entity, record),
        "custom": custom,
        "label": partial(label, entity=entity),
        "choice": partial(choice_of, entity),
        "audit_action": audit_action,
        **timeline_vars(records, entity, page),
        "history": changes,
        "people": people,
        "panels": shown_panels,
        "can_update": access.allows_record(entity, "update", record, records.session),
        "can_delete": access.allows_record(entity, "delete", record, records.session),
        "can_note": access.can("notes", "create"),
        "can_task": access.can("tasks", "create"),
        "can_activity": access.can("activities", "create"),
        "related": sections,
        "note_errors": [],
        "note_body": "",
        "log_errors": {},
        "log_values": {},
        "open_form": "note",
    }


def audit_action(action: str) -> str:
    """What an audit entry did, as the history says it ("Changed", "Restored")."""
    text = AUDIT_ACTIONS.get(action)
    return str(text) if text is not None else action
