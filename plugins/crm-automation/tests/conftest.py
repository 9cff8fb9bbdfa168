"""Shared fixtures of the automation tests (crmcore's pytest plugin provides the rest)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


@pytest.fixture(scope="session")
def crm_extra_plugins() -> list[str | ModuleType]:
    """The test plugin beside this file (actions, a trigger kind and an action kind)."""
    path = Path(__file__).with_name("automation_testplugin.py")
    spec = importlib.util.spec_from_file_location("automation_testplugin", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [module]


@pytest.fixture
def make_rule(crm: Any, admin: Any) -> Callable[..., Any]:
    """``make_rule(trigger, actions, service=None, **fields)``: a rule on contacts, made (and
    owned) by an administrator unless another record ``service`` is given."""
    from crmcore.permissions import Access

    def make(trigger: Any, actions: list[Any], service: Any = None, **fields: Any) -> Any:
        data = {"name": "Rule", "entity": "contacts", "trigger": trigger, "actions": actions,
                **fields}  # fmt: skip
        return (service or crm.records(Access.for_user(admin))).create("workflows", data)

    return make


@pytest.fixture
def runs(crm: Any) -> Callable[..., list[Any]]:
    """``runs(rule)``: the rule's runs, oldest first."""
    from sqlalchemy import select

    from crm_automation.models import AutomationRun

    def get(rule: Any) -> list[Any]:
        crm.session.expire_all()
        query = select(AutomationRun).where(AutomationRun.workflow_id == rule.id)
        return list(crm.session.scalars(query.order_by(AutomationRun.id)))

    return get
