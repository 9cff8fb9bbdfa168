"""Migrations: one Alembic lineage and version table per plugin, run by ``crm db upgrade``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from .db import Base

ENV_DIR = Path(__file__).parent / "migrations"


def versions_dir(crm: Any, lineage: str) -> Path | None:
    """Where a lineage's revisions live; ``None`` for a plugin that ships no migrations."""
    if lineage == "core":
        return ENV_DIR / "versions"
    folder = crm.plugins.get(lineage).path / "migrations" / "versions"
    return folder if folder.is_dir() else None


def lineages(crm: Any) -> list[str]:
    """``core`` and every non-builtin available plugin, in load order."""
    return ["core", *(p.name for p in crm.plugins if not p.meta.builtin)]


def _prefix(crm: Any, lineage: str) -> str:
    return "core_" if lineage == "core" else crm.plugins.get(lineage).table_prefix


def _config(crm: Any, lineage: str, connection: Any) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ENV_DIR))
    folder = versions_dir(crm, lineage)
    cfg.set_main_option("version_locations", str(folder))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = connection
    cfg.attributes["crm_lineage"] = {"name": lineage, "prefix": _prefix(crm, lineage),
                                     "metadata": Base.metadata}
    return cfg


def upgrade(crm: Any, lineage: str) -> None:
    """Bring one lineage to its newest revision (idempotent)."""
    folder = versions_dir(crm, lineage)
    # in the session's own transaction: one writer, and tests roll it back like any change
    connection = crm.session.connection()
    if folder is None:
        # a plugin without migrations (a prototype): create its tables as declared
        prefix = _prefix(crm, lineage)
        tables = [t for t in Base.metadata.sorted_tables if t.name.startswith(prefix)]
        Base.metadata.create_all(connection, tables=tables, checkfirst=True)
    else:
        command.upgrade(_config(crm, lineage, connection), "heads")
    crm.session.commit()


def current(crm: Any, lineage: str) -> str | None:
    context = MigrationContext.configure(
        crm.session.connection(), opts={"version_table": f"alembic_version_{lineage}"}
    )
    heads = context.get_current_heads()
    return ",".join(heads) if heads else None


def head(crm: Any, lineage: str) -> str | None:
    folder = versions_dir(crm, lineage)
    if folder is None:
        return None
    script = ScriptDirectory.from_config(_config(crm, lineage, None))
    heads = script.get_heads()
    return ",".join(sorted(heads)) if heads else None


def revision(crm: Any, lineage: str, message: str) -> None:
    """Autogenerate a revision for one lineage from the difference between models and database."""
    folder = versions_dir(crm, lineage)
    if folder is None:
        folder = crm.plugins.get(lineage).path / "migrations" / "versions"
        folder.mkdir(parents=True)
    cfg = _config(crm, lineage, crm.session.connection())
    cfg.set_main_option("version_locations", str(folder))
    command.revision(cfg, message=message, autogenerate=True, version_path=str(folder),
                     head="base" if not any(folder.glob("*.py")) else "head")
    crm.session.rollback()
