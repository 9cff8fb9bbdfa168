"""The plugin kernel: load order, broken plugins, start-up conflicts, enabling and disabling."""

from __future__ import annotations

import types
from collections.abc import Callable
from importlib.metadata import EntryPoint
from typing import Any

import pytest
from flask import Blueprint
from marshmallow import fields
from sqlalchemy import Integer, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import crmcore.plugins
from crmcore import (
    Entity,
    ExtraField,
    Permission,
    Plugin,
    PluginConflictError,
    RecordSchema,
    hookimpl,
)
from crmcore.app import create_app
from crmcore.cli import cli as crm_cli
from crmcore.plugins import LoadedPlugin, load_order
from crmcore.testing.plugin import build_app
from crmcore.users.models import Role

# -- helpers --------------------------------------------------------------------------------


def plugin_module(
    name: str, *, requires: tuple[str, ...] = (), core: str = ">=1,<2", **hooks: Callable[..., Any]
) -> types.ModuleType:
    """A plugin module built in memory, with ``hooks`` as hook implementations."""
    module = types.ModuleType(f"crmtest_{name}")
    module.PLUGIN = Plugin(
        name=name, title=name.title(), version="1.0", requires=requires, core=core
    )
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, hookimpl(fn))
    return module


def loaded(name: str, requires: tuple[str, ...] = (), core: str = ">=1,<2") -> LoadedPlugin:
    module = plugin_module(name, requires=requires, core=core)
    return LoadedPlugin(meta=module.PLUGIN, module=module)


def names(plugins: list[LoadedPlugin]) -> list[str]:
    return [p.name for p in plugins]


def reasons(unavailable: list[Any]) -> dict[str, str]:
    return {u.name: u.error for u in unavailable}


# -- load order -----------------------------------------------------------------------------


def test_load_order_puts_dependencies_first_and_is_stable():
    plugins = [
        loaded("zeta"),
        loaded("alpha", ("zeta",)),
        loaded("mid"),
        loaded("beta", ("alpha", "mid")),
    ]
    order, unavailable = load_order(plugins)
    assert unavailable == []
    assert names(order) == ["zeta", "alpha", "mid", "beta"]
    # the input order does not matter
    order2, _ = load_order(list(reversed(plugins)))
    assert names(order2) == names(order)


def test_builtins_load_before_everything():
    order = names(crmcore.plugins.PluginSet.build(discover_installed=False))
    assert order == ["users", "contacts", "activities", "privacy"]


def test_dependency_cycle_is_reported_naming_the_plugins():
    plugins = [
        loaded("ok"),
        loaded("apple", ("banana",)),
        loaded("banana", ("cherry",)),
        loaded("cherry", ("apple",)),
        loaded("dependent", ("apple",)),
    ]
    order, unavailable = load_order(plugins)
    assert names(order) == ["ok"]
    why = reasons(unavailable)
    for member in ("apple", "banana", "cherry"):
        assert "cycle" in why[member]
        assert all(n in why[member] for n in ("apple", "banana", "cherry"))
    assert "apple" in why["dependent"] and "unavailable" in why["dependent"]


def test_missing_requirement_is_reported_naming_it():
    order, unavailable = load_order([loaded("needy", ("nowhere",)), loaded("fine")])
    assert names(order) == ["fine"]
    assert "'nowhere'" in reasons(unavailable)["needy"]
    assert "not installed" in reasons(unavailable)["needy"]


def test_incompatible_core_range_is_reported():
    order, unavailable = load_order(
        [loaded("future", core=">=7"), loaded("broken", core="??"), loaded("after", ("future",))]
    )
    assert order == []
    why = reasons(unavailable)
    assert ">=7" in why["future"] and crmcore.__version__ in why["future"]
    assert "invalid core version range" in why["broken"]
    assert "'future'" in why["after"]


def test_two_plugins_with_one_name_are_refused():
    with pytest.raises(PluginConflictError, match="crmtest_twin"):
        load_order([loaded("twin"), loaded("twin")])


# -- a plugin that fails to import -----------------------------------------------------------


@pytest.fixture
def installed(monkeypatch, tmp_path):
    """``installed({"name": "source"})``: plugins found through (simulated) entry points."""

    def install(sources: dict[str, str]) -> None:
        points = []
        for name, source in sources.items():
            module = f"crmtest_ep_{name}_{tmp_path.name.replace('-', '_')}"
            (tmp_path / f"{module}.py").write_text(source)
            points.append(EntryPoint(name, module, crmcore.plugins.ENTRY_POINT_GROUP))
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setattr(
            crmcore.plugins,
            "entry_points",
            lambda group: points if group == crmcore.plugins.ENTRY_POINT_GROUP else [],
        )

    return install


GOOD_PLUGIN = """
from crmcore import Permission, Plugin, hookimpl

PLUGIN = Plugin(name="good", title="Good", version="2.0")


@hookimpl
def crm_permissions():
    return [Permission("good.act", "Act")]
"""


def test_plugin_failing_to_import_is_reported_and_skipped(installed, crm_database_url, tmp_path):
    installed({"broken": "raise RuntimeError('boom at import')\n", "good": GOOD_PLUGIN})
    app = build_app([], crm_database_url, tmp_path / "instance")
    crm = app.extensions["crm"]
    assert "good" in crm.plugins and "broken" not in crm.plugins
    assert "good.act" in crm.permissions

    runner = app.test_cli_runner()
    result = runner.invoke(crm_cli, ["plugins", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert "broken" in lines["broken"] and "boom at import" in lines["broken"]
    assert "disabled" in lines["good"]
    assert "built-in" in lines["contacts"]

    result = runner.invoke(crm_cli, ["plugins", "enable", "broken"])
    assert result.exit_code == 1
    assert result.output.startswith("Error:") and "boom at import" in result.output
    assert "Traceback" not in result.output

    # the CRM keeps working
    client = app.test_client()
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/contacts").status_code == 401


def test_entry_point_naming_another_plugin_is_reported(installed, crm_database_url):
    installed({"other": GOOD_PLUGIN})
    app = create_app(config={"database_url": crm_database_url})
    bad = {u.name: u.error for u in app.extensions["crm"].plugins.unavailable}
    assert "'good'" in bad["other"]


# -- conflicts at start-up ------------------------------------------------------------------


class AlphaBase(DeclarativeBase):
    pass


class BetaBase(DeclarativeBase):
    pass


def _model(base: type[DeclarativeBase], table: str) -> type[Any]:
    return type(
        f"Model_{table}",
        (base,),
        {
            "__tablename__": table,
            "__annotations__": {"id": Mapped[int], "label": Mapped[str]},
            "id": mapped_column(Integer, primary_key=True),
            "label": mapped_column(String(20)),
        },
    )


class ThingSchema(RecordSchema):
    label = fields.String()


def _entity(model: type[Any], name: str, plural: str) -> Entity:
    return Entity(
        name=name,
        model=model,
        schema=ThingSchema,
        plural=plural,
        title=name.title(),
        title_fields=("label",),
        owner_field=None,
    )


ALPHA_THING = _model(AlphaBase, "alpha_thing")
BETA_THING = _model(BetaBase, "beta_thing")
SHARED_A = _model(AlphaBase, "alpha_x_thing")
SHARED_B = _model(BetaBase, "alpha_x_thing")


def _entities(*entities: Entity) -> Callable[[], list[Entity]]:
    return lambda: list(entities)


def _blueprints(*specs: tuple[str, str]) -> Callable[[], list[Blueprint]]:
    return lambda: [Blueprint(name, __name__, url_prefix=prefix) for name, prefix in specs]


CONFLICTS = {
    "entity": (
        {"crm_entities": _entities(_entity(ALPHA_THING, "thing", "things"))},
        {"crm_entities": _entities(_entity(BETA_THING, "thing", "betathings"))},
        "entity 'thing'",
    ),
    "plural": (
        {"crm_entities": _entities(_entity(ALPHA_THING, "alphathing", "things"))},
        {"crm_entities": _entities(_entity(BETA_THING, "betathing", "things"))},
        "plural 'things'",
    ),
    "table": (
        {"crm_entities": _entities(_entity(SHARED_A, "athing", "athings"))},
        {"crm_entities": _entities(_entity(SHARED_B, "bthing", "bthings"))},
        "table 'alpha_x_thing'",
    ),
    "permission": (
        {"crm_permissions": lambda: [Permission("alpha.act", "A")]},
        {"crm_permissions": lambda: [Permission("alpha.act", "B")]},
        "permission 'alpha.act'",
    ),
    "entity field": (
        {"crm_entity_fields": lambda: [ExtraField("contacts", "tier", "Tier")]},
        {"crm_entity_fields": lambda: [ExtraField("contact", "tier", "Tier")]},
        "field 'tier' to 'contacts'",
    ),
    "route prefix": (
        {"crm_blueprints": _blueprints(("alpha_pages", "/shared"))},
        {"crm_blueprints": _blueprints(("beta_pages", "/shared/"))},
        "route prefix '/shared'",
    ),
    "blueprint": (
        {"crm_blueprints": _blueprints(("pages", "/alpha"))},
        {"crm_blueprints": _blueprints(("pages", "/beta"))},
        "blueprint called 'pages'",
    ),
}


@pytest.mark.parametrize("what", list(CONFLICTS))
def test_conflicting_claims_are_refused_at_start_up_naming_both(what, crm_database_url):
    first_hooks, second_hooks, claim = CONFLICTS[what]
    second_name = "alpha_x" if what == "table" else "beta"
    first = plugin_module("alpha", **first_hooks)
    second = plugin_module(second_name, **second_hooks)
    with pytest.raises(PluginConflictError) as info:
        create_app(
            config={"database_url": crm_database_url}, plugins=[first, second], discover=False
        )
    message = str(info.value)
    assert "'alpha'" in message and f"'{second_name}'" in message and claim in message
    # each plugin alone is fine (but a permission must carry its own plugin's prefix)
    for module in (first,) if what == "permission" else (first, second):
        create_app(config={"database_url": crm_database_url}, plugins=[module], discover=False)


@pytest.mark.parametrize(
    "hooks, claim",
    [
        (
            {"crm_entities": _entities(_entity(ALPHA_THING, "contact", "alphacontacts"))},
            "entity 'contact'",
        ),
        (
            {"crm_permissions": lambda: [Permission("plugins.manage", "Mine")]},
            "permission 'plugins.manage'",
        ),
        (
            {"crm_blueprints": _blueprints(("alpha_c", "/api/v1/contacts"))},
            "route prefix '/api/v1/contacts'",
        ),
    ],
)
def test_claims_on_core_names_are_refused(hooks, claim, crm_database_url):
    with pytest.raises(PluginConflictError, match=claim) as info:
        create_app(
            config={"database_url": crm_database_url},
            plugins=[plugin_module("alpha", **hooks)],
            discover=False,
        )
    assert "'alpha'" in str(info.value)


def test_permission_outside_the_plugin_prefix_is_refused(crm_database_url):
    module = plugin_module("beta", crm_permissions=lambda: [Permission("sales.send", "Send")])
    with pytest.raises(PluginConflictError, match=r"'sales\.send' must start with 'beta\.'"):
        create_app(config={"database_url": crm_database_url}, plugins=[module], discover=False)


def test_table_outside_the_plugin_prefix_is_refused(crm_database_url):
    module = plugin_module("beta", crm_entities=_entities(_entity(ALPHA_THING, "t", "ts")))
    with pytest.raises(PluginConflictError, match=r"'beta'.*'alpha_thing'.*'beta_'"):
        create_app(config={"database_url": crm_database_url}, plugins=[module], discover=False)


# -- enabling and disabling through the CLI ---------------------------------------------------


def _state(cli: Callable[..., Any]) -> dict[str, str]:
    result = cli("plugins", "list")
    assert result.exit_code == 0, result.output
    return {line.split()[0]: line.split()[2] for line in result.output.splitlines()}


def test_plugins_list_and_info(cli):
    state = _state(cli)
    assert state["widgets"] == "disabled" and state["everyhook"] == "disabled"
    assert state["contacts"] == "built-in"
    result = cli("plugins", "info", "everyhook")
    assert result.exit_code == 0
    assert "requires:     widgets" in result.output
    assert "permissions:  everyhook.ping" in result.output
    assert "state:        disabled" in result.output
    info = cli("plugins", "info", "widgets").output
    assert "entities:     widgets" in info and "needed by:    everyhook" in info


def test_enable_needs_requirements_enabled(cli):
    result = cli("plugins", "enable", "everyhook")
    assert result.exit_code == 1
    assert result.output.startswith("Error:") and "'widgets'" in result.output
    assert _state(cli)["everyhook"] == "disabled"
    assert cli("plugins", "enable", "widgets").exit_code == 0
    result = cli("plugins", "enable", "everyhook")
    assert result.exit_code == 0, result.output
    assert _state(cli)["everyhook"] == "enabled"
    assert "state:        enabled" in cli("plugins", "info", "everyhook").output


def test_unknown_plugin_is_a_clear_error(cli):
    for command in ("info", "enable", "disable"):
        result = cli("plugins", command, "nosuch")
        assert result.exit_code == 1
        assert result.output.strip() == "Error: no plugin called 'nosuch' is installed"


@pytest.mark.crm_plugins("widgets", "everyhook")
def test_disabling_a_required_plugin_is_refused_naming_dependents(cli):
    result = cli("plugins", "disable", "widgets")
    assert result.exit_code == 1
    assert result.output.startswith("Error:") and "'everyhook'" in result.output
    assert _state(cli)["widgets"] == "enabled"


def test_builtins_cannot_be_disabled(cli):
    result = cli("plugins", "disable", "contacts")
    assert result.exit_code == 1
    assert "built in" in result.output and "Traceback" not in result.output
    assert _state(cli)["contacts"] == "built-in"


def test_disabling_a_disabled_plugin_is_an_error(cli):
    result = cli("plugins", "disable", "widgets")
    assert result.exit_code == 1 and "not enabled" in result.output


@pytest.mark.crm_plugins("widgets", "everyhook")
def test_disable_hides_routes_openapi_hooks_menu_and_keeps_rows(app, cli, api, make_contact):
    created = api.post("/api/v1/widgets", json={"name": "Sprocket", "colour": "red"})
    assert created.status_code == 201, created.get_json()
    widget_url = created.headers["Location"]
    events = app.extensions.setdefault("everyhook", [])

    def visible() -> dict[str, Any]:
        spec = api.get("/api/v1/openapi.json").get_json()
        return {
            "widgets": api.get("/api/v1/widgets").status_code,
            "widget": api.get(widget_url).status_code,
            "ping": api.get("/api/v1/everyhook/ping").status_code,
            "hello": api.client.get("/everyhook/hello").status_code,  # 302: to sign in
            "openapi_widgets": "/api/v1/widgets" in spec["paths"],
            "openapi_ping": "/api/v1/everyhook/ping" in spec["paths"],
            "menu": "Everyhook" in [m["label"] for m in api.get("/api/v1/menu").get_json()],
        }

    on = visible()
    assert on == {
        "widgets": 200,
        "widget": 200,
        "ping": 200,
        "hello": 302,
        "openapi_widgets": True,
        "openapi_ping": True,
        "menu": True,
    }
    make_contact(last_name="Heard")
    assert [e[0] for e in events][-1] == "created"
    count = len(events)

    assert cli("plugins", "disable", "everyhook").exit_code == 0
    assert cli("plugins", "disable", "widgets").exit_code == 0
    off = visible()
    assert off == {
        "widgets": 404,
        "widget": 404,
        "ping": 404,
        "hello": 404,
        "openapi_widgets": False,
        "openapi_ping": False,
        "menu": False,
    }
    make_contact(last_name="Unheard")
    assert len(events) == count  # the event hooks of a disabled plugin are not called
    # contacts no longer accept the field the disabled plugin added
    r = api.post(
        "/api/v1/contacts", json={"last_name": "X", "custom_fields": {"loyalty_tier": "gold"}}
    )
    assert r.status_code == 422

    # every row is kept
    from plugin_widgets import Widget

    assert app.extensions["crm"].session.scalar(select(Widget.name)) == "Sprocket"

    assert cli("plugins", "enable", "widgets").exit_code == 0
    assert cli("plugins", "enable", "everyhook").exit_code == 0
    assert visible() == on
    assert api.get(widget_url).get_json()["name"] == "Sprocket"
    make_contact(last_name="Heard again")
    assert len(events) == count + 1


def _role(crm: Any, name: str) -> Role:
    crm.session.expire_all()
    return crm.session.scalar(select(Role).where(Role.name == name))


def test_default_grants_are_applied_once(app, crm, cli, records):
    assert "everyhook.ping" not in _role(crm, "sales_rep").permissions
    assert "widgets" not in _role(crm, "read_only").grants
    assert cli("plugins", "enable", "widgets").exit_code == 0
    result = cli("plugins", "enable", "everyhook")
    assert "granted defaults to role sales_rep" in result.output
    assert "everyhook.ping" in _role(crm, "sales_rep").permissions
    assert _role(crm, "read_only").grants["widgets"] == {"read": "all"}

    # an administrator changes their mind
    records.update("roles", _role(crm, "sales_rep"), {"permissions": []})
    read_only = _role(crm, "read_only")
    records.update("roles", read_only, {"grants": {**read_only.grants, "widgets": {"read": None}}})

    assert cli("plugins", "disable", "everyhook").exit_code == 0
    result = cli("plugins", "enable", "everyhook")
    assert result.exit_code == 0 and "granted" not in result.output
    assert "everyhook.ping" not in _role(crm, "sales_rep").permissions
    assert _role(crm, "read_only").grants["widgets"] == {"read": None}


def test_grants_on_entities_nobody_provides_are_skipped(crm):
    from crmcore.contributions import RoleGrant
    from crmcore.instance import apply_grants
    from crmcore.users.models import Role

    apply_grants(
        crm,
        [
            RoleGrant("marketer", entity="no_such_things", actions={"read": "all"}),
            RoleGrant("marketer", entity="contacts", actions={"delete": "own"}),
        ],
    )
    role = crm.session.scalar(select(Role).where(Role.name == "marketer"))
    assert "no_such_things" not in role.grants
    assert role.grants["contacts"]["delete"] == "own"


# -- OpenAPI schema names -------------------------------------------------------------------


def _item_api(plugin: str) -> Callable[[], list[Any]]:
    """A blueprint of ``plugin`` answering with a schema class called ``ItemSchema``."""
    from flask_smorest import Blueprint as ApiBlueprint
    from marshmallow import Schema, fields

    item_schema = type("ItemSchema", (Schema,), {"name": fields.String()})
    item_schema.__module__ = f"crmtest_{plugin}.schemas"

    def blueprints() -> list[Any]:
        blp = ApiBlueprint(f"{plugin}_items", __name__, url_prefix=f"/api/v1/{plugin}")

        @blp.route("/item")
        @blp.response(200, item_schema)
        def item() -> dict[str, str]:
            return {"name": plugin}

        return [blp]

    return blueprints


def test_two_schema_classes_with_one_openapi_name_are_refused_naming_both(crm_database_url):
    """The API document is built when first read (``crm serve`` and ``crm doctor`` read it
    at once): there the conflict is refused, naming both classes, and ``crm doctor`` says so."""
    from flask.cli import ScriptInfo

    from crmcore.cli.doctor import diagnose

    first = plugin_module("alpha", crm_blueprints=_item_api("alpha"))
    second = plugin_module("beta", crm_blueprints=_item_api("beta"))

    def both() -> Any:
        return create_app(
            config={"database_url": crm_database_url}, plugins=[first, second], discover=False
        )

    with pytest.raises(PluginConflictError) as info:
        both().extensions["crm"].api.complete()
    message = str(info.value)
    assert "'Item'" in message
    assert "crmtest_alpha.schemas.ItemSchema (plugin 'alpha')" in message
    assert "crmtest_beta.schemas.ItemSchema (plugin 'beta')" in message
    found = diagnose(ScriptInfo(create_app=both))
    assert [f.message for f in found if f.kind == "conflict"] == [message]
    app = create_app(config={"database_url": crm_database_url}, plugins=[first], discover=False)
    with app.app_context():
        assert "Item" in app.extensions["crm"].api.spec.to_dict()["components"]["schemas"]


def test_entity_schemas_are_named_after_their_entity(app, crm):
    from crmcore.api.openapi import entity_component_name

    schemas = crm.api.spec.to_dict()["components"]["schemas"]
    for entity in crm.registry:
        name = entity_component_name(entity)
        assert name in schemas and f"{name}Patch" in schemas, entity.name
    assert not [name for name in schemas if name[-1].isdigit()]  # nothing renamed by load order
