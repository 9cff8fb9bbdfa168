"""The layout's notification bell and quick-create menu, and the notifications page.

The bell shows how many of the user's notifications (task reminders...) are unread and the
latest few; ``/notifications`` lists them all. Marking read is a CSRF-protected POST and only
ever touches the signed-in user's own rows. Quick-create is a small form in the layout for a
contact, company or task that posts to ``/quick/<plural>``, which creates the record through
the user's record service like every other form, and shows the full form on a validation error.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from .. import parsing
from ..app import current_crm
from ..db import utcnow
from ..errors import NotFound, PermissionDenied, ValidationError
from ..notifications import Notification
from .forms import field_errors, form_fields
from .security import safe_next

BELL_ITEMS = 5
PAGE_SIZE = 50

#: What quick-create offers: entity plural -> the few fields it asks for.
QUICK_FIELDS: dict[str, tuple[str, ...]] = {
    "contacts": ("first_name", "last_name", "email"),
    "companies": ("name", "domain"),
    "tasks": ("title", "due_at"),
}
QUICK_TITLES = {"contacts": _l("Contact"), "companies": _l("Company"), "tasks": _l("Task")}


def link_of(row: Notification) -> str | None:
    """The page a notification points to, when its entity is enabled."""
    if not row.link_entity or row.link_id is None:
        return None
    try:
        entity = current_crm().records(g.crm_access).entity(row.link_entity)
    except NotFound:
        return None
    return f"/{entity.plural}/{int(row.link_id)}"


def unread_count(user_id: int) -> int:
    session = current_crm().session
    count = session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )
    return int(count or 0)


def quick_entities() -> list[dict[str, Any]]:
    """The quick-create choices the signed-in user may use."""
    access = g.get("crm_access")
    if access is None:
        return []
    crm = current_crm()
    enabled = {e.plural: e for e in crm.entities()}
    out = []
    for plural, names in QUICK_FIELDS.items():
        entity = enabled.get(plural)
        if entity is None or not access.can(entity, "create") or not entity.api_create:
            continue
        specs = {s.name: s for s in form_fields(entity, [], creating=True)}
        out.append(
            {
                "plural": plural,
                "title": QUICK_TITLES[plural],
                "fields": [specs[n] for n in names if n in specs],
            }
        )
    return out


def layout_context() -> dict[str, Any]:
    """Bell and quick-create data for the layout (nothing for visitors)."""
    user = g.get("crm_user")
    if user is None:
        return {}
    try:
        latest = list(
            current_crm().session.scalars(
                select(Notification)
                .where(Notification.user_id == user.id, Notification.read_at.is_(None))
                .order_by(Notification.id.desc())
                .limit(BELL_ITEMS)
            )
        )
        return {
            "unread_count": unread_count(user.id) if latest else 0,
            "bell_items": [(n, link_of(n)) for n in latest],
            "quick_create": quick_entities(),
        }
    except Exception:  # the layout of an error page must render even when the database fails
        current_crm().session.rollback()
        return {}


def make_blueprint() -> Blueprint:
    bp = Blueprint("web_inbox", __name__)

    @bp.route("/notifications")
    def notifications() -> Any:
        session = current_crm().session
        query = select(Notification).where(Notification.user_id == g.crm_user.id)
        before = parsing.whole_number(request.args.get("before", ""), high=parsing.MAX_ID)
        if before is not None:
            query = query.where(Notification.id < before)
        rows = list(session.scalars(query.order_by(Notification.id.desc()).limit(PAGE_SIZE + 1)))
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        return render_template(
            "web/account/notifications.html",
            items=[(n, link_of(n)) for n in rows],
            next_before=rows[-1].id if more else None,
        )

    @bp.route("/notifications/<int:notification_id>/read", methods=["POST"])
    def mark_read(notification_id: int) -> Any:
        session = current_crm().session
        result = session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.user_id == g.crm_user.id,
                Notification.read_at.is_(None),
            )
            .values(read_at=utcnow())
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            row = session.get(Notification, notification_id)
            if row is None or row.user_id != g.crm_user.id:
                raise NotFound(_("No such notification."))
        session.commit()
        return redirect(safe_next(request.form.get("next"), url_for(".notifications")), 303)

    @bp.route("/notifications/read-all", methods=["POST"])
    def mark_all_read() -> Any:
        session = current_crm().session
        session.execute(
            update(Notification)
            .where(Notification.user_id == g.crm_user.id, Notification.read_at.is_(None))
            .values(read_at=utcnow())
        )
        session.commit()
        flash(_("All notifications are marked read."), "success")
        return redirect(safe_next(request.form.get("next"), url_for(".notifications")), 303)

    @bp.route("/quick/<plural>", methods=["POST"])
    def quick_create(plural: str) -> Any:
        from flask import current_app

        from .views import reference_choices, render_form, service

        if plural not in QUICK_FIELDS:
            raise NotFound(_("No such page."))
        if request.form.get("quick") != "1":
            # the full form shown after a validation error: the generic create page handles it
            return current_app.view_functions["web_records.create"](plural=plural)
        records = service()
        entity = records.entity(plural)
        if not records.access.can(entity, "create") or not entity.api_create:
            raise PermissionDenied(_("You may not create these records."))
        data: dict[str, Any] = {}
        specs = {s.name: s for s in form_fields(entity, [], creating=True)}
        for name in QUICK_FIELDS[plural]:
            raw = str(request.form.get(name, "")).strip()
            if raw:
                data[name] = raw
        if "due_at" in data and specs.get("due_at") and specs["due_at"].kind == "datetime-local":
            from .forms import _local_to_iso

            data["due_at"] = _local_to_iso(data["due_at"], g.crm_user.timezone or "UTC")
        try:
            record = records.create(entity, data)
        except ValidationError as exc:
            records.rollback()
            crm = current_crm()
            full = form_fields(entity, crm.custom_field_defs(records.session, entity), True)
            reference_choices(entity, full, "create")
            values = {s.input_name: "" for s in full}
            values.update({k: str(v) for k, v in request.form.items() if k in values})
            if entity.owner_field and entity.owner_field != "id":
                values[entity.owner_field] = str(records.access.user_id or "")
            return render_form(entity, None, full, values, field_errors(exc.messages), 422)
        flash(_("%(title)s created.", title=entity.display(record)), "success")
        return redirect(url_for("web_records.show", plural=plural, record_id=record.id), 303)

    return bp
