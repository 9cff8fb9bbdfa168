"""Every hook, exercised through public interfaces by tests/plugin_everyhook.py and
tests/plugin_widgets.py; plus meta-tests that every hook is documented and implemented."""

from __future__ import annotations

import ast
import inspect
import logging
import re
import types
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from sqlalchemy import select

import crmcore
import crmcore.hookspecs
from crmcore import Plugin, hookimpl
from crmcore.docs_hooks import hook_specs, render
from crmcore.permissions import Access
from crmcore.plugins import LoadedPlugin, PluginSet, load_order, repeated_caller

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
HOOKS = [node.name for node in hook_specs()]

pytestmark = pytest.mark.crm_plugins("widgets", "everyhook")


def events(app):
    return app.extensions.setdefault("everyhook", [])


@pytest.fixture(autouse=True)
def _fresh_event_log(app):
    """The app lives for the whole session: start each test with an empty event log."""
    app.extensions["everyhook"] = []


# -- registration hooks ---------------------------------------------------------------------


def test_crm_entities(api):
    # plugin_widgets.py implements it; tests/test_registry.py covers what the entity gets
    assert api.post("/api/v1/widgets", json={"name": "W"}).status_code == 201


def test_crm_entity_fields(api):
    r = api.post(
        "/api/v1/contacts", json={"last_name": "Gold", "custom_fields": {"loyalty_tier": "gold"}}
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["custom_fields"] == {"loyalty_tier": "gold"}
    r = api.post(
        "/api/v1/contacts",
        json={"last_name": "Bronze", "custom_fields": {"loyalty_tier": "bronze"}},
    )
    assert r.status_code == 422
    assert "loyalty_tier" in r.get_json()["errors"]["custom_fields"]
    spec = api.get("/api/v1/openapi.json").get_json()
    tier = spec["components"]["schemas"]["Contact"]["properties"]["custom_fields"]["properties"]
    assert tier["loyalty_tier"]["enum"] == ["gold", "silver"]


def test_crm_blueprints(api, client):
    r = api.get("/api/v1/everyhook/ping")
    assert r.status_code == 200 and r.get_json() == {"pong": True}
    assert client.get("/api/v1/everyhook/ping").status_code == 401  # API auth applies
    # a page: visitors are sent to sign in first, then come back to it
    r = client.get("/everyhook/hello")
    assert r.status_code == 302 and "/everyhook/hello" in unquote(r.headers["Location"])
    spec = api.get("/api/v1/openapi.json").get_json()
    assert "get" in spec["paths"]["/api/v1/everyhook/ping"]
    assert "everyhook_api" in [t["name"] for t in spec["tags"]]


def test_crm_cli_commands(cli):
    result = cli("everyhook-hello")
    assert result.exit_code == 0 and result.output == "hello from a plugin command\n"
    assert "everyhook-hello" in cli("--help").output


def test_crm_permissions_and_crm_role_grants(crm, make_user):
    assert crm.permissions["everyhook.ping"][0] == "everyhook"
    rep, reader = make_user("sales_rep"), make_user("read_only")
    assert Access.for_user(rep).has("everyhook.ping")
    assert not Access.for_user(reader).has("everyhook.ping")
    assert Access.for_user(reader).scope("widgets", "read") == "all"


def test_crm_role_grants_skip_unknown_roles(crm):
    from crmcore.contributions import RoleGrant
    from crmcore.instance import apply_grants

    assert apply_grants(crm, [RoleGrant("no_such_role", permission="everyhook.ping")]) == []


def test_crm_menu_items(api_as, make_user):
    def labels(user):
        r = api_as(user).get("/api/v1/menu")
        assert r.status_code == 200
        return [m["label"] for m in r.get_json()]

    assert "Everyhook" in labels(make_user("sales_rep"))
    assert "Everyhook" in labels(make_user("admin"))
    assert "Everyhook" not in labels(make_user("read_only"))
    entry = next(
        m
        for m in api_as(make_user("admin")).get("/api/v1/menu").get_json()
        if m["label"] == "Everyhook"
    )
    assert entry == {
        "label": "Everyhook",
        "url": "/everyhook/hello",
        "icon": None,
        "plugin": "everyhook",
        "group": "Every hook",  # the plugin's title: a plugin's items form a group of the menu
    }


def test_crm_dashboard_widgets(api_as, make_user, make_contact):
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    make_contact(owner_id=rep.id)
    make_contact(owner_id=other.id)
    make_contact(owner_id=other.id)

    def count(user):
        r = api_as(user).get("/api/v1/dashboard")
        assert r.status_code == 200
        widget = next(w for w in r.get_json() if w["name"] == "everyhook-count")
        assert widget["plugin"] == "everyhook" and widget["title"] == "Contacts you can see"
        return widget["data"]["contacts"]

    assert count(rep) == 1
    assert count(make_user("manager")) == 3


def test_crm_record_actions(api, api_as, make_user, make_contact, crm):
    """An action added to another plugin's entity: endpoint, checks, audit row, OpenAPI entry."""
    from crmcore.audit import AuditEntry

    contact = make_contact(last_name="Target")
    url = f"/api/v1/contacts/{contact.id}/poke"
    r = api.post(url, json={"note": "hello", "passcode": "s3cret"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["first_name"] == "Poked" and r.headers["ETag"]
    entry = crm.session.scalars(
        select(AuditEntry).where(AuditEntry.record_id == contact.id, AuditEntry.action == "poke")
    ).one()
    assert entry.changes == {"note": [None, "hello"]}  # the load-only passcode is left out
    bad = api.post(url, json={"note": "x" * 21, "extra": 1})
    assert bad.status_code == 422
    assert bad.mimetype == "application/problem+json"
    assert set(bad.get_json()["errors"]) == {"note", "extra"}
    refused = api.post(f"/api/v1/contacts/{make_contact(last_name='Unpokable').id}/poke")
    assert refused.status_code == 409
    assert refused.get_json()["detail"] == "This contact cannot be poked."
    assert api.post("/api/v1/contacts/999999/poke").status_code == 404
    # a reader of every contact without everyhook.ping
    reader = make_user("manager")
    assert api_as(reader).get(f"/api/v1/contacts/{contact.id}").status_code == 200
    assert api_as(reader).post(url, json={}).status_code == 403
    # a sales rep holds the permission but may not read another owner's contact
    assert api_as(make_user("sales_rep")).post(url, json={}).status_code == 404
    spec = api.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/contacts/{record_id}/poke"]["post"]
    assert {"403", "404", "409", "422"} <= set(operation["responses"])
    assert "requestBody" in operation


def test_crm_record_actions_of_a_disabled_plugin_are_gone(api, cli, make_contact):
    contact = make_contact(last_name="Target")
    path = "/api/v1/contacts/{record_id}/poke"
    assert path in api.get("/api/v1/openapi.json").get_json()["paths"]
    assert cli("plugins", "disable", "everyhook").exit_code == 0
    assert api.post(f"/api/v1/contacts/{contact.id}/poke", json={}).status_code == 404
    assert path not in api.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/contacts/{record_id}" in api.get("/api/v1/openapi.json").get_json()["paths"]


def test_crm_record_actions_run_by_name_and_conflicts(crm, records, make_contact):
    from crmcore import PluginConflictError, RecordAction, run_action
    from crmcore.actions import collect_actions

    contact = make_contact(last_name="By name")
    result = run_action(records, "contacts", contact.id, "poke", {"note": "auto"})
    assert result.data is None and contact.first_name == "Poked"
    with pytest.raises(crmcore.NotFound):
        run_action(records, "contacts", contact.id, "no_such_action", {})
    twice = RecordAction(entity="contacts", name="poke", label="Poke", handler=lambda *a: None)
    with pytest.raises(PluginConflictError, match="'everyhook' and 'other'"):
        contributed = crm.plugins.collect("crm_record_actions")
        collect_actions(crm.registry, [*contributed, ("other", twice)])
    with pytest.raises(ValueError):
        RecordAction(name="delete", label="Delete", handler=lambda *a: None)


def test_crm_record_panels(api, make_contact):
    contact = make_contact(last_name="<script>alert(1)</script>")
    r = api.get(f"/api/v1/contacts/{contact.id}/panels")
    assert r.status_code == 200
    panel = next(p for p in r.get_json() if p["name"] == "everyhook-panel")
    assert panel["plugin"] == "everyhook"
    assert panel["html"] == "<p>Panel for &lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert api.get("/api/v1/contacts/999999/panels").status_code == 404
    # panels of another entity are not shown on widgets
    widget = api.post("/api/v1/widgets", json={"name": "W"}).get_json()
    assert api.get(f"/api/v1/widgets/{widget['id']}/panels").get_json() == []


def test_crm_timeline_items(api, api_as, make_user, make_contact):
    contact = make_contact()
    widget = api.post("/api/v1/widgets", json={"name": f"For {contact.id}: blue"}).get_json()
    api.post("/api/v1/widgets", json={"name": "For nobody"})
    r = api.get(f"/api/v1/contacts/{contact.id}/timeline?kind=widget")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert [(i["kind"], i["id"], i["link"]) for i in body["data"]] == [
        ("widget", widget["id"], f"/widgets/{widget['id']}")
    ]
    assert {"kind": "widget", "label": "Widgets"} in body["kinds"]
    # a reader who may not read widgets sees none (the plugin asks the record service)
    reader = make_user("sales_rep")
    mine = make_contact(owner_id=reader.id)
    api.post("/api/v1/widgets", json={"name": f"For {mine.id}: red"})
    r = api_as(reader).get(f"/api/v1/contacts/{mine.id}/timeline?kind=widget")
    assert r.status_code == 200 and r.get_json()["data"] == []


def test_crm_periodic_jobs(app, crm):
    jobs = {job.name: (plugin, job) for plugin, job in crm.collect("crm_periodic_jobs")}
    plugin, job = jobs["everyhook-tick"]
    assert plugin == "everyhook" and dict(job.schedule) == {"minute": "*/5"}
    before = app.extensions.get("everyhook_job_runs", 0)
    job.run(app)
    assert app.extensions["everyhook_job_runs"] == before + 1


def test_crm_demo_data(crm):
    from crmcore.contacts.models import Contact
    from crmcore.instance import create_demo

    password, created = create_demo(crm, password="Demo-password-123")
    assert created and password == "Demo-password-123"
    names = set(crm.session.scalars(select(Contact.last_name)))
    assert "Everyhook" in names
    assert len(names) > 5  # the core's own demo contacts came first
    assert create_demo(crm)[1] is False


# -- event hooks ----------------------------------------------------------------------------


def test_crm_validate_record(api, make_contact):
    r = api.post("/api/v1/contacts", json={"first_name": "A", "last_name": "Vetoed"})
    assert r.status_code == 422
    assert r.get_json()["errors"] == {"last_name": ["Vetoed by the everyhook plugin."]}
    contact = make_contact(last_name="Fine")
    r = api.patch(f"/api/v1/contacts/{contact.id}", json={"last_name": "Vetoed"})
    assert r.status_code == 422
    assert r.get_json()["errors"] == {"last_name": ["Vetoed by the everyhook plugin."]}


def test_crm_records_written(app, crm, records, make_contact):
    from crmcore.contacts.models import Contact

    written = app.extensions.setdefault("everyhook_written", [])
    written.clear()
    contact = make_contact(last_name="Written")
    records.update("contacts", contact, {"first_name": "Changed"})
    records.delete("contacts", contact)
    records.restore("contacts", contact.id)
    batch = records.create_many(
        "contacts", [{"first_name": "A", "last_name": "One"}, {"first_name": "", "last_name": ""}]
    )
    new = batch[0].id
    assert written == [
        [("create", "contact", contact.id)],
        [("update", "contact", contact.id)],
        [("delete", "contact", contact.id)],
        [("restore", "contact", contact.id)],
        [("create", "contact", new)],  # the refused row is not written, so not here
    ]
    # a listener failing inside the transaction undoes the write it was told of
    with pytest.raises(RuntimeError):
        records.create("contacts", {"first_name": "X", "last_name": "Fails when written"})
    crm.session.expire_all()
    names = set(crm.session.scalars(select(Contact.last_name)))
    assert "Fails when written" not in names and "Written" in names


def test_crm_validate_record_veto_leaves_no_trace(crm, records, make_contact):
    from crmcore import ValidationError

    contact = make_contact(last_name="Fine")
    with pytest.raises(ValidationError):
        records.update("contacts", contact, {"last_name": "Vetoed", "first_name": "Changed"})
    make_contact(last_name="Another write in the same session")
    crm.session.expire_all()
    assert (contact.first_name, contact.last_name) == ("Test", "Fine")


def test_crm_record_created(app, records):
    contact = records.create("contacts", {"first_name": "Ev", "last_name": "Ent"}, commit=False)
    assert events(app) == []  # nothing before the commit
    records.commit()
    kind, entity, record_id, action, changes = events(app)[-1]
    assert (kind, entity, record_id, action) == ("created", "contact", contact.id, "create")
    assert changes["last_name"] == (None, "Ent")


def test_crm_record_updated(app, records, make_contact):
    contact = make_contact(last_name="Before")
    records.update("contacts", contact, {"last_name": "After"})
    kind, _entity, record_id, action, changes = events(app)[-1]
    assert (kind, record_id, action) == ("updated", contact.id, "update")
    assert changes == {"last_name": ("Before", "After")}
    count = len(events(app))
    records.update("contacts", contact, {"last_name": "After"})
    assert len(events(app)) == count  # no change, no event
    records.delete("contacts", contact)
    records.restore("contacts", contact.id)
    kind, _entity, _id, action, changes = events(app)[-1]
    assert (kind, action) == ("updated", "restore")
    assert changes["deleted_at"][1] is None


def test_crm_record_deleted(app, records, make_contact):
    contact = make_contact()
    records.delete("contacts", contact)
    kind, entity, record_id, action, changes = events(app)[-1]
    assert (kind, entity, record_id, action) == ("deleted", "contact", contact.id, "delete")
    assert changes["deleted_at"][0] is None and changes["deleted_at"][1] is not None


def test_crm_record_action_performed(app, records, make_contact):
    from crmcore import run_action

    contact = make_contact(last_name="Acted")
    events(app).clear()
    run_action(records, "contacts", contact.id, "poke", {"note": "auto"})
    kind, entity, record_id, action, changes = events(app)[-1]
    assert (kind, entity, record_id, action) == ("action performed", "contact", contact.id, "poke")
    assert changes == {"note": (None, "auto")}
    assert ("updated", "contact", contact.id) in [e[:3] for e in events(app)]
    count = len(events(app))
    with pytest.raises(crmcore.NotFound):
        run_action(records, "contacts", contact.id, "no_such_action", {})
    assert len(events(app)) == count  # refused: nothing performed


def test_crm_contact_unsubscribed(app, crm, client, make_contact):
    from crmcore import consent

    contact = make_contact(last_name="Optout", email="out@example.net")
    twin = make_contact(last_name="Twin", email="OUT@example.net".lower())
    token = consent.dumps(crm, contact.id, "everyhook", 7, "test:7")
    r = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert events(app)[-1] == ("unsubscribed", "everyhook", 7, True, [contact.id, twin.id])
    client.post(f"/u/{token}")  # again: told, nothing changed
    assert events(app)[-1] == ("unsubscribed", "everyhook", 7, False, [])


def test_crm_contact_unsubscribed_failing_listener_keeps_the_opt_out(
    app, crm, client, session, make_contact, caplog
):
    from crmcore import consent
    from crmcore.contacts.models import Contact

    contact = make_contact(last_name="Optout", email="fails@example.net")
    token = consent.dumps(crm, contact.id, "fails", 1)
    with caplog.at_level(logging.ERROR, logger="crmcore.consent"):
        assert client.post(f"/u/{token}").status_code == 200
    session.expire_all()
    assert session.get(Contact, contact.id).email_opt_out is True
    assert "crm_contact_unsubscribed" in caplog.text


def test_crm_person_data(app, crm, records, cli, tmp_path):
    import json
    import zipfile

    contact = records.create(
        "contacts", {"first_name": "Rosa", "last_name": "Hook", "email": "rosa.hook@example.org"}
    )
    target = tmp_path / "rosa.zip"
    assert cli("people", "export", "rosa.hook@example.org", "-o", str(target)).exit_code == 0
    with zipfile.ZipFile(target) as archive:
        section = json.loads(archive.read("data/everyhook.greetings.json"))
    assert section == {
        "plugin": "everyhook",
        "rows": [{"contact_id": contact.id, "greeting": "Hola Rosa"}],
    }
    assert cli("people", "erase", "rosa.hook@example.org", "--yes").exit_code == 0
    assert ("erased", "rosa.hook@example.org", [contact.id]) in events(app)


def test_crm_merge_records(app, api, records):
    keep = records.create("contacts", {"last_name": "Kept"})
    gone = records.create("contacts", {"last_name": "Gone"})
    r = api.post(f"/api/v1/contacts/{keep.id}/merge", json={"other_id": gone.id})
    assert r.status_code == 200, r.get_json()
    assert ("merged", "contact", keep.id, gone.id, True) in events(app)


def test_event_hooks_are_not_called_for_a_rolled_back_write(app, records):
    records.create("contacts", {"last_name": "Never"}, commit=False)
    records.rollback()
    records.commit()
    assert events(app) == []


def test_a_failing_listener_does_not_undo_the_write(app, api, caplog):
    with caplog.at_level(logging.ERROR, logger="crmcore.records"):
        r = api.post("/api/v1/contacts", json={"last_name": "Listener fails"})
    assert r.status_code == 201
    assert api.get(r.headers["Location"]).status_code == 200
    assert events(app)[-1][0] == "created"
    assert "a listener failed after the commit" in caplog.text


def test_event_hooks_run_in_load_order():
    """Dependencies' implementations run before those of the plugins requiring them."""
    calls: list[str] = []

    def module(name: str, requires: tuple[str, ...] = ()) -> LoadedPlugin:
        mod = types.ModuleType(f"crmtest_order_{name}")
        mod.PLUGIN = Plugin(name=name, title=name, version="1", requires=requires)
        mod.crm_record_created = hookimpl(lambda event: calls.append(name))
        return LoadedPlugin(meta=mod.PLUGIN, module=mod)

    order, _ = load_order([module("aaa", ("zzz",)), module("mmm"), module("zzz")])
    plugin_set = PluginSet({p.name: p for p in order})
    plugin_set.hook("crm_record_created", [])(event=None)
    assert calls == ["zzz", "aaa", "mmm"]
    calls.clear()
    plugin_set.hook("crm_record_created", ["aaa"])(event=None)
    assert calls == ["zzz", "mmm"]


def test_a_repeated_caller_calls_what_the_caller_calls():
    """``repeated_caller`` (a batch's veto per record): the same implementations, disabled
    plugins skipped, in the same order, a wrapper around them, results and errors as pluggy's."""
    calls: list[str] = []

    def module(name: str, impl: Any) -> LoadedPlugin:
        mod = types.ModuleType(f"crmtest_repeat_{name}")
        mod.PLUGIN = Plugin(name=name, title=name, version="1")
        mod.crm_validate_record = impl
        return LoadedPlugin(meta=mod.PLUGIN, module=mod)

    def veto(name: str) -> Any:
        def impl(event: Any) -> None:
            calls.append(f"{name}:{event}")
            if event == f"bad for {name}":
                raise ValueError(name)

        return hookimpl(impl)

    def around(event: Any) -> Any:
        calls.append("before")
        result = yield
        calls.append("after")
        return result

    plugins = [module("aaa", veto("aaa")), module("bbb", veto("bbb"))]
    order, _ = load_order([*plugins, module("www", hookimpl(wrapper=True)(around))])
    plugin_set = PluginSet({p.name: p for p in order})

    def run(call: Any, event: str) -> tuple[list[str], Any]:
        """What ``call`` called, and its result or error."""
        calls.clear()
        try:
            outcome = call(event=event)
        except ValueError as exc:
            outcome = repr(exc)
        return list(calls), outcome

    for disabled in ([], ["bbb"]):
        caller = plugin_set.hook("crm_validate_record", disabled)
        repeated = repeated_caller(caller)
        assert repeated is not caller
        for event in ("one", "two", "bad for aaa", "bad for bbb"):
            expected = run(caller, event)
            assert run(repeated, event) == expected
            trace, outcome = expected
            assert trace[0] == "before"
            if outcome is None:  # not refused: every enabled plugin was asked
                assert trace[-1] == "after"
                assert any(c.startswith("bbb:") for c in trace) == (not disabled)
    # no specification (a hook no plugin declared): pluggy's own caller is kept
    unknown = types.SimpleNamespace(spec=None, _hookexec=None)
    assert repeated_caller(unknown) is unknown


# -- meta-tests -----------------------------------------------------------------------------


@pytest.mark.crm_sqlite_only  # docs and signatures, no database
def test_hookspecs_are_typed_and_documented():
    assert len(HOOKS) >= 15
    for name in HOOKS:
        fn = getattr(crmcore.hookspecs, name)
        doc = inspect.getdoc(fn)
        assert doc, f"{name} has no docstring"
        source = inspect.signature(fn)
        assert source.return_annotation is not inspect.Signature.empty, name
        for param in source.parameters.values():
            assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name})"
            assert f":param {param.name}:" in doc, f"{name}: document {param.name}"
    # every function of the module is a hookspec
    functions = [
        n
        for n, v in vars(crmcore.hookspecs).items()
        if inspect.isfunction(v) and v.__module__ == crmcore.hookspecs.__name__
    ]
    assert sorted(functions) == sorted(HOOKS)


@pytest.mark.crm_sqlite_only  # generated docs, no database
def test_every_hook_is_in_the_generated_reference():
    text = (ROOT / "docs" / "hooks.md").read_text()
    for name in HOOKS:
        assert f"### {name}\n" in text, f"{name} is missing from docs/hooks.md"


@pytest.mark.crm_sqlite_only  # generated docs, no database
def test_hook_reference_is_up_to_date():
    assert (ROOT / "docs" / "hooks.md").read_text() == render(), (
        "docs/hooks.md is out of date: run scripts/gen-hook-docs"
    )


@pytest.mark.crm_sqlite_only  # generated docs, no database
def test_hook_reference_renders_signature_docstring_and_order():
    source = '''"""Intro.

Call order: load order.
"""
@hookspec(firstresult=True)
def crm_zed(ctx: Ctx) -> int:
    """Zed hook.

    :param ctx: the context.
    """


@hookspec
def crm_alpha() -> None:
    """Alpha hook."""


def helper():
    """Not a hook."""
'''
    text = render(source)
    assert "Call order: load order." in text
    assert text.index("### crm_zed") < text.index("### crm_alpha")
    assert "def crm_zed(ctx: Ctx) -> int" in text and ":param ctx: the context." in text
    assert "firstresult=True" in text
    assert "helper" not in text


def test_every_hook_is_implemented_by_a_test_plugin():
    source = "\n".join(p.read_text() for p in TESTS.rglob("*.py"))
    for name in HOOKS:
        assert re.search(rf"^def {name}\(", source, re.M), f"no test plugin implements {name}"


def test_every_hook_has_a_test_here():
    tree = ast.parse(Path(__file__).read_text())
    tests = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    for name in HOOKS:
        assert any(t == f"test_{name}" or t.startswith(f"test_{name}_") for t in tests), (
            f"tests/test_hooks.py has no test_{name}"
        )
