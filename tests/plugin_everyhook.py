"""A test plugin implementing every hook but ``crm_entities`` (see plugin_widgets.py).

What its event hooks see is kept on the app (``app.extensions["everyhook"]``), never in a
module global, so apps in one test process stay apart.
"""

import click
from flask import Blueprint
from flask_smorest import Blueprint as ApiBlueprint
from markupsafe import escape
from marshmallow import Schema, fields, validate

from crmcore import (
    ExtraField,
    MenuItem,
    Panel,
    PeriodicJob,
    Permission,
    Plugin,
    RecordAction,
    RoleGrant,
    TimelineItem,
    ValidationError,
    Widget,
    hookimpl,
)
from crmcore.web.security import csrf_exempt, public

PLUGIN = Plugin(name="everyhook", title="Every hook", version="0.1.0", requires=["widgets"])


def _log(event, kind):
    store = event.records.crm.app.extensions.setdefault("everyhook", [])
    store.append((kind, event.entity.name, event.record.id, event.action, dict(event.changes)))
    if getattr(event.record, "last_name", "") == "Listener fails":
        raise RuntimeError("a listener failed after the commit")


@hookimpl
def crm_entity_fields():
    return [ExtraField("contacts", "loyalty_tier", "Loyalty tier", "choice", ("gold", "silver"))]


@hookimpl
def crm_blueprints():
    api = ApiBlueprint("everyhook_api", __name__, url_prefix="/api/v1/everyhook")

    @api.route("/ping")
    @api.response(200)
    def ping():
        return {"pong": True}

    web = Blueprint("everyhook", __name__, url_prefix="/everyhook")

    @web.route("/hello")
    def hello():
        return "hello from everyhook"

    @web.route("/inbox", methods=["POST"])
    @public
    @csrf_exempt
    def inbox():
        """A public form other sites post to: no CSRF token expected."""
        return "received", 201

    return [api, web]


@click.command("everyhook-hello")
def hello_command():
    """Say hello (a plugin command)."""
    click.echo("hello from a plugin command")


@hookimpl
def crm_cli_commands():
    return [hello_command]


class PokeSchema(Schema):
    note = fields.String(validate=validate.Length(1, 20))
    passcode = fields.String(load_only=True)


def _poke(records, record, data):
    records.update("contacts", record, {"first_name": "Poked"})
    return None


def _pokable(record):
    return "This contact cannot be poked." if record.last_name == "Unpokable" else None


@hookimpl
def crm_record_actions():
    return [
        RecordAction(
            entity="contacts",
            name="poke",
            label="Poke",
            handler=_poke,
            permission="everyhook.ping",
            applies=_pokable,
            schema=PokeSchema,
            bulk=True,
        )
    ]


@hookimpl
def crm_permissions():
    return [Permission("everyhook.ping", "Ping the everyhook plugin")]


@hookimpl
def crm_role_grants():
    return [
        RoleGrant("sales_rep", permission="everyhook.ping"),
        RoleGrant("read_only", entity="widgets", actions={"read": "all"}),
    ]


@hookimpl
def crm_menu_items():
    return [MenuItem("Everyhook", "/everyhook/hello", permission="everyhook.ping", order=5)]


@hookimpl
def crm_dashboard_widgets():
    def render(user, records):
        return {
            "contacts": records.count("contacts") if records.access.can("contacts", "read") else 0,
            "recent": [],
        }

    return [Widget("everyhook-count", "Contacts you can see", render)]


@hookimpl
def crm_record_panels():
    def render(record, user, records):
        return f"<p>Panel for {escape(record.last_name)}</p>"

    return [Panel("everyhook-panel", "Everyhook", "contact", render)]


@hookimpl
def crm_timeline_items(ctx):
    """A line per widget the reader may read on its contact's timeline (one query)."""
    if not ctx.is_contact or not ctx.wants("widget", "Widgets"):
        return []
    if not ctx.records.access.can("widgets", "read"):
        return []
    stmt = ctx.records.query("widgets").where(
        ctx.records.entity("widgets").model.name.startswith(f"For {ctx.record.id}:")
    )
    rows = ctx.records.session.scalars(stmt.limit(ctx.fetch))
    return [
        TimelineItem("widget", w.created_at, f"Widget {w.name}", link=f"/widgets/{w.id}", id=w.id)
        for w in rows
    ]


@hookimpl
def crm_periodic_jobs():
    def run(app):
        app.extensions.setdefault("everyhook_job_runs", 0)
        app.extensions["everyhook_job_runs"] += 1

    return [PeriodicJob("everyhook-tick", run, {"minute": "*/5"})]


@hookimpl
def crm_demo_data(ctx):
    ctx.records.create("contacts", {"first_name": "Demo", "last_name": "Everyhook"})


@hookimpl
def crm_validate_record(event):
    if event.entity.name == "contact" and getattr(event.record, "last_name", "") == "Vetoed":
        raise ValidationError({"last_name": ["Vetoed by the everyhook plugin."]})


@hookimpl
def crm_records_written(events):
    # a contact whose last name asks for it fails after being written: the write is undone
    if any(getattr(e.record, "last_name", "") == "Fails when written" for e in events):
        raise RuntimeError("a listener failed inside the transaction")
    store = events[0].records.crm.app.extensions.setdefault("everyhook_written", [])
    store.append([(e.action, e.entity.name, e.record.id) for e in events])


@hookimpl
def crm_record_created(event):
    _log(event, "created")


@hookimpl
def crm_record_updated(event):
    _log(event, "updated")


@hookimpl
def crm_record_deleted(event):
    _log(event, "deleted")


@hookimpl
def crm_record_action_performed(event):
    _log(event, "action performed")


@hookimpl
def crm_contact_unsubscribed(event):
    store = event.records.crm.app.extensions.setdefault("everyhook", [])
    changed = sorted(c.id for c in event.changed)
    store.append(("unsubscribed", event.origin, event.ref, event.one_click, changed))
    if event.origin == "fails":
        raise RuntimeError("a listener failed after the opt-out")


@hookimpl
def crm_person_data(person):
    from crmcore.contacts.models import Contact
    from crmcore.privacy import PersonData

    store = person.crm.app.extensions.setdefault("everyhook", [])

    def erase():
        # erasers run before the core deletes the contacts: they are still there
        still = [c for c in person.contact_ids if person.session.get(Contact, c) is not None]
        store.append(("erased", person.email, still))

    rows = [{"contact_id": c.id, "greeting": f"Hola {c.first_name}"} for c in person.contacts]
    return [PersonData("everyhook.greetings", rows, erase=erase)]


@hookimpl
def crm_merge_records(entity, winner, loser, session):
    from flask import current_app

    store = current_app.extensions.setdefault("everyhook", [])
    store.append(("merged", entity.name, winner.id, loser.id, session is not None))
