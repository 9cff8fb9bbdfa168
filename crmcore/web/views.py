"""Generic record pages for every entity of the enabled plugins, derived from the registry.

``/<plural>`` list (chosen columns, saved views, bulk actions, CSV export), ``/<plural>/new``,
``/<plural>/<id>`` detail, ``/<plural>/<id>/edit``, delete and restore, ``/<plural>/trash``,
timeline logging (notes, tasks, calls/meetings/e-mails) and ``/<plural>/picker`` (the options
of a reference picker). Every read and write goes through the signed-in user's record service,
so permission scopes apply everywhere; a record the user may not read answers 404.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import Select, or_, select
from werkzeug.datastructures import MultiDict

from .. import exporting, parsing
from ..api import listing
from ..app import current_crm
from ..audit import record_export
from ..duplicates import check_input
from ..duplicates.hints import reason_labels
from ..errors import CRMError, NotFound, PermissionDenied, StaleRecord, ValidationError
from ..records import RecordService
from ..references import references
from ..registry import Entity
from ..settings import SavedView
from . import detail
from .defaults import initial_values
from .display import choice_of, referenced_entity, resolve, table_rows
from .forms import FormField, field_errors, form_fields, form_values, read_form
from .i18n import label
from .line_editor import tables as line_tables
from .lines import ROW_OP
from .locked import lock_fields
from .pickers import user_choices
from .previews import PREVIEW_OP, content_language, previews

PAGING_KEYS = ("cursor", "limit")
#: Query-string keys of the list page that the list language does not know.
UI_KEYS = ("columns", "view")
#: Records one bulk action may touch.
BULK_LIMIT = 200
#: Options a reference picker offers at once; more are found by typing.
PICKER_LIMIT = 50


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
        if value.strip() and key != "trashed" and key not in UI_KEYS:
            args.add(key, value.strip())
    if trashed:
        args["trashed"] = "true"
    return args


def filter_inputs(entity: Entity) -> list[str]:
    """Fields offered as filter boxes on the list page."""
    wanted = [*entity.list_columns, *entity.filter_fields]
    skip = {"id", "created_at", "updated_at"}
    return [f for f in dict.fromkeys(wanted) if f in entity.filterable and f not in skip]


def parse_list(
    entity: Entity, args: MultiDict[str, str], trashed: bool
) -> tuple[listing.ListParams, MultiDict[str, str], str | None]:
    """The list parameters of ``args``; a bad query falls back to the plain list and an error."""
    crm = current_crm()
    records = service()

    def custom_defs() -> Any:
        return crm.custom_field_defs(records.session, entity)

    try:
        return listing.parse(entity, args, crm.settings.secret_key, custom_defs), args, None
    except listing.BadQuery as exc:
        error = "; ".join(m for ms in exc.messages.values() for m in ms)
        args = MultiDict({"trashed": "true"} if trashed else {})
        return listing.parse(entity, args, crm.settings.secret_key), args, error


def narrowed(entity: Entity, stmt: Select[Any], params: listing.ListParams) -> Select[Any]:
    """``stmt`` limited by the list's filters and search words (not sorted, not paged)."""
    return listing.narrow(current_crm(), entity, stmt, params)


def column_choices(entity: Entity) -> list[str]:
    """Columns a list of ``entity`` can show: its scalar fields (and tags), then the stamps."""
    skip = {"custom_fields", "version", "deleted_at", "password_hash"}
    names = [
        n
        for n in (*entity.list_columns, *detail.shown_fields(entity))
        if n in entity.columns and n not in skip
    ]
    names = [n for n in names if n == "tags" or not _is_json(entity, n)]
    return list(dict.fromkeys(["id", *names, "created_at", "updated_at"]))


def _is_json(entity: Entity, name: str) -> bool:
    from sqlalchemy import JSON

    return isinstance(entity.columns[name].type, JSON)


def chosen_columns(entity: Entity) -> list[str]:
    """The columns asked for with ``?columns=a,b`` (unknown names ignored), else the default."""
    allowed = column_choices(entity)
    raw = ",".join(request.args.getlist("columns"))
    wanted = [c.strip() for c in raw.split(",") if c.strip()]
    picked = [c for c in dict.fromkeys(wanted) if c in allowed]
    return picked or [c for c in entity.list_columns if c in entity.columns] or ["id"]


def run_list(entity: Entity, trashed: bool) -> dict[str, Any]:
    """One page of the list: rows, the next cursor and the parameters that produced them."""
    crm = current_crm()
    records = service()
    params, args, error = parse_list(entity, list_args(trashed), trashed)
    columns = chosen_columns(entity)
    columns_param = ",".join(columns) if request.args.get("columns") else ""
    stmt = records.query(entity, "read", trashed=params.trashed)
    stmt = narrowed(entity, stmt, params)
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
        if columns_param:
            next_args["columns"] = columns_param
        next_url = "?" + _urlencode(next_args)
    access = records.access
    links = resolve(records, entity, rows, columns)
    return {
        "entity": entity,
        "rows": rows,
        "table": table_rows(entity, rows, columns, links),
        "labels": {col: label(col, entity=entity) for col in columns},
        "columns": columns,
        "params": params,
        "error": error,
        "links": links,
        "next_url": next_url,
        "first_url": "?"
        + _urlencode(
            MultiDict(
                [(k, v) for k, v in args.items(multi=True) if k not in (*PAGING_KEYS, "trashed")]
            )
        ),
        "filters": filter_inputs(entity),
        "args": args,
        "label": partial(label, entity=entity),
        "choice": partial(choice_of, entity),
        "can_create": access.can(entity, "create") and entity.api_create,
        "can_delete": access.can(entity, "delete"),
        "can_update": access.can(entity, "update"),
        "can_export": access.has("data.export"),
        "can_import": access.has("data.import") and access.can(entity, "create"),
        "sort_url": lambda field: _sort_url(args, params, field, columns_param),
        "column_choices": column_choices(entity),
        "columns_param": columns_param,
        "view_query": view_query(args),
    }


def view_query(args: MultiDict[str, str]) -> str:
    """What a saved view keeps of a list's query string: filters, search and sort."""
    return _urlencode(
        MultiDict([(k, v) for k, v in args.items(multi=True) if k not in (*PAGING_KEYS, "trashed")])
    )


def _sort_url(
    args: MultiDict[str, str], params: listing.ListParams, field: str, columns: str = ""
) -> str:
    kept = MultiDict(
        [(k, v) for k, v in args.items(multi=True) if k not in (*PAGING_KEYS, "sort", "trashed")]
    )
    descending = not params.descending if params.sort_field == field else False
    kept["sort"] = ("-" if descending else "") + field
    if columns:
        kept["columns"] = columns
    return "?" + _urlencode(kept)


def _urlencode(args: MultiDict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(list(args.items(multi=True)))


# forms ------------------------------------------------------------------------------------------


def owner_choices(entity: Entity, action: str) -> list[tuple[str, str]]:
    """The users the signed-in user may give ``entity`` records to when they ``action`` them."""
    from ..users.models import User

    records = service()
    scope = records.access.scope(entity, action) or "own"
    users = select(User).where(User.active.is_(True), User.deleted_at.is_(None))
    if scope == "own":
        users = users.where(User.id == records.access.user_id)
    elif scope == "team":
        users = users.where(User.id.in_(records.access.teammate_ids()))
    return [
        (str(u.id), u.name or u.email)
        for u in records.session.scalars(users.order_by(User.name).limit(500))
    ]


def reference_choices(entity: Entity, specs: list[FormField], action: str) -> None:
    """Owner fields become a choice of the users the signed-in user may give records to;
    other ``<thing>_id`` fields become pickers of the ``<things>`` the user may read.

    The record a note or a task is about (``record_type`` + ``record_id``) is set where it is
    made - a record's timeline, an "Add" link - and kept as hidden inputs, never a number box.
    """
    records = service()
    linked = {
        name
        for ref in references(records, entity).values()
        if ref.type_field is not None
        for name in (ref.field, ref.type_field)
    }
    for spec in specs:
        if not spec.custom and spec.name in linked:
            spec.kind = "hidden"
            continue
        if spec.custom or not spec.name.endswith("_id"):
            continue
        if spec.name == entity.owner_field and entity.owner_field != "id":
            spec.kind = "select"
            spec.choices = owner_choices(entity, action)
            continue
        target = referenced_entity(records, entity, spec.name)
        if target is not None and target.name == "user":
            spec.kind = "select"
            spec.choices = user_choices(records.session)
            continue
        if target is None or not records.access.can(target, "read"):
            continue
        spec.kind = "reference"
        spec.target = target.plural
        spec.choices = picker_options(target, "")


def picker_options(target: Entity, words: str, limit: int = PICKER_LIMIT) -> list[tuple[str, str]]:
    """Records of ``target`` the user may read, matching ``words``, as ``(id, title)``, by title.

    Without ``words`` (the options a picker starts with, and all that a browser without
    JavaScript offers): the ``limit`` newest, found by their ids, then sorted by title. The
    first ones by title sorted the whole table on every page with a picker (a contact's page,
    for its merge dialog: ~45 ms at 100,000 contacts, ~0.5 s at a million).
    """
    records = service()
    stmt = records.query(target)
    words = words.strip()[:200]
    if not words:
        newest = records.session.scalars(stmt.order_by(target.model.id.desc()).limit(limit))
        titled = [(target.display(r), r.id) for r in newest]
        titled.sort(key=lambda item: (item[0].casefold(), item[0], item[1]))
        return [(str(record_id), title) for title, record_id in titled]
    if target.search_fields:
        ids = current_crm().search.record_ids(target, words)
        if ids is not None:
            stmt = stmt.where(target.model.id.in_(ids))
    else:  # not in the search index: match the title's columns
        titled_columns = [target.attribute(f) for f in target.title_fields if f in target.columns]
        if titled_columns:
            stmt = stmt.where(or_(*(c.icontains(words, autoescape=True) for c in titled_columns)))
    order = [target.attribute(f) for f in target.title_fields if f in target.columns]
    stmt = stmt.order_by(*order, target.model.id).limit(limit)
    return [(str(r.id), target.display(r)) for r in records.session.scalars(stmt)]


def keep_current(spec: FormField, value: str, entity: Entity) -> None:
    """A picker always offers the value the record has (titled ``#id`` when unreadable)."""
    if spec.kind != "reference" or not value or any(c == value for c, _t in spec.choices):
        return
    records = service()
    links = resolve(records, entity, [_Row(spec.name, int(value))], [spec.name])
    link = links.get((spec.name, int(value)))
    spec.choices.insert(0, (value, link.title if link else f"#{value}"))


class _Row:
    """A stand-in record holding one reference, for ``resolve``."""

    def __init__(self, name: str, value: int) -> None:
        setattr(self, name, value)


def render_form(
    entity: Entity,
    record: Any,
    specs: list[FormField],
    values: dict[str, str],
    errors: dict[str, list[str]],
    status: int = 200,
    conflict: list[dict[str, Any]] | None = None,
    messages: Any = None,
    prefilled: dict[str, list[dict[str, Any]]] | None = None,
    duplicates: list[Any] | None = None,
) -> Any:
    known = {s.input_name for s in specs}
    general = [m for key, ms in errors.items() if key not in known for m in ms]
    for spec in specs:
        value = values.get(spec.input_name, "")
        if parsing.record_id(value) is not None:
            keep_current(spec, value, entity)
    submitted = request.form if request.method == "POST" else None
    tables = line_tables(entity, specs, record, submitted, messages, prefilled, values)
    lines_url = (
        url_for("web_lines.edit_lines", plural=entity.plural, record_id=record.id)
        if record is not None
        else url_for("web_lines.new_lines", plural=entity.plural)
    )
    return render_template(
        "core/form.html",
        entity=entity,
        record=record,
        specs=specs,
        values=values,
        line_tables=tables,
        lines_url=lines_url,
        previews=previews(specs, values),
        content_lang=content_language(values),
        label=label,
        errors=errors,
        general_errors=general,
        conflict=conflict,
        duplicates=duplicates,
        duplicate_reasons=reason_labels() if duplicates else {},
    ), status


def make_blueprint() -> Blueprint:
    bp = Blueprint("web_records", __name__)

    @bp.route("/<plural>")
    def index(plural: str) -> Any:
        entity = entity_for(plural)
        views = saved_views(entity)
        if not request.args:
            default = next((v for v in views if v.is_default), None)
            if default is not None:
                return redirect(view_url(entity, default), 303)
        context = run_list(entity, trashed=False)
        context["views"] = views
        context["current_view"] = next(
            (
                v
                for v in views
                if v.query == context["view_query"]
                and ",".join(v.columns or []) == context["columns_param"]
            ),
            None,
        )
        if context["can_update"] and entity.owner_field and entity.owner_field != "id":
            context["owners"] = owner_choices(entity, "update")
        status = 400 if context["error"] else 200
        return render_template("core/list.html", **context), status

    @bp.route("/<plural>/views", methods=["POST"])
    def save_view(plural: str) -> Any:
        entity = entity_for(plural)
        records = service()
        name = str(request.form.get("name", "")).strip()[:100]
        query = str(request.form.get("query", ""))[:2000]
        columns = [
            c
            for c in str(request.form.get("columns", "")).split(",")
            if c in column_choices(entity)
        ]
        if not name:
            flash(_("Give the view a name."), "error")
            return redirect(url_for("web_records.index", plural=plural) + "?" + query, 303)
        view = _own_views(entity).where(SavedView.name == name)
        found = records.session.scalar(view)
        if found is None:
            found = SavedView(user_id=records.access.user_id, entity=entity.name, name=name)
            records.session.add(found)
        found.query, found.columns = query, columns
        if request.form.get("is_default"):
            _clear_default(entity)
            found.is_default = True
        records.session.commit()
        flash(_("View %(name)s saved.", name=name), "success")
        return redirect(view_url(entity, found), 303)

    @bp.route("/<plural>/views/<int:view_id>")
    def open_view(plural: str, view_id: int) -> Any:
        entity = entity_for(plural)
        return redirect(view_url(entity, own_view(entity, view_id)), 303)

    @bp.route("/<plural>/views/<int:view_id>/default", methods=["POST"])
    def default_view(plural: str, view_id: int) -> Any:
        entity = entity_for(plural)
        view = own_view(entity, view_id)
        make_default = not view.is_default
        _clear_default(entity)
        view.is_default = make_default
        service().session.commit()
        if make_default:
            flash(_("%(name)s opens first from now on.", name=view.name), "success")
        else:
            flash(_("%(name)s is no longer your default view.", name=view.name), "success")
        return redirect(view_url(entity, view), 303)

    @bp.route("/<plural>/views/<int:view_id>/delete", methods=["POST"])
    def delete_view(plural: str, view_id: int) -> Any:
        entity = entity_for(plural)
        view = own_view(entity, view_id)
        session = service().session
        session.delete(view)
        session.commit()
        flash(_("View %(name)s deleted.", name=view.name), "success")
        return redirect(url_for("web_records.index", plural=plural, view="none"), 303)

    @bp.route("/<plural>/bulk", methods=["POST"])
    def bulk(plural: str) -> Any:
        entity = entity_for(plural)
        action = request.form.get("action", "")
        ids = list(
            dict.fromkeys(i for i in map(parsing.record_id, request.form.getlist("ids")) if i)
        )
        ids = ids[:BULK_LIMIT]
        if action == "export":
            return export_response(entity, lambda stmt: stmt.where(entity.model.id.in_(ids)))
        back = safe_back(plural)
        if action not in BULK_ACTIONS:
            flash(_("Choose what to do with the selected records."), "error")
            return redirect(back, 303)
        if not ids:
            flash(_("Select at least one record."), "error")
            return redirect(back, 303)
        return run_bulk(entity, action, ids, back)

    @bp.route("/<plural>/export")
    def export(plural: str) -> Any:
        entity = entity_for(plural)
        params, _args, error = parse_list(entity, list_args(False), False)
        if error:
            raise ValidationError({"query": [error]})
        return export_response(
            entity,
            lambda stmt: narrowed(entity, stmt, params),
            listing.export_order(entity, params),
        )

    @bp.route("/<plural>/picker")
    def picker(plural: str) -> Any:
        target = entity_for(plural)
        options = picker_options(target, request.args.get("q", ""))
        if request.args.get("format") == "json":
            return {"options": [{"id": int(value), "title": text} for value, text in options]}
        selected = request.args.get("selected", "")
        return render_template(
            "core/_picker_options.html", options=options, selected=selected, words=request.args
        )

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
        if entity.editor_url:
            query = request.query_string.decode("ascii", "replace")
            return redirect(f"{entity.editor_url}/new" + (f"?{query}" if query else ""))
        specs = form_fields(
            entity, current_crm().custom_field_defs(records.session, entity), creating=True
        )
        lock_fields(entity, specs, None)
        reference_choices(entity, specs, "create")
        if request.method == "GET":
            # "Add" on a related-records section: /quotes/new?deal_id=5
            values, prefilled = initial_values(entity, specs, records, request.args, tz_name())
            if entity.owner_field and entity.owner_field != "id":
                values.setdefault(entity.owner_field, "")
                values[entity.owner_field] = values[entity.owner_field] or str(
                    records.access.user_id or ""
                )
            return render_form(entity, None, specs, values, {}, prefilled=prefilled)
        # a button of a sub-table, or Preview, without JavaScript: drawn again, not saved
        if request.form.get(ROW_OP) or request.form.get(PREVIEW_OP):
            return render_form(entity, None, specs, dict(request.form), {})
        data = read_form(entity, specs, request.form, tz_name())
        if not request.form.get("save_anyway"):
            found = check_input(records, entity, data)
            if found:  # shown with links; saving again creates the record anyway
                return render_form(entity, None, specs, dict(request.form), {}, duplicates=found)
        try:
            record = records.create(entity, data)
        except ValidationError as exc:
            records.rollback()
            return render_form(
                entity,
                None,
                specs,
                dict(request.form),
                field_errors(exc.messages),
                422,
                messages=exc.messages,
            )
        flash(_("%(title)s created.", title=entity.display(record)), "success")
        return redirect(url_for("web_records.show", plural=plural, record_id=record.id), 303)

    @bp.route("/<plural>/<int:record_id>")
    def show(plural: str, record_id: int) -> Any:
        entity = entity_for(plural)
        return render_template(
            "core/detail.html", **detail.context(service(), entity, record_id, tz_name())
        )

    @bp.route("/<plural>/<int:record_id>/timeline")
    def timeline(plural: str, record_id: int) -> Any:
        """The timeline list alone, for the filter (``?kind=``) and "load more" (``?cursor=``)
        of the record page; the page itself shows the same with these query strings."""
        entity = entity_for(plural)
        records = service()
        page = detail.timeline_page(records, entity, record_id)
        more = bool(request.args.get("cursor"))
        template = "core/_timeline_items.html" if more else "core/_timeline.html"
        return render_template(
            template,
            record_url=url_for("web_records.show", plural=plural, record_id=record_id),
            **detail.timeline_vars(records, entity, page),
        )

    @bp.route("/<plural>/<int:record_id>/edit", methods=["GET", "POST"])
    def edit(plural: str, record_id: int) -> Any:
        entity = entity_for(plural)
        records = service()
        record = records.get(entity, record_id, "update")
        if entity.editor_url:
            return redirect(f"{entity.editor_url}/{record.id}/edit")
        specs = form_fields(
            entity, current_crm().custom_field_defs(records.session, entity), creating=False
        )
        lock_fields(entity, specs, record)
        reference_choices(entity, specs, "update")
        if request.method == "GET":
            return render_form(
                entity, record, specs, form_values(entity, specs, record, tz_name()), {}
            )
        # a button of a sub-table, or Preview, without JavaScript: drawn again, not saved
        if request.form.get(ROW_OP) or request.form.get(PREVIEW_OP):
            return render_form(entity, record, specs, dict(request.form), {})
        data = read_form(entity, specs, request.form, tz_name())
        version = request.form.get("version", "")
        try:
            expected = parsing.whole_number(version)
            if expected is None:
                raise StaleRecord(_("The form is incomplete; reload the page."))
            records.update(entity, record, data, expected_version=expected)
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
                entity,
                record,
                specs,
                {**dict(request.form)},
                field_errors(exc.messages),
                422,
                messages=exc.messages,
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

    @bp.route("/<plural>/<int:record_id>/tasks", methods=["POST"])
    def add_task(plural: str, record_id: int) -> Any:
        form = request.form
        data = {
            "title": str(form.get("title", "")).strip(),
            "due_at": _local_time(form.get("due_at")),
            "priority": form.get("priority") or "normal",
        }
        return log_on_timeline(plural, record_id, "tasks", data, _("Task added."))

    @bp.route("/<plural>/<int:record_id>/activities", methods=["POST"])
    def add_activity(plural: str, record_id: int) -> Any:
        form = request.form
        data = {
            "kind": form.get("kind", ""),
            "subject": str(form.get("subject", "")).strip(),
            "body": str(form.get("body", "")).strip() or None,
            "occurred_at": _local_time(form.get("occurred_at")) or _now_local(),
            "duration_minutes": form.get("duration_minutes") or None,
        }
        return log_on_timeline(plural, record_id, "activities", data, _("Activity logged."))

    @bp.route("/<plural>/bulk-delete", methods=["POST"])
    def bulk_delete(plural: str) -> Any:
        entity = entity_for(plural)
        records = service()
        ids = [i for i in map(parsing.record_id, request.form.getlist("ids")) if i][:200]
        try:
            for one in ids:
                records.delete(entity, one, commit=False)
            records.commit()
        except CRMError as exc:
            records.rollback()
            flash(_("Nothing was deleted: %(reason)s", reason=exc.translated()), "error")
        else:
            if ids:
                flash(_("%(count)d records moved to the trash.", count=len(ids)), "success")
        return redirect(url_for("web_records.index", plural=plural), 303)

    @bp.route("/<plural>/<int:record_id>/notes", methods=["POST"])
    def add_note(plural: str, record_id: int) -> Any:
        body = str(request.form.get("body", "")).strip()
        return log_on_timeline(plural, record_id, "notes", {"body": body}, _("Note added."))

    return bp


# saved views ------------------------------------------------------------------------------------


def _own_views(entity: Entity) -> Select[Any]:
    """The signed-in user's views of ``entity``: nobody ever sees another user's views."""
    return select(SavedView).where(
        SavedView.user_id == service().access.user_id, SavedView.entity == entity.name
    )


def saved_views(entity: Entity) -> list[SavedView]:
    if service().access.user_id is None:
        return []
    return list(service().session.scalars(_own_views(entity).order_by(SavedView.name)))


def own_view(entity: Entity, view_id: int) -> SavedView:
    view = service().session.scalar(_own_views(entity).where(SavedView.id == view_id))
    if view is None:
        raise NotFound(_("No such view."))
    return view


def _clear_default(entity: Entity) -> None:
    for view in service().session.scalars(_own_views(entity).where(SavedView.is_default)):
        view.is_default = False


def view_url(entity: Entity, view: SavedView) -> str:
    """The list page showing ``view``: its filters and sort, its columns."""
    args = MultiDict(
        [(k, v) for k, v in MultiDict(_parse_qs(view.query)).items(multi=True) if k not in UI_KEYS]
    )
    if view.columns:
        args["columns"] = ",".join(view.columns)
    args["view"] = str(view.id)
    return url_for("web_records.index", plural=entity.plural) + "?" + _urlencode(args)


def _parse_qs(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query, keep_blank_values=False)


# bulk actions and export ------------------------------------------------------------------------

#: Bulk action -> the permission it needs on the entity.
BULK_ACTIONS = {"assign": "update", "tag": "update", "untag": "update", "delete": "delete"}


def safe_back(plural: str) -> str:
    """Where a bulk action returns: the list it came from (local paths only)."""
    from .security import safe_next

    default = url_for("web_records.index", plural=plural)
    back = safe_next(request.form.get("back"), default)
    return back if back.split("?")[0] == default else default


def run_bulk(entity: Entity, action: str, ids: list[int], back: str) -> Any:
    """Apply ``action`` to every record of ``ids`` through the record service, all or nothing."""
    records = service()
    if not records.access.can(entity, BULK_ACTIONS[action]):
        raise PermissionDenied(_("You may not change these records."))
    if action in ("tag", "untag") and not entity.has_tags:
        raise ValidationError({"tag": [_("These records have no tags.")]})
    if action == "assign" and (not entity.owner_field or entity.owner_field == "id"):
        raise ValidationError({"owner": [_("These records have no owner.")]})
    tag = str(request.form.get("tag", "")).strip()
    owner = str(request.form.get("owner", "")).strip()
    if action in ("tag", "untag") and not tag:
        flash(_("Type the tag to add or remove."), "error")
        return redirect(back, 303)
    if action == "assign" and parsing.record_id(owner) is None:
        flash(_("Choose the new owner."), "error")
        return redirect(back, 303)
    try:
        for record_id in ids:
            if action == "delete":
                records.delete(entity, record_id, commit=False)
                continue
            record = records.get(entity, record_id, "update")
            if action == "assign":
                data: dict[str, Any] = {entity.owner_field: int(owner)}
            elif action == "tag":
                data = {"tags": [*(record.tags or []), tag]}
            else:
                data = {"tags": [t for t in record.tags or [] if t != tag]}
            records.update(entity, record, data, commit=False)
        records.commit()
    except CRMError as exc:
        records.rollback()
        messages = field_errors(exc.messages) if isinstance(exc, ValidationError) else {}
        reason = "; ".join(_(m) for ms in messages.values() for m in ms) or exc.translated()
        flash(_("Nothing was changed: %(reason)s", reason=reason), "error")
        return redirect(back, 303)
    messages = {
        "assign": _("%(count)d records assigned.", count=len(ids)),
        "tag": _("Tag added to %(count)d records.", count=len(ids)),
        "untag": _("Tag removed from %(count)d records.", count=len(ids)),
        "delete": _("%(count)d records moved to the trash.", count=len(ids)),
    }
    flash(messages[action], "success")
    return redirect(back, 303)


def export_response(
    entity: Entity, narrow: exporting.Narrow, order: exporting.Order | None = None
) -> Response:
    """A CSV download of the records ``narrow`` selects within the user's read scope, in
    ``order`` (by id without it)."""
    records = service()
    record_export(records.session, entity.name, records.access.user_id, fmt="csv",
                  query=request.query_string.decode("utf-8", "replace"), via="web")  # fmt: skip
    chunks = exporting.export_chunks(records, entity, "csv", narrow=narrow, order=order)
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{entity.plural}.csv"'},
    )


# the timeline -----------------------------------------------------------------------------------

#: What each inline form of the timeline creates, and the input its errors belong to.
LOG_KINDS = {"notes": "note", "tasks": "task", "activities": "activity"}


def log_on_timeline(
    plural: str, record_id: int, target: str, data: dict[str, Any], done: str
) -> Any:
    """Create a note, task or activity on a record; with htmx the timeline is swapped in place.

    The linked record must be readable (else 404); the record service checks the rest.
    """
    entity = entity_for(plural)
    records = service()
    records.get(entity, record_id)
    kind = LOG_KINDS[target]
    try:
        records.create(target, {**data, "record_type": entity.name, "record_id": record_id})
    except ValidationError as exc:
        records.rollback()
        context = detail.context(records, entity, record_id, tz_name())
        context["log_errors"] = {kind: field_errors(exc.messages)}
        context["log_values"] = {kind: dict(request.form)}
        context["open_form"] = kind
        if kind == "note":  # the names the note form has always used
            context["note_errors"] = context["log_errors"]["note"].get("body", [])
            context["note_body"] = data.get("body", "")
        return render_template("core/detail.html", **context), 422
    flash(done, "success")
    return redirect(
        url_for("web_records.show", plural=plural, record_id=record_id) + "#timeline", 303
    )


def _local_time(raw: str | None) -> str | None:
    """A ``datetime-local`` input in the user's zone as ISO 8601 with offset; blank: ``None``."""
    from .forms import _local_to_iso

    raw = (raw or "").strip()
    return _local_to_iso(raw, tz_name()) if raw else None


def _now_local() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat()


def _submitted(spec: FormField, form: Any) -> str:
    raw = form.get(spec.input_name)
    if spec.kind == "checkbox":
        return "on" if raw is not None else ""
    return str(raw or "").strip()
