"""The rule builder's form: a rule as form fields and back, with no ids typed by hand.

Condition rows (field, operator, value) become the list filter language; each action slot
becomes one action of the kind chosen in it. The rule itself is checked by the record service
when saved (``rules.prepare_workflow``), so the page shows the same messages as the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from crmcore.api.listing import OPERATORS

CONDITION_ROWS = 4
MIN_ACTION_SLOTS = 3
ACTION_KINDS = ("update_fields", "add_tags", "remove_tags", "create_task", "assign_owner",
                "notify", "send_email", "run_action", "wait", "add_to_static_list",
                "call_webhook")  # fmt: skip
TRIGGER_KINDS = ("created", "updated", "deleted", "restored", "field_changed", "action", "date",
                 "schedule", "incoming_webhook")  # fmt: skip


def _int(raw: Any) -> int | None:
    try:
        return int(str(raw).strip())
    except (TypeError, ValueError):
        return None


def _tags(raw: str) -> list[str]:
    return [t.strip() for t in raw.split(",") if t.strip()]


def trigger_from_form(form: Mapping[str, str], weekdays: list[str]) -> dict[str, Any]:
    """The trigger chosen in the form, with only the settings its kind uses."""
    kind = form.get("trigger_type", "")
    trigger: dict[str, Any] = {"type": kind}
    if kind == "field_changed":
        trigger["field"] = form.get("trigger_field", "")
        for name in ("from", "to"):
            if form.get(f"trigger_{name}", "") != "":
                trigger[name] = form[f"trigger_{name}"]
    elif kind == "action":
        trigger["action"] = form.get("trigger_action", "")
    elif kind == "date":
        trigger["field"] = form.get("trigger_date_field", "")
        offset = _int(form.get("offset_days", "0") or "0")
        trigger["offset_days"] = offset if offset is not None else form.get("offset_days")
        trigger["yearly"] = form.get("yearly") == "on"
    elif kind == "schedule":
        trigger["time"] = form.get("time", "")
        trigger["weekdays"] = sorted({d for d in (_int(w) for w in weekdays) if d is not None})
    elif kind == "incoming_webhook":
        trigger["match_field"] = form.get("match_field", "").strip()
        trigger["payload_key"] = form.get("payload_key", "").strip()
        trigger["create"] = form.get("create_from_payload") == "on"
    return trigger


def fields_from_text(text: str) -> dict[str, str]:
    """``name = template`` lines as a mapping (blank lines skipped; a line without ``=`` is
    kept whole as a name with an empty template, so the save refuses nothing silently)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, _sep, template = line.partition("=")
        out[name.strip()] = template.strip()
    return out


def fields_as_text(fields: Mapping[str, Any] | None) -> str:
    """The inverse of :func:`fields_from_text`."""
    return "\n".join(f"{name} = {text}" for name, text in (fields or {}).items())


def conditions_from_form(form: Mapping[str, str]) -> str:
    """The condition rows as the list filter language (``status=open&amount__gte=10``)."""
    pairs = []
    for n in range(CONDITION_ROWS):
        field = form.get(f"cond-{n}-field", "").strip()
        if not field:
            continue
        op = form.get(f"cond-{n}-op", "eq")
        key = field if op == "eq" else f"{field}__{op}"
        pairs.append((key, form.get(f"cond-{n}-value", "")))
    return urlencode(pairs)


def condition_rows(conditions: str) -> list[dict[str, str]]:
    """The rows of the form for stored conditions, and empty rows up to ``CONDITION_ROWS``."""
    rows = []
    for key, value in parse_qsl(conditions or "", keep_blank_values=True):
        field, _sep, op = key.partition("__")
        rows.append({"field": field, "op": op or "eq", "value": value})
    while len(rows) < CONDITION_ROWS:
        rows.append({"field": "", "op": "eq", "value": ""})
    return rows


def action_from_form(form: Mapping[str, str], n: int, users: list[str]) -> dict[str, Any] | None:
    """Action slot ``n`` of the form, ``None`` when the slot is left empty."""

    def get(name: str) -> str:
        return form.get(f"act-{n}-{name}", "").strip()

    kind = get("type")
    if not kind:
        return None
    action: dict[str, Any] = {"type": kind}
    if kind == "update_fields":
        value: Any = get("value")
        action["values"] = {get("field"): None if value == "" else value}
    elif kind in ("add_tags", "remove_tags"):
        action["tags"] = _tags(get("tags"))
    elif kind == "create_task":
        action.update(title=get("title"), description=get("body") or None,
                      priority=get("priority") or "normal",
                      due_in_days=_int(get("due") or "0"),
                      assignee=_int(get("user")) or get("assignee") or "record_owner")  # fmt: skip
    elif kind == "assign_owner":
        action["mode"] = get("mode")
        if get("mode") == "fixed":
            action["user_id"] = _int(get("user"))
        else:
            action["team_id"] = _int(get("team"))
    elif kind == "notify":
        action.update(title=get("title"), body=get("body"),
                      users=[u for u in (_int(x) for x in users) if u is not None],
                      record_owner=form.get(f"act-{n}-record_owner") == "on",
                      rule_owner=form.get(f"act-{n}-rule_owner") == "on")  # fmt: skip
    elif kind == "send_email":
        action.update(to=get("to") or "record", subject=get("title"), body=get("body"))
    elif kind == "run_action":
        action["action"] = get("action")
    elif kind == "wait":
        for unit in ("days", "hours"):
            number = _int(get(unit) or "0")
            action[unit] = number if number is not None else get(unit)
    elif kind == "add_to_static_list":
        action["segment_id"] = _int(get("segment"))
    elif kind == "call_webhook":
        action["url"] = get("url")
        action["fields"] = fields_from_text(form.get(f"act-{n}-fields", ""))
    return action


def action_slots(actions: list[Any]) -> list[dict[str, Any]]:
    """The stored actions as form slots (flat settings), plus an empty one or more."""
    slots = []
    for action in actions or []:
        kind = action.get("type", "")
        slot: dict[str, Any] = {"type": kind}
        if kind == "update_fields":
            field, value = next(iter((action.get("values") or {"": ""}).items()))
            slot.update(field=field, value="" if value is None else value)
        elif kind in ("add_tags", "remove_tags"):
            slot["tags"] = ", ".join(action.get("tags", []))
        elif kind == "create_task":
            assignee = action.get("assignee", "record_owner")
            slot.update(title=action.get("title", ""), body=action.get("description") or "",
                        priority=action.get("priority", "normal"),
                        due=action.get("due_in_days", 0),
                        user=assignee if isinstance(assignee, int) else "",
                        assignee=assignee if isinstance(assignee, str) else "")  # fmt: skip
        elif kind == "assign_owner":
            slot.update(mode=action.get("mode", ""), user=action.get("user_id", ""),
                        team=action.get("team_id", ""))  # fmt: skip
        elif kind == "notify":
            slot.update(title=action.get("title", ""), body=action.get("body", ""),
                        users=action.get("users", []),
                        record_owner=action.get("record_owner", False),
                        rule_owner=action.get("rule_owner", False))  # fmt: skip
        elif kind == "send_email":
            slot.update(to=action.get("to", "record"), title=action.get("subject", ""),
                        body=action.get("body", ""))  # fmt: skip
        elif kind == "run_action":
            slot["action"] = action.get("action", "")
        elif kind == "wait" and not action.get("minutes"):
            slot.update(days=action.get("days", 0), hours=action.get("hours", 0))
        elif kind == "add_to_static_list":
            slot["segment"] = action.get("segment_id")
        elif kind == "call_webhook":
            slot.update(url=action.get("url", ""), fields=fields_as_text(action.get("fields")))
        else:
            slot["unsupported"] = True  # a plugin's kind: kept as it is
            slot["raw"] = action
        slots.append(slot)
    while len(slots) < max(MIN_ACTION_SLOTS, len(actions or []) + 1):
        slots.append({"type": ""})
    return slots


def rule_from_form(form: Any, stored_actions: list[Any] | None = None) -> dict[str, Any]:
    """The rule's fields from a submitted builder form (a werkzeug ``MultiDict``)."""
    slots = max(MIN_ACTION_SLOTS, _int(form.get("slots")) or 0)
    actions = []
    for n in range(min(slots, 25)):
        if form.get(f"act-{n}-keep") and stored_actions and n < len(stored_actions):
            actions.append(stored_actions[n])  # a plugin's action the builder cannot edit
            continue
        action = action_from_form(form, n, form.getlist(f"act-{n}-users"))
        if action is not None:
            actions.append(action)
    return {
        "name": form.get("name", "").strip(),
        "description": form.get("description", ""),
        "entity": form.get("entity", ""),
        "trigger": trigger_from_form(form, form.getlist("weekdays")),
        "conditions": conditions_from_form(form),
        "actions": actions,
        "active": form.get("active") == "on",
        "sequence": form.get("sequence") == "on",
        "exit_conditions": form.get("exit_conditions", "").strip(),
    }


__all__ = ["ACTION_KINDS", "OPERATORS", "TRIGGER_KINDS", "rule_from_form"]
