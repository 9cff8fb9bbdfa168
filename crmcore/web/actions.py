"""Record actions on the pages: a button (or a dialog with the action's inputs) on the record's
page, bulk buttons on its list, and the fields only an action may change locked in forms.

Everything runs through :func:`crmcore.actions.run_action`, as the API does: the same
permission (the button is hidden without it), state (shown disabled with the reason) and input
checks (errors on the dialog's fields, what was typed kept).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow.utils import missing

from .. import parsing
from ..actions import RecordAction, actions_of, find_action, permitted, run_action
from ..app import current_crm
from ..contributions import ACTIONS
from ..errors import Conflict, CRMError, PermissionDenied, ValidationError
from ..references import titles
from . import detail

# the generic form machinery: how a schema field becomes an input
from .forms import FormField, _choices, _kind, _max_length, field_errors
from .i18n import label
from .locked import locked_fields
from .views import BULK_LIMIT, entity_for, picker_options, safe_back, service, tz_name


def input_fields(action: RecordAction) -> list[FormField]:
    """The inputs of the action's dialog, from its schema (``reference`` metadata: a picker of
    the records of that entity the user may read, as on record forms)."""
    if action.schema is None:
        return []
    out = []
    for name, schema_field in action.schema._declared_fields.items():
        if schema_field.dump_only:
            continue
        target = schema_field.metadata.get("reference")
        kind = "reference" if target else _kind(name, schema_field)
        if kind is None or kind in ("nested", "tags"):
            continue
        text = schema_field.metadata.get("label")
        spec = FormField(
            name,
            _(text) if text else label(name),
            kind,
            bool(schema_field.required),
            [(c, _(c)) for c in _choices(schema_field) or []],
            bool(schema_field.allow_none),
            maxlength=_max_length(schema_field),
            target=target,
        )
        if target:
            spec.choices = _first_options(str(target))
        out.append(spec)
    return out


def _first_options(plural: str) -> list[tuple[str, str]]:
    """A reference input's first options: the picker's (typing searches the rest)."""
    records = service()
    try:
        target = records.entity(plural)
    except CRMError:
        return []
    if not records.access.can(target, "read"):
        return []
    return picker_options(target, "")


def _keep_chosen(specs: list[FormField], values: Mapping[str, str]) -> None:
    """A refused dialog offers again the records its pickers had chosen, which typing may have
    found beyond the first options: titled when the user may read them, ``#id`` otherwise."""
    records = service()
    for spec in specs:
        chosen = parsing.record_id(values.get(spec.name)) if spec.kind == "reference" else None
        if chosen is None or any(c == str(chosen) for c, _t in spec.choices):
            continue
        try:
            target = records.entity(str(spec.target))
        except CRMError:
            continue
        title = titles(records, target, [chosen]).get(chosen, f"#{chosen}")
        spec.choices.insert(0, (str(chosen), title))


def default_values(action: RecordAction, specs: list[FormField]) -> dict[str, str]:
    """What the dialog's inputs start with: the schema's defaults."""
    values: dict[str, str] = {}
    declared = action.schema._declared_fields if action.schema is not None else {}
    for spec in specs:
        default = declared[spec.name].load_default
        if default is missing or callable(default) or default is None:
            values[spec.name] = ""
        elif spec.kind == "checkbox":
            values[spec.name] = "on" if default else ""
        else:
            values[spec.name] = str(default)
    return values


def read_input(specs: list[FormField], form: Mapping[str, Any]) -> dict[str, Any]:
    """The dialog's submission as the action's input; blank inputs are left out."""
    data: dict[str, Any] = {}
    for spec in specs:
        raw = form.get(spec.name)
        if spec.kind == "checkbox":
            data[spec.name] = raw is not None
            continue
        value = raw.strip() if isinstance(raw, str) and spec.kind != "password" else raw
        if value not in (None, ""):
            data[spec.name] = value
    return data


def _permitted_in_general(entity: Any, action: RecordAction) -> bool:
    access = service().access
    if action.permission in ACTIONS:
        return access.can(entity, action.permission)
    return access.has(action.permission)


def record_actions(
    entity: Any, record: Any, failure: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The actions the signed-in user may run on ``record``, for its page: each with its inputs
    and, when the record's state forbids it, the reason (``failure``: a refused dialog's name
    and values, shown again)."""
    records = service()
    out = []
    for action in actions_of(current_crm(), entity):
        if not permitted(records, entity, action, record):
            continue
        specs = input_fields(action)
        if failure and failure.get("name") == action.name:
            _keep_chosen(specs, failure["values"])
        out.append(
            {
                "action": action,
                "reason": action.reason(record),
                "specs": specs,
                "values": default_values(action, specs),
                "url": url_for(
                    "web_actions.run", plural=entity.plural, record_id=record.id, name=action.name
                ),
            }
        )
    return out


def bulk_actions(entity: Any) -> list[dict[str, Any]]:
    """The bulk actions of ``entity`` the signed-in user may run, for its list page."""
    return [
        {
            "action": action,
            "url": url_for("web_actions.bulk", plural=entity.plural, name=action.name),
        }
        for action in actions_of(current_crm(), entity)
        if action.bulk and _permitted_in_general(entity, action)
    ]


def _render_detail(entity: Any, record_id: int, form: dict[str, Any], status: int) -> Any:
    context = detail.context(service(), entity, record_id, tz_name())
    context["action_failure"] = form
    return render_template("core/detail.html", **context), status


def make_blueprint() -> Blueprint:
    bp = Blueprint("web_actions", __name__)

    @bp.route("/<plural>/<int:record_id>/actions/<name>", methods=["GET", "POST"])
    def run(plural: str, record_id: int, name: str) -> Any:
        entity = entity_for(plural)
        records = service()
        record = records.get(entity, record_id)
        action = find_action(current_crm(), entity, name)
        if not permitted(records, entity, action, record):
            raise PermissionDenied(_("You may not run this action on this record."))
        specs = input_fields(action)
        show = url_for("web_records.show", plural=plural, record_id=record_id)
        if request.method == "GET":
            return render_template(
                "core/action.html",
                entity=entity,
                record=record,
                item={
                    "action": action,
                    "reason": action.reason(record),
                    "specs": specs,
                    "values": default_values(action, specs),
                    "url": request.path,
                },
                back=show,
            )
        submitted = {s.name: str(request.form.get(s.name, "")) for s in specs}
        try:
            result = run_action(records, entity, record, name, read_input(specs, request.form))
        except ValidationError as exc:
            errors = field_errors(exc.messages)
            form = {"name": name, "values": submitted, "errors": errors}
            return _render_detail(entity, record_id, form, 422)
        except Conflict as exc:
            form = {"name": name, "values": submitted, "errors": {"_schema": [exc.detail]}}
            return _render_detail(entity, record_id, form, 409)
        if result.message:
            flash(_(result.message, **result.message_args), "success")
        else:
            flash(_("%(action)s: done.", action=_(action.label)), "success")
        if result.target is not None:
            target_plural, target_id = result.target
            show = (
                url_for("web_records.index", plural=target_plural)
                if target_id is None  # the record is gone (erased): its list
                else url_for("web_records.show", plural=target_plural, record_id=target_id)
            )
        return redirect(show, 303)

    @bp.route("/<plural>/actions/<name>/bulk", methods=["POST"])
    def bulk(plural: str, name: str) -> Any:
        entity = entity_for(plural)
        action = find_action(current_crm(), entity, name)
        back = safe_back(plural)
        if not action.bulk:
            raise PermissionDenied(_("This action does not run on several records."))
        if not _permitted_in_general(entity, action):
            raise PermissionDenied(_("You may not run this action on this record."))
        ids = list(dict.fromkeys(int(i) for i in request.form.getlist("ids") if i.isdigit()))
        if not ids:
            flash(_("Select at least one record."), "error")
            return redirect(back, 303)
        records = service()
        done, refused = 0, []
        for record_id in ids[:BULK_LIMIT]:
            try:
                run_action(records, entity, record_id, name, {})
                done += 1
            except CRMError as exc:
                messages = field_errors(exc.messages) if isinstance(exc, ValidationError) else {}
                reasons = [_(m) for ms in messages.values() for m in ms] or [_(exc.detail)]
                refused.append(f"#{record_id}: {'; '.join(reasons)}")
        if done:
            flash(
                _("%(action)s: %(count)d records done.", action=_(action.label), count=done),
                "success",
            )
        if refused:
            flash(
                _(
                    "%(count)d records were left as they were: %(reasons)s",
                    count=len(refused),
                    reasons=" ".join(refused),
                ),
                "error",
            )
        return redirect(back, 303)

    return bp


def init_actions(app: Flask) -> None:
    """The blueprint and the template helpers of record actions."""
    app.register_blueprint(make_blueprint())
    app.add_template_global(record_actions)
    app.add_template_global(bulk_actions)
    app.add_template_global(locked_fields)
