"""Pages: the rules, the rule builder (trigger -> conditions -> actions), a rule's run history
and its dry run. Everything goes through the signed-in user's record service."""

from __future__ import annotations

from typing import Any

from crmcore import current_crm
from crmcore.actions import actions_of
from crmcore.errors import CRMError, PermissionDenied, ValidationError
from crmcore.web.i18n import label
from flask import Blueprint, abort, flash, g, redirect, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from . import builder, catalog
from .history import STATUS_LABELS, call_deliveries, runs_of_rule, summary
from .incoming import made_secret, made_url
from .rules import SYSTEM_PERMISSION
from .schedules import _date_kind

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TRIGGER_LABELS = {
    "created": _l("A record is created"),
    "updated": _l("A record is updated"),
    "deleted": _l("A record is deleted"),
    "restored": _l("A record is restored"),
    "field_changed": _l("A field changes"),
    "action": _l("A record action is performed"),
    "date": _l("A date is reached"),
    "schedule": _l("On a schedule"),
    "incoming_webhook": _l("An incoming webhook is received"),
}
ACTION_LABELS = {
    "update_fields": _l("Update a field"),
    "add_tags": _l("Add tags"),
    "remove_tags": _l("Remove tags"),
    "create_task": _l("Create a task"),
    "assign_owner": _l("Assign the owner"),
    "notify": _l("Notify users"),
    "send_email": _l("Send an e-mail"),
    "run_action": _l("Run a record action"),
    "wait": _l("Wait"),
    "add_to_static_list": _l("Add to a static list"),
    "call_webhook": _l("Call a webhook"),
}
OPERATOR_LABELS = {
    "eq": _l("is"),
    "ne": _l("is not"),
    "gt": _l("greater than"),
    "gte": _l("at least"),
    "lt": _l("less than"),
    "lte": _l("at most"),
    "in": _l("one of (commas)"),
    "contains": _l("contains"),
    "isnull": _l("is empty (true/false)"),
}
ASSIGN_MODES = (
    ("fixed", _l("To one user")),
    ("round_robin", _l("In turn over a team")),
    ("least_loaded", _l("To the least loaded in a team")),
)
RECIPIENTS = (
    ("record", _l("The record's e-mail address")),
    ("record_owner", _l("The record's owner")),
    ("rule_owner", _l("The rule's owner")),
)
PART_LABELS = {
    "name": _l("Name"),
    "entity": _l("Records"),
    "trigger": _l("Trigger"),
    "conditions": _l("Conditions"),
    "actions": _l("Actions"),
    "owner_id": _l("Owner"),
}


def _records() -> Any:
    return current_crm().records(g.crm_access)


def _entities(records: Any) -> list[Any]:
    crm = records.crm
    return sorted(
        (e for e in crm.entities() if e.name != "workflow" and records.access.can(e, "read")),
        key=lambda e: e.plural,
    )


def _static_lists(records: Any) -> list[tuple[int, str]] | None:
    """The static lists (marketing segments) the user may read; ``None`` without marketing."""
    if "marketing" not in records.crm.enabled_plugins():
        return None
    from crm_marketing.models import Segment

    query = records.query("segments").where(Segment.kind == "static").order_by(Segment.name)
    return [(s.id, s.name) for s in records.session.scalars(query.limit(500))]


def _people(records: Any) -> tuple[list[Any], list[Any]]:
    """Users and teams the user may pick (read), for the pickers."""
    from crmcore.users.models import Team, User

    users: list[Any] = []
    teams: list[Any] = []
    if records.access.can("users", "read"):
        users = list(records.session.scalars(records.query("users").order_by(User.email)))
    elif records.user is not None:
        users = [records.user]
    if records.access.can("teams", "read"):
        teams = list(records.session.scalars(records.query("teams").order_by(Team.name)))
    return users, teams


def _fields_of(crm: Any, entity: Any) -> dict[str, list[str]]:
    skip = {"id", "version", "deleted_at", "custom_fields"}
    declared = entity.update_schema.fields
    custom_dates = [
        f"custom.{d.name}" for d in crm.custom_field_defs(crm.session, entity) if d.type == "date"
    ] if entity.has_custom_fields else []  # fmt: skip
    return {
        "conditions": sorted(entity.filterable),
        "watch": sorted(n for n in entity.columns if n not in skip),
        "updatable": sorted(n for n, f in declared.items() if not f.dump_only and n not in skip),
        "dates": sorted([n for n in entity.columns if _date_kind(crm, entity, n)] + custom_dates),
        "actions": [(a.name, _(a.label)) for a in actions_of(crm, entity)],
    }


def make_blueprint() -> Blueprint:
    """The rule pages, under ``/automation/rules`` (blueprint ``automation_rules``)."""
    bp = Blueprint(
        "automation_rules",
        __name__,
        url_prefix="/automation/rules",
        template_folder="templates",
        static_folder="static",
    )

    @bp.route("")
    def rules() -> Any:
        from .models import AutomationWorkflow

        records = _records()
        found = records.session.scalars(
            records.query("workflows").order_by(AutomationWorkflow.name)
        )
        return render_template(
            "automation/rules.html",
            rules=list(found),
            can_create=records.access.can("workflows", "create"),
            trigger_labels=TRIGGER_LABELS,
        )

    def render_builder(rule: Any, values: dict[str, Any], errors: dict[str, Any],
                       status: int = 200) -> Any:  # fmt: skip
        records = _records()
        crm = records.crm
        entities = _entities(records)
        names = {e.name: e for e in entities} | {e.plural: e for e in entities}
        entity = names.get(values.get("entity") or "") or (entities[0] if entities else None)
        if entity is None:
            abort(403)
        users, teams = _people(records)
        page = render_template(
            "automation/builder.html",
            rule=rule,
            values={**values, "entity": entity.name},
            entity=entity,
            entities=entities,
            fields=_fields_of(crm, entity),
            conditions=builder.condition_rows(values.get("conditions", "")),
            slots=builder.action_slots(values.get("actions", [])),
            trigger=values.get("trigger") or {"type": "created"},
            triggers=builder.TRIGGER_KINDS,
            kinds=[k for k in builder.ACTION_KINDS if k in catalog.actions(crm)],
            static_lists=_static_lists(records),
            operators=builder.OPERATORS,
            weekdays=WEEKDAYS,
            users=users,
            teams=teams,
            may_system=records.access.has(SYSTEM_PERMISSION),
            label_of=lambda name: label(name.removeprefix("custom."), entity),
            trigger_labels=TRIGGER_LABELS,
            action_labels=ACTION_LABELS,
            operator_labels=OPERATOR_LABELS,
            assign_modes=ASSIGN_MODES,
            recipients=RECIPIENTS,
            part_labels=PART_LABELS,
            errors=errors,
        )
        return page, status

    def save(rule: Any) -> Any:
        records = _records()
        stored = list(rule.actions) if rule is not None else None
        values = builder.rule_from_form(request.form, stored)
        if request.form.get("refresh"):  # another entity chosen: its fields, nothing saved
            return render_builder(rule, values, {})
        if records.access.has(SYSTEM_PERMISSION):
            values["system"] = request.form.get("system") == "on"
        try:
            if rule is None:
                saved = records.create("workflows", values)
            else:
                saved = records.update(
                    "workflows", rule, values, expected_version=_int(request.form.get("version"))
                )
        except ValidationError as exc:
            records.rollback()
            messages = exc.messages if isinstance(exc.messages, dict) else {"": [exc.detail]}
            return render_builder(rule, values, messages, 422)
        except PermissionDenied as exc:
            records.rollback()
            return render_builder(rule, values, {"": [exc.translated()]}, 403)
        except CRMError as exc:
            records.rollback()
            return render_builder(rule, values, {"": [exc.translated()]}, exc.status)
        flash(_("Rule saved."), "success")
        if made_url(saved) or made_secret(saved):  # shown once: on the answer itself
            return render_history(saved)
        return redirect(f"/automation/rules/{saved.id}", 303)

    @bp.route("/new", methods=["GET", "POST"])
    def new() -> Any:
        records = _records()
        if not records.access.can("workflows", "create"):
            abort(403)
        if request.method == "POST":
            return save(None)
        return render_builder(None, {"entity": request.args.get("entity", "contact"),
                                     "active": True}, {})  # fmt: skip

    @bp.route("/<int:rule_id>/edit", methods=["GET", "POST"])
    def edit(rule_id: int) -> Any:
        rule = _records().get("workflows", rule_id, "update")
        if request.method == "POST":
            return save(rule)
        values = {name: getattr(rule, name) for name in
                  ("name", "description", "entity", "trigger", "conditions", "actions", "active",
                   "system")}  # fmt: skip
        return render_builder(rule, values, {})

    def render_history(rule: Any, plan: Any = None) -> Any:
        records = _records()
        runs = runs_of_rule(records.session, rule.id)
        can_edit = records.access.allows_record(
            records.entity("workflows"), "update", rule, records.session
        )
        return render_template(
            "automation/history.html",
            rule=rule,
            runs=[(run, summary(run)) for run in runs],
            plan=plan,
            plural=records.entity(rule.entity).plural,
            status_labels=STATUS_LABELS,
            can_edit=can_edit,
            incoming=(rule.trigger or {}).get("type") == "incoming_webhook",
            new_url=made_url(rule),
            secret=rule.secret if can_edit else None,
            new_secret=made_secret(rule),
            deliveries=call_deliveries(records.session, rule.id),
            trigger_label=TRIGGER_LABELS.get(str((rule.trigger or {}).get("type")), ""),
        )

    @bp.route("/<int:rule_id>", methods=["GET", "POST"])
    def history(rule_id: int) -> Any:
        from .engine import dry_run

        records = _records()
        rule = records.get("workflows", rule_id)
        plan = None
        if request.method == "POST":  # the dry run: reads only
            try:
                plan = dry_run(records.crm, rule)
                plan["actions"] = plan_in_words(rule.actions)
            except CRMError as exc:
                flash(exc.translated(), "error")
        return render_history(rule, plan)

    def rotate(rule_id: int, field: str, message: str) -> Any:
        records = _records()
        rule = records.get("workflows", rule_id, "update")
        try:
            rule = records.update("workflows", rule, {field: True})
        except CRMError as exc:
            records.rollback()
            flash(exc.translated(), "error")
            return redirect(f"/automation/rules/{rule_id}", 303)
        flash(message, "success")
        return render_history(rule)

    @bp.route("/<int:rule_id>/hook-url", methods=["POST"])
    def rotate_url(rule_id: int) -> Any:
        """A new incoming-webhook URL, shown on the answer; the old one stops working."""
        return rotate(rule_id, "rotate_hook_url",
                      _("New URL made. Copy it now: it is not shown again."))  # fmt: skip

    @bp.route("/<int:rule_id>/signing-secret", methods=["POST"])
    def rotate_secret(rule_id: int) -> Any:
        """A new signing secret for the rule's call-webhook actions."""
        return rotate(rule_id, "rotate_signing_secret",
                      _("New signing secret made; the old one no longer signs."))  # fmt: skip

    return bp


def plan_in_words(actions: list[Any]) -> list[str]:
    """What each action of a dry run would do, in the reader's language: its kind and its
    settings as the rule holds them."""
    import json

    out = []
    for action in actions:
        kind = str(action.get("type"))
        shown = {k: v for k, v in action.items() if k != "type"}
        text = str(ACTION_LABELS.get(kind, kind))
        out.append(f"{text}: {json.dumps(shown, ensure_ascii=False)}" if shown else text)
    return out


def _int(raw: Any) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def rule_panel(record: Any, _user: Any, records: Any) -> str:
    """The rule's page panel: its builder (when the user may change it) and its history."""
    from markupsafe import Markup, escape

    links = [(f"/automation/rules/{record.id}", _("Run history and dry run"))]
    entity = records.entity("workflows")
    if records.access.allows_record(entity, "update", record, records.session):
        links.insert(0, (f"/automation/rules/{record.id}/edit", _("Edit in the rule builder")))
    items = "".join(f'<li><a href="{escape(url)}">{escape(text)}</a></li>' for url, text in links)
    return str(Markup(f"<ul>{items}</ul>"))
