"""Generic record pages for every entity of the enabled plugins, derived from the registry.

``/<plural>`` list, ``/<plural>/new``, ``/<plural>/<id>`` detail, ``/<plural>/<id>/edit``,
delete and restore, ``/<plural>/trash`` and bulk delete. Every read and write goes through the
signed-in user's record service, so permission scopes apply everywhere; a record the user may
not read answers 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from ..api import listing
from ..app import current_crm
from ..errors import CRMError, NotFound, StaleRecord, ValidationError
from ..records import RecordService
from ..registry import Entity
from . import detail
from .display import resolve
from .forms import FormField, field_errors, form_fields, form_values, read_form
from .i18n import label

PAGING_KEYS = ("cursor", "limit")


def service() -> RecordService:
    return current_crm().records(g.crm_access)


def entity_for(plural: str) -> Entity:
    """The enabled entity at ``/<plural>``; 404 for anything else (singular names included)."""
    entity = service().entity(plural)
    if entity.plural != plural:
        raise NotFound(_("No such page."))
    return entity


def tz_name() -> str:
    return str(getattr(g.crm_user, "timezone", None) or "UTC")


# lists ------------------------------------------------------------------------------------------


def list_args(trashed: bool) -> MultiDict[str, str]:
    """The query string without blank values (an empty filter box filters nothing)."""
    args: MultiDict[str, str] = MultiDict()
    for key, value in request.args.items(multi=True):
        if value.strip() and key != "trashed":
            args.add(key, value.strip())
    if trashed:
        args["trashed"] = "true"
    return args


def filter_inputs(entity: Entity) -> list[str]:
    """Fields offered as filter boxes on the list page."""
    wanted = [*entity.list_columns, *entity.filter_fields]
    skip = {"id", "created_at", "updated_at"}
    return [f for f in dict.fromkeys(wanted) if f in entity.filterable and f not in skip]


def run_list(entity: Entity, trashed: bool) -> dict[str, Any]:
    """One page of the list: rows, the next cursor and the parameters that produced them."""
    crm = current_crm()
    records = service()
    args = list_args(trashed)
    error = None
    try:
        params = listing.parse(entity, args, crm.settings.secret_key)
    except listing.BadQuery as exc:
        error = "; ".join(m for ms in exc.messages.values() for m in ms)
        args = MultiDict({"trashed": "true"} if trashed else {})
        params = listing.parse(entity, args, crm.settings.secret_key)
    stmt = records.query(entity, "read", trashed=params.trashed)
    stmt = listing.apply_filters(entity, stmt, params, crm.engine.dialect.name)
    if params.q:
        ids = crm.search.record_ids(entity, params.q)
        if ids is not None:
            stmt = stmt.where(entity.model.id.in_(ids))
    stmt = listing.apply_sort(entity, stmt, params).limit(params.limit + 1)
    rows = list(records.session.scalars(stmt))
    next_url = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        cursor = listing.encode_cursor(entity, rows[-1], params, crm.settings.secret_key)
        next_args = MultiDict(
            [(k, v) for k, v in args.items(multi=True) if k not in ("cursor", "trashed")]
        )
        next_args["cursor"] = cursor
        next_url = "?" + _urlencode(next_args)
    columns = [c for c in entity.list_columns if c in entity.columns] or ["id"]
    return {
        "entity": entity,
        "rows": rows,
        "columns": columns,
        "params": params,
        "error": error,
        "links": resolve(records, entity, rows, columns),
        "next_url": next_url,
        "first_url": "?"
        + _urlencode(
            MultiDict(
                [(k, v) for k, v in args.items(multi=True) if k not in (*PAGING_KEYS, "trashed")]
            )
        ),
        "filters": filter_inputs(entity),
        "args": args,
        "label": label,
        "can_create": records.access.can(entity, "create") and entity.api_create,
        "can_delete": records.access.can(entity, "delete"),
        "sort_url": lambda field: _sort_url(args, params, field),
    }


def _sort_url(args: MultiDict[str, str], params: listing.ListParams, field: str) -> str:
    kept = MultiDict(
        [(k, v) for k, v in args.items(multi=True) if k not in (*PAGING_KEYS, "sort", "trashed")]
    )
    descending = not params.descending if params.sort_field == field else False
    kept["sort"] = ("-" if descending else "") + field
    return "?" + _urlencode(kept)


def _urlencode(args: MultiDict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(list(args.items(multi=True)))


# forms ------------------------------------------------------------------------------------------


def reference_choices(entity: Entity, specs: list[FormField], action: str) -> None:
    """Owner fields become a choice of the users the signed-in user may give records to."""
    from sqlalchemy import select

    from ..users.models import User

    if not entity.owner_field or entity.owner_field == "id":
        return
    records = service()
    scope = records.access.scope(entity, action) or "own"
    users = select(User).where(User.active.is_(True), User.deleted_at.is_(None))
    if scope == "own":
        users = users.where(User.id == records.access.user_id)
    elif scope == "team":
        users = users.where(User.id.in_(records.access.teammate_ids()))
    for spec in specs:
        if spec.name == entity.owner_field and not spec.custom:
            spec.kind = "select"
            spec.choices = [
                (str(u.id), u.name or u.email)
                for u in records.session.scalars(users.order_by(User.name))
            ]


def render_form(
    entity: Entity,
    record: Any,
    specs: list[FormField],
    values: dict[str, str],
    errors: dict[str, list[str]],
    status: int = 200,
    conflict: list[dict[str, Any]] | None = None,
) -> Any:
    known = {s.input_name for s in specs}
    general = [m for key, ms in errors.items() if key not in known for m in ms]
    return render_template(
        "core/form.html",
        entity=entity,
        record=record,
        specs=specs,
        values=values,
        errors=errors,
        general_errors=general,
        conflict=conflict,
    ), status


def make_blueprint() -> Blueprint:
    bp = Blueprint("web_records", __name__)

    @bp.route("/<plural>")
    def index(plural: str) -> Any:
        context = run_list(entity_for(plural), trashed=False)
        status = 400 if context["error"] else 200
        return render_template("core/list.html", **context), status

    @bp.route("/<plural>/trash")
    def trash(plural: str) -> Any:
        entity = entity_for(plural)
        if not service().access.can(entity, "delete"):
            raise NotFound(_("No such page."))
        return render_template("core/trash.html", **run_list(entity, trashed=True))

    @bp.route("/<plural>/new", methods=["GET", "POST"])
    def create(plural: str) -> Any:
        entity = entity_for(plural)
        records = service()
        if not records.access.can(entity, "create") or not entity.api_create:
            from ..errors import PermissionDenied

            raise PermissionDenied(_("You may not create these records."))
        specs = form_fields(
            entity, current_crm().custom_field_defs(records.session, entity), creating=True
        )
        reference_choices(entity, specs, "create")
        if request.method == "GET":
            values = {s.input_name: "" for s in specs}
            if entity.owner_field and entity.owner_field != "id":
                values[entity.owner_field] = str(records.access.user_id or "")
            return render_form(entity, None, specs, values, {})
        data = read_form(entity, specs, request.form, tz_name())
        try:
            record = records.create(entity, data)
        except ValidationError as exc:
            records.rollback()
            return render_form(
                entity, None, specs, dict(request.form), field_errors(exc.messages), 422
            )
        flash(_("%(title)s created.", title=entity.display(record)), "success")
        return redirect(url_for("web_records.show", plural=plural, record_id=record.id), 303)

    @bp.route("/<plural>/<int:record_id>")
    def show(plural: str, record_id: int) -> Any:
        entity = entity_for(plural)
        return render_template(
            "core/detail.html", **detail.context(service(), entity, record_id, tz_name())
        )

    @bp.route("/<plural>/<int:record_id>/edit", methods=["GET", "POST"])
    def edit(plural: str, record_id: int) -> Any:
        entity = entity_for(plural)
        records = service()
        record = records.get(entity, record_id, "update")
        specs = form_fields(
            entity, current_crm().custom_field_defs(records.session, entity), creating=False
        )
        reference_choices(entity, specs, "update")
        if request.method == "GET":
            return render_form(
                entity, record, specs, form_values(entity, specs, record, tz_name()), {}
            )
        data = read_form(entity, specs, request.form, tz_name())
        version = request.form.get("version", "")
        try:
            if not version.isdigit():
                raise StaleRecord(_("The form is incomplete; reload the page."))
            records.update(entity, record, data, expected_version=int(version))
        except StaleRecord:
            records.rollback()
            record = records.get(entity, record_id, "update")
            theirs = form_values(entity, specs, record, tz_name())
            conflict = [
                {
                    "label": s.label,
                    "theirs": theirs[s.input_name],
                    "yours": request.form.get(s.input_name, ""),
                }
                for s in specs
                if theirs[s.input_name] != _submitted(s, request.form)
            ]
            return render_form(entity, record, specs, dict(request.form), {}, 409, conflict)
        except ValidationError as exc:
            records.rollback()
            record = records.get(entity, record_id, "update")
            return render_form(
                entity, record, specs, {**dict(request.form)}, field_errors(exc.messages), 422
            )
        flash(_("Changes saved."), "success")
        return redirect(url_for("web_records.show", plural=plural, record_id=record_id), 303)

    @bp.route("/<plural>/<int:record_id>/delete", methods=["POST"])
    def delete(plural: str, record_id: int) -> Any:
        entity = entity_for(plural)
        record = service().delete(entity, record_id)
        flash(_("%(title)s moved to the trash.", title=entity.display(record)), "success")
        return redirect(url_for("web_records.index", plural=plural), 303)

    @bp.route("/<plural>/<int:record_id>/restore", methods=["POST"])
    def restore(plural: str, record_id: int) -> Any:
        entity = entity_for(plural)
        record = service().restore(entity, record_id)
        flash(_("%(title)s restored.", title=entity.display(record)), "success")
        return redirect(url_for("web_records.show", plural=plural, record_id=record_id), 303)

    @bp.route("/<plural>/bulk-delete", methods=["POST"])
    def bulk_delete(plural: str) -> Any:
        entity = entity_for(plural)
        records = service()
        ids = [i for i in request.form.getlist("ids") if i.isdigit()][:200]
        try:
            for record_id in ids:
                records.delete(entity, int(record_id), commit=False)
            records.commit()
        except CRMError as exc:
            records.rollback()
            flash(_("Nothing was deleted: %(reason)s", reason=exc.detail), "error")
        else:
            if ids:
                flash(_("%(count)d records moved to the trash.", count=len(ids)), "success")
        return redirect(url_for("web_records.index", plural=plural), 303)

    @bp.route("/<plural>/<int:record_id>/notes", methods=["POST"])
    def add_note(plural: str, record_id: int) -> Any:
        entity = entity_for(plural)
        records = service()
        records.get(entity, record_id)
        body = str(request.form.get("body", "")).strip()
        try:
            records.create(
                "notes", {"record_type": entity.name, "record_id": record_id, "body": body}
            )
        except ValidationError as exc:
            records.rollback()
            context = detail.context(records, entity, record_id, tz_name())
            context["note_errors"] = field_errors(exc.messages).get("body", [])
            context["note_body"] = body
            return render_template("core/detail.html", **context), 422
        flash(_("Note added."), "success")
        return redirect(
            url_for("web_records.show", plural=plural, record_id=record_id) + "#timeline", 303
        )

    return bp


def _submitted(spec: FormField, form: Any) -> str:
    raw = form.get(spec.input_name)
    if spec.kind == "checkbox":
        return "on" if raw is not None else ""
    return str(raw or "").strip()
