"""Every hook a plugin can implement.

Mark implementations with ``crmcore.hookimpl``; leave out arguments you do not need.

*Registration hooks* (``crm_entities`` ... ``crm_periodic_jobs``) are called one plugin at a time
in load order, so that what each returns is attributed to it. ``crm_entities``,
``crm_entity_fields``, ``crm_record_actions``, ``crm_permissions`` and ``crm_blueprints`` are
called once, when the app is created, for every available plugin: conflicts are refused at
start-up naming both plugins, and what a disabled plugin contributed is hidden while it stays
disabled. The others are called
when needed: ``crm_cli_commands`` when ``crm`` looks for a command (for every installed plugin,
so listing commands needs no database), ``crm_role_grants`` when the plugin is enabled, menus,
widgets and panels of enabled plugins on each request, and ``crm_periodic_jobs`` when the job
consumer starts (a job of a disabled plugin is skipped when it is due).

*Event hooks* (``crm_demo_data``, ``crm_validate_record``, ``crm_records_written``,
``crm_timeline_items``, the four
after-commit hooks and ``crm_contact_unsubscribed``) are
called for enabled plugins only, in load order: a plugin's implementation runs after those of
the plugins it ``requires``. ``tryfirst``/``trylast`` change that as in pluggy.
``crm_person_data`` and ``crm_merge_records`` are called for enabled plugins and for disabled
ones whose rows are kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    from flask import Blueprint
    from sqlalchemy.orm import Session

    from .actions import RecordAction
    from .consent import UnsubscribeEvent
    from .contributions import (
        DemoContext,
        ExtraField,
        MenuItem,
        Panel,
        PeriodicJob,
        Permission,
        RoleGrant,
        Widget,
    )
    from .privacy import Person, PersonData
    from .records import RecordEvent
    from .registry import Entity
    from .timeline import TimelineContext, TimelineItem

hookspec = pluggy.HookspecMarker("crmcore")


@hookspec
def crm_entities() -> Iterable[Entity]:
    """Return the entities this plugin owns.

    Each entity gets REST endpoints, OpenAPI entries, permissions, audit, custom fields, search,
    import/export and trash with no further code. Two plugins returning the same entity name,
    plural or table are refused at start-up.
    """


@hookspec
def crm_entity_fields() -> Iterable[ExtraField]:
    """Return fields this plugin adds to entities of other plugins.

    They are stored with the entity's custom fields, so no plugin migrates another's tables.
    """


@hookspec
def crm_blueprints() -> Iterable[Blueprint]:
    """Return Flask blueprints to register.

    A ``flask_smorest.Blueprint`` is registered on the REST API (and documented in its OpenAPI
    document, which is built when first read: ``crm serve`` reads it before it serves); a
    plain ``flask.Blueprint`` on the app. Name blueprints after the plugin. Two plugins
    claiming the same URL prefix are refused at start-up. Routes of a disabled plugin answer
    404.
    """


@hookspec
def crm_cli_commands() -> Iterable[click.Command]:
    """Return click commands or groups to add to ``crm``.

    Called lazily, only when the ``crm`` command needs its list of commands: import your CLI
    module inside the implementation to keep start-up fast. ``crm --help`` imports no Flask,
    so return a group as a ``crmcore.cli.LazyGroup`` whose commands (which may use
    ``flask.cli.with_appcontext``) live in a module imported only when one runs. The commands
    are listed for every installed plugin, but run only where the plugin is enabled
    (``--help`` always works).
    """


@hookspec
def crm_permissions() -> Iterable[Permission]:
    """Return the named permissions this plugin declares (``<plugin>.<action>``).

    Entity permissions (``contacts.read`` ...) are derived from the registry; declare only
    the extra ones, such as ``marketing.send``.
    """


@hookspec
def crm_role_grants() -> Iterable[RoleGrant]:
    """Return the grants default roles receive when this plugin is enabled.

    Applied once, on enabling; administrators may change them afterwards. A grant may name
    another plugin's entity (``leads`` from a marketing plugin): it is skipped when no
    installed plugin provides that entity.
    """


@hookspec
def crm_record_actions() -> Iterable[RecordAction]:
    """Return actions for another plugin's entity (``RecordAction(entity="leads", ...)``).

    Each gets an API endpoint, a button on the record's page and an audit row, like the
    entity's own ``actions``. An action naming an entity no installed plugin provides is
    skipped; two plugins adding an action of the same name to one entity are refused at
    start-up.
    """


@hookspec
def crm_menu_items() -> Iterable[MenuItem]:
    """Return entries for the main navigation. Each is shown only to users allowed to see it."""


@hookspec
def crm_dashboard_widgets() -> Iterable[Widget]:
    """Return dashboard widgets. Their ``render`` must apply the user's permission scope."""


@hookspec
def crm_record_panels() -> Iterable[Panel]:
    """Return panels for record detail pages (template slots), for any plugin's entity."""


@hookspec
def crm_timeline_items(ctx: TimelineContext) -> Iterable[TimelineItem]:
    """Return what happened to ``ctx.record`` that this plugin knows of, newest first.

    Called for enabled plugins on every record page and ``GET /api/v1/<plural>/<id>/timeline``.
    Offer each kind with ``ctx.wants(kind, label)`` and query it only when that returns true;
    run one query per kind through ``ctx.records.query(...)`` (the reader's scope), limited to
    ``ctx.fetch`` rows. ``ctx.about(Model.contact_id, Model.company_id)`` is the condition for
    rows about the contact, or about the company and its contacts (``None`` on other entities).
    Titles are written in the reader's language.

    :param ctx: the reader's record service, the record and the kinds asked for.
    """


@hookspec
def crm_periodic_jobs() -> Iterable[PeriodicJob]:
    """Return jobs the job consumer runs on a schedule."""


@hookspec
def crm_demo_data(ctx: DemoContext) -> None:
    """Create demo records through ``ctx.records`` (the one write path).

    Called by ``crm demo`` and ``crm init --demo``, in load order, so a plugin can use the
    records that the plugins it requires created.

    :param ctx: the record service of the demo admin, a seeded ``random.Random`` and the demo
        users by role name.
    """


@hookspec
def crm_validate_record(event: RecordEvent) -> None:
    """Check a record before it is saved; raise ``crmcore.ValidationError`` to veto.

    Called for creates, updates and deletes, after schema validation and the permission check,
    inside the transaction (``event.record`` holds the new values; ``event.changes`` maps each
    changed field to ``(before, after)``). Do not commit here.

    :param event: the entity, the record, the action, the changes and the acting user.
    """


@hookspec
def crm_records_written(events: list[RecordEvent]) -> None:
    """Keep this plugin's own derived rows in step with records just written, in the same
    transaction.

    Called by the record service after each create, update, delete (to the trash) and restore
    - once per write, or once per batch of ``create_many`` (an import) - after the records were
    written (flushed, defaults and ids set) and their audit rows added, before the commit: what
    the implementation writes with ``events[0].session`` commits or rolls back with them. Do not
    commit, and do not veto here (``crm_validate_record`` does that); an exception undoes the
    write.

    :param events: the writes, each with the entity, the record as written, the action and
        the changed fields ``(before, after)``; all of one entity for a batch.
    """


@hookspec
def crm_record_created(event: RecordEvent) -> None:
    """React to a record that was created, after the transaction committed.

    An exception here is logged and never undoes the write.

    :param event: the entity, the new record, ``action == "create"`` and its values as changes.
    """


@hookspec
def crm_record_updated(event: RecordEvent) -> None:
    """React to a record that was updated (``event.changes``), after the commit.

    A record restored from the trash arrives here with ``event.action == "restore"``.

    :param event: the entity, the record, the action and the changed fields.
    """


@hookspec
def crm_record_deleted(event: RecordEvent) -> None:
    """React to a record that was moved to the trash, after the commit.

    :param event: the entity, the trashed record and ``action == "delete"``.
    """


@hookspec
def crm_record_action_performed(event: RecordEvent) -> None:
    """React to a record action that was performed (a lead converted, a quote sent), after the
    commit.

    Called by ``crmcore.actions.run_action`` - the API, the pages, bulk lists and automation
    alike - once the action's handler and its audit row are committed. The writes the handler
    made arrive at the other event hooks as usual. An exception here is logged and never undoes
    the action.

    :param event: the entity, the record as the action left it, ``action`` the action's name,
        its inputs as changes (secrets left out) and the acting user.
    """


@hookspec
def crm_contact_unsubscribed(event: UnsubscribeEvent) -> None:
    """React to a contact who unsubscribed with a link of the core's ``/u/<token>`` page.

    Called after the opt-out was committed (every contact with the address has
    ``email_opt_out`` set through the record service), for enabled plugins only: a plugin
    whose message carried the link (``event.origin`` is its name) records it on its own rows.
    Also called when the contact had already opted out. An exception here is logged and never
    undoes the opt-out.

    :param event: the contact, the origin plugin and its ``ref`` of the message, whether it
        was an RFC 8058 one-click request, the contacts changed, and the record service.
    """


@hookspec
def crm_person_data(person: Person) -> Iterable[PersonData]:
    """Return what this plugin holds about one person: one ``PersonData`` per kind of row.

    Called by ``crm people export|erase``, the contact page's export and erasure and
    ``/api/v1/people/...``, for every plugin whose tables exist on the instance - enabled ones
    and disabled ones whose rows are kept, so a disabled plugin's rows are erased too. Look the
    person up by ``person.email`` and ``person.contact_ids`` (trashed rows included); put the
    rows in ``rows`` (``person.row(record)``) and attached files in ``files``
    (``person.files(entity, ids)``). ``erase`` is called inside the erasure's transaction, in
    reverse load order (before the core deletes the contacts): delete the person's own rows for
    good with ``person.purge(entity, ids)`` (registered entities: their notes, attachments,
    search documents and audit values go too) or a ``DELETE``; for rows that aggregates need
    (orders, sends), detach them and replace what names the person with ``person.scrub(value)``
    or ``person.scrub_rows(Model, columns)``. Never commit.

    :param person: the address, the matching contacts, the session and the helpers above.
    """


@hookspec
def crm_merge_records(entity: Entity, winner: Any, loser: Any, session: Session) -> None:
    """Re-point this plugin's own rows from ``loser`` to ``winner`` when two records merge.

    Called by ``crmcore.merging.merge_records`` (the ``merge`` action of contacts and
    companies) after the core re-pointed every registered entity's reference fields and
    polymorphic links - so only rows the registry cannot see need this hook: a plugin's tables
    that are not entities (a link table, a cache keyed by contact id). Called for every plugin
    whose tables exist on the instance, enabled or disabled, inside the merge's transaction,
    before the loser goes to the trash. Write with ``session`` (an ``UPDATE`` is fine); never
    commit; raise ``crmcore.ValidationError`` to refuse the merge.

    :param entity: the merged entity (``contact`` or ``company``).
    :param winner: the record kept.
    :param loser: the record about to be trashed.
    :param session: the merge's session.
    """
