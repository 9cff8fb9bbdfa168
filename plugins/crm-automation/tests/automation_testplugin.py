"""A third-party-style plugin for the automation tests: a record action on contacts (to fire
``action`` triggers), and a trigger kind and an action kind of its own through the automation
hooks. What its action does is kept on the app, never in a module global."""

from __future__ import annotations

from crmcore import ExtraField, Plugin, RecordAction, hookimpl

from crm_automation.actions_catalog import ActionType
from crm_automation.triggers import TriggerType

PLUGIN = Plugin(name="autotest", title="Automation test", version="0.1.0",
                requires=["automation"])  # fmt: skip


def _stamp(records, record, data):
    records.update("contacts", record, {"title": "Stamped"})


def _vip_matches(config, event):
    return event.action == "update" and "vip" in (event.record.tags or [])


def _log(ctx, config):
    if config.get("explode"):
        raise RuntimeError("the outside service is down")
    ctx.crm.app.extensions.setdefault("autotest", []).append((ctx.record.id, config["text"]))
    return "Logged"


def _check_log(config, entity, crm, where):
    from crmcore import ValidationError

    if not isinstance(config.get("text"), str):
        raise ValidationError({"actions": [f"{where}: text is required."]})


@hookimpl
def crm_entity_fields():
    return [ExtraField("contacts", "birthday", "Birthday", "date")]


@hookimpl
def crm_record_actions():
    return [RecordAction(entity="contacts", name="stamp", label="Stamp", handler=_stamp)]


@hookimpl
def crm_automation_triggers():
    return [TriggerType("became_vip", "Became a VIP", _vip_matches)]


@hookimpl
def crm_automation_actions():
    return [ActionType("log", "Log", _log, _check_log)]
