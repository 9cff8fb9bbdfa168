"""Action kinds: what a rule does to the record that fired it.

Every write goes through the record service the action is given (the rule owner's, or the
system's for a "system" rule), so a rule can never do what its owner may not. Plugins add
kinds through the ``crm_automation_actions`` hook.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import marshmallow
from crmcore import ValidationError
from crmcore.actions import actions_of, run_action
from crmcore.db import utcnow
from crmcore.notifications import notify
from crmcore.registry import SYSTEM_FIELDS
from sqlalchemy import func, select

from . import templating
from .i18n import text as _

#: settings of an assignment
ASSIGN_MODES = ("fixed", "round_robin", "least_loaded")
MAX_TAGS = 20


@dataclass
class ActionContext:
    """What an action's ``run`` gets.

    :ivar records: the record service acting for the rule (its owner, or the system).
    :ivar entity: the entity of the record.
    :ivar record: the record that fired the rule, loaded through ``records``.
    :ivar workflow: the rule.
    :ivar crm: the app's ``CRM`` state.
    :ivar run: the run doing the action (its id, and the ``payload`` of an incoming webhook).
    """

    records: Any
    entity: Any
    record: Any
    workflow: Any
    crm: Any
    run: Any = None

    @property
    def session(self) -> Any:
        return self.records.session

    @property
    def payload(self) -> Any:
        """The JSON body of the incoming-webhook request that fired the run, else ``None``."""
        return getattr(self.run, "payload", None)

    def template_context(self) -> dict[str, Any]:
        """What the action's templates see: the record, and ``payload`` when a request sent one."""
        return templating.context_of(self.entity, self.record, self.payload)


@dataclass(frozen=True)
class ActionType:
    """A kind of action.

    :param name: identifier stored in the rule (``{"type": name, ...}``).
    :param label: English label (translated through the catalogues).
    :param run: ``run(ctx, config)`` does it and returns a short English result ("Tag added");
        it raises to fail (the job queue retries it with backoff, then records the failure).
    :param validate: ``validate(config, entity, crm, where)`` raises ``ValidationError`` on
        ``actions`` naming ``where`` (``"Action 2 (update_fields)"``) and the bad setting.
    :param describe: ``describe(config, entity)``: what a dry run says it would do.
    :param fields: names of the settings the rule builder asks for.
    :param requires: a plugin the kind works with; while it is disabled the kind is not
        offered and a rule using it is refused when saved.
    """

    name: str
    label: str
    run: Callable[[ActionContext, Mapping[str, Any]], str]
    validate: Callable[[Mapping[str, Any], Any, Any, str], None] | None = None
    describe: Callable[[Mapping[str, Any], Any], str] | None = None
    fields: tuple[str, ...] = ()
    requires: str | None = None


def _refuse(where: str, message: str) -> ValidationError:
    return ValidationError({"actions": [f"{where}: {message}"]})


def _problem(problem: Any) -> str:
    """A field's first marshmallow message (the schema's own, translated by the core)."""
    while isinstance(problem, list | tuple) and problem:
        problem = problem[0]
    return str(problem)


# update fields ------------------------------------------------------------------------------


def _check_values(config: Mapping[str, Any], entity: Any, _crm: Any, where: str) -> None:
    values = config.get("values")
    if not isinstance(values, Mapping) or not values:
        raise _refuse(where, _("give at least one field and its new value."))
    declared = entity.update_schema.fields
    for name in values:
        if name in SYSTEM_FIELDS or name not in declared or declared[name].dump_only:
            raise _refuse(where, _("no field %(name)s on %(entity)s to update.", name=repr(name),
                                     entity=entity.plural))  # fmt: skip
    try:
        entity.update_schema.load(dict(values))
    except marshmallow.ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"": exc.messages}
        name, problem = next(iter(messages.items()))
        raise _refuse(where, _("field %(name)s: %(problem)s", name=repr(name),
                                 problem=_problem(problem))) from None  # fmt: skip


def _update_fields(ctx: ActionContext, config: Mapping[str, Any]) -> str:
    ctx.records.update(ctx.entity, ctx.record, dict(config["values"]))
    return "Fields updated: " + ", ".join(sorted(config["values"]))


# tags -----------------------------------------------------------------------------------------


def _check_tags(config: Mapping[str, Any], entity: Any, _crm: Any, where: str) -> None:
    if not entity.has_tags:
        raise _refuse(where, _("%(entity)s have no tags.", entity=entity.plural))
    tags = config.get("tags")
    if (
        not isinstance(tags, list)
        or not tags
        or len(tags) > MAX_TAGS
        or not all(isinstance(t, str) and 0 < len(t.strip()) <= 50 for t in tags)
    ):
        raise _refuse(where, _("give 1 to 20 tags of 1 to 50 characters."))


def _add_tags(ctx: ActionContext, config: Mapping[str, Any]) -> str:
    current = list(ctx.record.tags or [])
    wanted = [t.strip() for t in config["tags"] if t.strip() not in current]
    if not wanted:
        return "Tags already present"
    ctx.records.update(ctx.entity, ctx.record, {"tags": [*current, *wanted]})
    return "Tags added: " + ", ".join(wanted)


def _remove_tags(ctx: ActionContext, config: Mapping[str, Any]) -> str:
    current = list(ctx.record.tags or [])
    drop = {t.strip() for t in config["tags"]}
    kept = [t for t in current if t not in drop]
    if kept == current:
        return "Tags already absent"
    ctx.records.update(ctx.entity, ctx.record, {"tags": kept})
    return "Tags removed: " + ", ".join(t for t in current if t in drop)


# tasks ----------------------------------------------------------------------------------------


def _check_task(config: Mapping[str, Any], _entity: Any, _crm: Any, where: str) -> None:
    title = config.get("title")
    if not isinstance(title, str) or not title.strip():
        raise _refuse(where, _("the task needs a title."))
    templating.check(title, _("%(where)s, title", where=where))
    if config.get("description") is not None:
        templating.check(config["description"], _("%(where)s, description", where=where))
    due = config.get("due_in_days", 0)
    if not isinstance(due, int) or isinstance(due, bool) or not 0 <= due <= 3650:
        raise _refuse(where, _("due_in_days is a whole number of days from 0 to 3650."))
    if config.get("priority", "normal") not in ("low", "normal", "high"):
        raise _refuse(where, _("priority is low, normal or high."))
    assignee = config.get("assignee", "record_owner")
    if assignee not in ("record_owner", "rule_owner") and not _is_id(assignee):
        raise _refuse(where, _("assignee is record_owner, rule_owner or a user's id."))


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31


def _create_task(ctx: ActionContext, config: Mapping[str, Any]) -> str:
    context = ctx.template_context()
    assignee = config.get("assignee", "record_owner")
    if assignee == "record_owner":
        owner_field = ctx.entity.owner_field
        assignee = getattr(ctx.record, owner_field, None) if owner_field else None
    elif assignee == "rule_owner":
        assignee = ctx.workflow.owner_id
    data: dict[str, Any] = {
        "title": templating.render(config["title"], context)[:200],
        "record_type": ctx.entity.name,
        "record_id": ctx.record.id,
        "priority": config.get("priority", "normal"),
        "due_at": (utcnow() + dt.timedelta(days=int(config.get("due_in_days", 0)))).isoformat(),
    }
    if config.get("description"):
        data["description"] = templating.render(config["description"], context)
    if assignee is not None:
        data["assignee_id"] = assignee
    task = ctx.records.create("tasks", data)
    return f"Task #{task.id} created"


# assignment -----------------------------------------------------------------------------------


def _check_assign(config: Mapping[str, Any], entity: Any, crm: Any, where: str) -> None:
    if not entity.owner_field or entity.owner_field == "id":
        raise _refuse(where, _("%(entity)s have no owner to assign.", entity=entity.plural))
    mode = config.get("mode")
    if mode not in ASSIGN_MODES:
        raise _refuse(where, _("mode is fixed, round_robin or least_loaded."))
    from crmcore.users.models import Team, User

    if mode == "fixed":
        if not _is_id(config.get("user_id")) or crm.session.get(User, config["user_id"]) is None:
            raise _refuse(where, _("choose the user to assign."))
    elif not _is_id(config.get("team_id")) or crm.session.get(Team, config["team_id"]) is None:
        raise _refuse(where, _("choose the team to assign over."))


def _team_members(session: Any, team_id: int) -> list[int]:
    from crmcore.users.models import Team

    team = session.get(Team, team_id)
    if team is None:
        raise LookupError(f"team {team_id} no longer exists")
    members = [m.id for m in team.members if m.active]
    if not members:
        raise LookupError(f"team {team_id} has no active member")
    return sorted(members)


def _next_in_turn(ctx: ActionContext, team_id: int, position: int) -> int:
    """The member after the one this action assigned last (kept in ``automation_rotation``)."""
    from .models import AutomationRotation

    members = _team_members(ctx.session, team_id)
    row = ctx.session.scalar(
        select(AutomationRotation)
        .where(
            AutomationRotation.workflow_id == ctx.workflow.id,
            AutomationRotation.position == position,
        )
        .with_for_update()
    )
    if row is None:
        row = AutomationRotation(workflow_id=ctx.workflow.id, position=position)
        ctx.session.add(row)
    later = [m for m in members if row.last_user_id is not None and m > row.last_user_id]
    chosen = later[0] if later else members[0]
    row.last_user_id = chosen
    return chosen


def _least_loaded(ctx: ActionContext, team_id: int) -> int:
    """The member owning the fewest live records of the entity (ties: the lowest id)."""
    members = _team_members(ctx.session, team_id)
    model = ctx.entity.model
    owner = getattr(model, ctx.entity.owner_field)
    counts = dict(
        ctx.session.execute(
            select(owner, func.count())
            .where(owner.in_(members), model.deleted_at.is_(None))
            .group_by(owner)
        ).all()
    )
    return min(members, key=lambda m: (counts.get(m, 0), m))


def _assign(ctx: ActionContext, config: Mapping[str, Any]) -> str:
    mode = config["mode"]
    if mode == "fixed":
        user_id = int(config["user_id"])
    elif mode == "round_robin":
        user_id = _next_in_turn(ctx, int(config["team_id"]), int(config.get("_position", 0)))
    else:
        user_id = _least_loaded(ctx, int(config["team_id"]))
    ctx.records.update(ctx.entity, ctx.record, {ctx.entity.owner_field: user_id})
    return f"Assigned to user #{user_id}"


# notifications --------------------------------------------------------------------------------


def _check_notify(config: Mapping[str, Any], _entity: Any, crm: Any, where: str) -> None:
    from crmcore.users.models import User

    users = config.get("users", [])
    if not isinstance(users, list) or not all(_is_id(u) for u in users):
        raise _refuse(where, _("users is a list of users' ids."))
    for user_id in users:
        if crm.session.get(User, user_id) is None:
            raise _refuse(where, _("no user #%(id)s.", id=user_id))
    if not users and not config.get("record_owner") and not config.get("rule_owner"):
        raise _refuse(where, _("choose whom to notify."))
    templating.check(config.get("title", ""), _("%(where)s, title", where=where))
    if not str(config.get("title", "")).strip():
        raise _refuse(where, _("the notification needs a title."))
    templating.check(config.get("body", ""), _("%(where)s, body", where=where))


def _notify(ctx: ActionContext, config: Mapping[str, Any]) -> str:
    context = ctx.template_context()
    title = templating.render(config["title"], context)
    body = templating.render(config.get("body", ""), context)
    users = list(config.get("users", []))
    if config.get("record_owner") and ctx.entity.owner_field:
        users.append(getattr(ctx.record, ctx.entity.owner_field, None))
    if config.get("rule_owner"):
        users.append(ctx.workflow.owner_id)
    targets = sorted({u for u in users if u is not None})
    for user_id in targets:
        notify(ctx.session, user_id, "automation", title, body, (ctx.entity.name, ctx.record.id))
    ctx.session.commit()
    return f"{len(targets)} user(s) notified"


# e-mail ---------------------------------------------------------------------------------------


def _check_email(config: Mapping[str, Any], entity: Any, _crm: Any, where: str) -> None:
    to = config.get("to", "record")
    if to == "record":
        if "email" not in entity.columns:
            raise _refuse(where, _("%(entity)s have no e-mail address to write to.",
                                  entity=entity.plural))  # fmt: skip
    elif to not in ("record_owner", "rule_owner") and not (
        isinstance(to, str) and "@" in to and len(to) <= 254 and "\n" not in to
    ):
        raise _refuse(where, _("to is record, record_owner, rule_owner or an e-mail address."))
    if not str(config.get("subject", "")).strip():
        raise _refuse(where, _("the e-mail needs a subject."))
    templating.check(config.get("subject", ""), _("%(where)s, subject", where=where))
    templating.check(config.get("body", ""), _("%(where)s, body", where=where))


def _recipient(ctx: ActionContext, to: str) -> str | None:
    from crmcore.users.models import User

    if to == "record":
        if getattr(ctx.record, "email_opt_out", False):
            return None
        return getattr(ctx.record, "email", None)
    if to in ("record_owner", "rule_owner"):
        owner_field = ctx.entity.owner_field
        user_id = (
            ctx.workflow.owner_id
            if to == "rule_owner"
            else getattr(ctx.record, owner_field, None)
            if owner_field
            else None
        )
        user = ctx.session.get(User, user_id) if user_id else None
        return user.email if user is not None else None
    return to


def _send_email(ctx: ActionContext, config: Mapping[str, Any]) -> str:
    from crmcore.mail import send_or_queue

    to = _recipient(ctx, config.get("to", "record"))
    if not to:
        return "Not sent: no address, or the contact opted out"
    context = ctx.template_context()
    unsubscribe = None
    if (
        ctx.workflow.sequence
        and ctx.entity.name == "contact"
        and config.get("to", "record") == "record"
    ):
        # a sequence's messages are marketing mail: the core's opt-out link goes with each
        from crmcore.consent import unsubscribe_url

        unsubscribe = unsubscribe_url(ctx.crm, ctx.record.id, "automation", ctx.workflow.id,
                                      f"sequence:{ctx.workflow.id}")  # fmt: skip
        context["unsubscribe_url"] = unsubscribe
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = " ".join(templating.render(config["subject"], context).split())[:200]
    body = templating.render(config.get("body", ""), context)
    if unsubscribe is not None:
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        if unsubscribe not in body:
            body = f"{body}\n\n-- \n{unsubscribe}\n"
    message.set_content(body)
    send_or_queue(ctx.crm.app, message)
    return "E-mail sent"


# record actions -------------------------------------------------------------------------------


def _check_record_action(config: Mapping[str, Any], entity: Any, crm: Any, where: str) -> None:
    names = [a.name for a in actions_of(crm, entity)]
    if config.get("action") not in names:
        shown = ", ".join(names) or "-"
        raise _refuse(where, _("no action %(name)s on %(entity)s; use one of: %(names)s.",
                               name=repr(config.get("action")), entity=entity.plural,
                               names=shown))  # fmt: skip
    if not isinstance(config.get("data", {}), Mapping):
        raise _refuse(where, _("data is an object of the action's inputs."))


def _run_record_action(ctx: ActionContext, config: Mapping[str, Any]) -> str:
    run_action(ctx.records, ctx.entity, ctx.record, config["action"], config.get("data") or {})
    return f"Action {config['action']} performed"


# wait -----------------------------------------------------------------------------------------

#: the longest wait one action may hold
MAX_WAIT = dt.timedelta(days=365)


def wait_of(config: Mapping[str, Any]) -> dt.timedelta:
    """The delay a ``wait`` action holds (``days``, ``hours``, ``minutes``)."""
    return dt.timedelta(
        days=int(config.get("days", 0) or 0),
        hours=int(config.get("hours", 0) or 0),
        minutes=int(config.get("minutes", 0) or 0),
    )


def _check_wait(config: Mapping[str, Any], _entity: Any, _crm: Any, where: str) -> None:
    for unit in ("days", "hours", "minutes"):
        value = config.get(unit, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100_000:
            raise _refuse(where, _("%(unit)s is a whole number from 0.", unit=unit))
    delay = wait_of(config)
    if delay <= dt.timedelta(0) or delay > MAX_WAIT:
        raise _refuse(where, _("wait from one minute to 365 days."))


def _wait(_ctx: ActionContext, config: Mapping[str, Any]) -> str:
    # the engine holds the next action back; this only reports the wait
    return f"Waited {wait_of(config)}"


def _describe_wait(config: Mapping[str, Any], _entity: Any) -> str:
    return f"Wait {wait_of(config)}, then go on"


# static lists (the marketing plugin's static segments) --------------------------------------


def _check_static_list(config: Mapping[str, Any], entity: Any, crm: Any, where: str) -> None:
    from crm_marketing.models import Segment

    if entity.name != "contact":
        raise _refuse(where, _("only contacts join a static list."))
    segment_id = config.get("segment_id")
    segment = crm.session.get(Segment, segment_id) if _is_id(segment_id) else None
    if segment is None or segment.deleted_at is not None:
        raise _refuse(where, _("choose the static list (segment_id) to add the contact to."))
    if segment.kind != "static":
        raise _refuse(where, _("segment %(name)s is dynamic, not a static list.",
                               name=repr(segment.name)))  # fmt: skip


def _add_to_static_list(ctx: ActionContext, config: Mapping[str, Any]) -> str:
    from crm_marketing.segments import add_members

    # read through the record service: a rule may only fill a list its owner may read
    segment = ctx.records.get("segments", int(config["segment_id"]))
    added, _listed = add_members(
        ctx.records, segment, [ctx.record.id], source=f"automation:{ctx.workflow.id}"
    )
    return f"Added to list #{segment.id}" if added else f"Already on list #{segment.id}"


# catalogue ------------------------------------------------------------------------------------


def _says(text: str) -> Callable[[Mapping[str, Any], Any], str]:
    def describe(config: Mapping[str, Any], _entity: Any) -> str:
        shown = {k: v for k, v in config.items() if k != "type"}
        return f"{text}: {shown}" if shown else text

    return describe


def builtin_actions() -> list[ActionType]:
    """The kinds the automation plugin provides itself."""
    from .webhooks.call import call_webhook, check_call, describe_call

    return [
        ActionType("update_fields", "Update fields", _update_fields, _check_values,
                   _says("Update fields"), ("values",)),
        ActionType("add_tags", "Add tags", _add_tags, _check_tags, _says("Add tags"),
                   ("tags",)),
        ActionType("remove_tags", "Remove tags", _remove_tags, _check_tags,
                   _says("Remove tags"), ("tags",)),
        ActionType("create_task", "Create a task", _create_task, _check_task,
                   _says("Create a task"),
                   ("title", "description", "due_in_days", "priority", "assignee")),
        ActionType("assign_owner", "Assign the owner", _assign, _check_assign,
                   _says("Assign the owner"), ("mode", "user_id", "team_id")),
        ActionType("notify", "Notify users", _notify, _check_notify, _says("Notify users"),
                   ("users", "record_owner", "rule_owner", "title", "body")),
        ActionType("send_email", "Send an e-mail", _send_email, _check_email,
                   _says("Send an e-mail"), ("to", "subject", "body")),
        ActionType("run_action", "Run a record action", _run_record_action,
                   _check_record_action, _says("Run a record action"), ("action", "data")),
        ActionType("wait", "Wait", _wait, _check_wait, _describe_wait,
                   ("days", "hours", "minutes")),
        ActionType("add_to_static_list", "Add to a static list", _add_to_static_list,
                   _check_static_list, _says("Add to a static list"), ("segment_id",),
                   requires="marketing"),
        ActionType("call_webhook", "Call a webhook", call_webhook, check_call, describe_call,
                   ("url", "fields")),
    ]  # fmt: skip
