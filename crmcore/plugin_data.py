"""Dropping a disabled plugin's data, after writing an export of it (``crm plugins drop``).

Disabling a plugin keeps every row; dropping is the separate, explicit step that removes them.
It first writes everything it is about to remove into a folder under ``<instance>/exports``:

* one JSON Lines file per table of the plugin (``<table>.jsonl``);
* the rows of core tables that belong to the plugin's records: search documents, audit
  entries, notes, tasks, activities, attachments (with their files under ``files/``), custom
  field definitions, saved views, imports and notifications linking to them;
* ``manifest.json``: the plugin, its version, its migration revision, the row counts.

Then, in one transaction, it deletes those core rows, drops the plugin's tables and its
Alembic version table, and forgets the plugin's state (enabling it again starts afresh and
grants its default permissions again).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, inspect, select, text

from . import migrate
from .audit import jsonable
from .db import Base, utcnow
from .plugin_state import PluginState
from .plugins import PluginError

#: core tables holding rows about other entities' records, and the column naming the entity
_LINKED: tuple[tuple[str, str], ...] = (
    ("core_search_doc", "entity"),
    ("core_audit", "entity"),
    ("core_note", "record_type"),
    ("core_task", "record_type"),
    ("core_activity", "record_type"),
    ("core_attachment", "record_type"),
    ("core_custom_field", "entity"),
    ("core_saved_view", "entity"),
    ("core_import_row", "entity"),
    ("core_import", "entity"),
    ("core_notification", "link_entity"),
)


@dataclass
class DropReport:
    """What ``drop_plugin_data`` exported and removed."""

    plugin: str
    export_dir: Path
    tables: dict[str, int] = field(default_factory=dict)
    linked: dict[str, int] = field(default_factory=dict)


def plugin_tables(crm: Any, name: str) -> list[Table]:
    """The plugin's tables that exist in the database, dependants first (the order to drop)."""
    prefix = crm.plugins.get(name).table_prefix
    existing = set(inspect(crm.session.connection()).get_table_names())
    ordered = [t for t in Base.metadata.sorted_tables if t.name.startswith(prefix)]
    return [t for t in reversed(ordered) if t.name in existing]


def _check_droppable(crm: Any, name: str, tables: list[Table]) -> None:
    plugin = crm.plugins.get(name)  # raises with the reason when it is not installed
    if plugin.meta.builtin:
        raise PluginError(f"plugin {name!r} is built in; its data cannot be dropped")
    if name in crm.enabled_plugins():
        raise PluginError(f"plugin {name!r} is enabled: disable it first (crm plugins disable)")
    mine = {t.name for t in tables}
    inspector = inspect(crm.session.connection())
    foreign = sorted(
        f"{other}.{','.join(fk['constrained_columns'])}"
        for other in inspector.get_table_names()
        if other not in mine
        for fk in inspector.get_foreign_keys(other)
        if fk["referred_table"] in mine
    )
    if foreign:
        raise PluginError(
            f"other tables refer to {name!r}'s tables ({', '.join(foreign)}): drop or "
            "migrate those first"
        )


def _rows(session: Any, stmt: Any) -> Iterator[dict[str, Any]]:
    for row in session.execute(stmt).mappings():
        yield {key: jsonable(value) for key, value in row.items()}


def _write_jsonl(path: Path, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    return count


def _export_dir(crm: Any, name: str) -> Path:
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    folder = crm.settings.instance_path / "exports" / f"drop-{name}-{stamp}"
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def drop_plugin_data(crm: Any, name: str) -> DropReport:
    """Export, then remove, every row of the disabled plugin ``name``; drop its tables."""
    session = crm.session
    tables = plugin_tables(crm, name)
    _check_droppable(crm, name, tables)
    entity_keys = {
        key for e in crm.registry.of_plugins([name]) for key in (e.name, e.plural)
    }
    report = DropReport(name, _export_dir(crm, name))
    folder = report.export_dir
    for table in reversed(tables):  # parents first, as a restore would insert them
        report.tables[table.name] = _write_jsonl(
            folder / f"{table.name}.jsonl", _rows(session, select(table))
        )
    linked: list[tuple[Table, Any]] = []
    metadata_tables = Base.metadata.tables
    for table_name, column in _LINKED:
        table = metadata_tables.get(table_name)
        if table is None or not entity_keys:
            continue
        condition = table.c[column].in_(sorted(entity_keys))
        count = _write_jsonl(
            folder / f"{table_name}.jsonl", _rows(session, select(table).where(condition))
        )
        if count:
            report.linked[table_name] = count
            linked.append((table, condition))
        else:
            (folder / f"{table_name}.jsonl").unlink()
    _copy_attachment_files(crm, folder, entity_keys)
    revision = migrate.current(crm, name)
    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "plugin": name,
                "version": crm.plugins.get(name).meta.version,
                "revision": revision,
                "exported_at": dt.datetime.now(dt.UTC).isoformat(),
                "tables": report.tables,
                "linked": report.linked,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    for table, condition in linked:
        session.execute(delete(table).where(condition))
    connection = session.connection()
    for table in tables:
        table.drop(connection)
    connection.execute(text(f'DROP TABLE IF EXISTS "alembic_version_{name}"'))
    state = session.get(PluginState, name)
    if state is not None:
        session.delete(state)
    session.commit()
    crm.forget_enabled()
    _remove_attachment_files(crm, folder)
    return report


def _copy_attachment_files(crm: Any, folder: Path, entity_keys: set[str]) -> None:
    from .api.attachments import file_path
    from .models import Attachment

    if not entity_keys:
        return
    files = folder / "files"
    for attachment in crm.session.scalars(
        select(Attachment).where(Attachment.record_type.in_(sorted(entity_keys)))
    ):
        source = file_path(crm, attachment)
        if source.is_file():
            files.mkdir(exist_ok=True)
            shutil.copy2(source, files / attachment.stored_name)


def _remove_attachment_files(crm: Any, folder: Path) -> None:
    """After the commit: the exported copies are kept, the stored originals removed."""
    files = folder / "files"
    if not files.is_dir():
        return
    root = crm.settings.attachments_path
    for copy in files.iterdir():
        (root / copy.name[:2] / copy.name).unlink(missing_ok=True)
