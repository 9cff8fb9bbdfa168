"""Alembic environment shared by every lineage (core and each plugin).

``crmcore.migrate`` passes the connection and the lineage in ``config.attributes``: each
lineage has its own version table ``alembic_version_<name>`` and only sees its own tables.
"""

import warnings

from alembic import context
from sqlalchemy import JSON
from sqlalchemy.exc import SAWarning

from crmcore.db import AwareDateTime
from crmcore.migrate import include_name_for, include_object_for

# SQLite cannot reflect expression indexes (lower(email)); they are declared in the models and
# compared by name, so autogenerate loses nothing: say nothing about them either.
warnings.filterwarnings(
    "ignore", message="Skipped unsupported reflection of expression-based index", category=SAWarning
)

config = context.config
lineage = config.attributes["crm_lineage"]
prefix = lineage["prefix"]


def render_item(type_, obj, autogen_context):  # type: ignore[no-untyped-def]
    """Render crmcore's column types with plain SQLAlchemy, so revisions import nothing of ours."""
    if type_ == "type" and isinstance(obj, AwareDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, JSON):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"
    return False


context.configure(
    render_item=render_item,
    connection=config.attributes["connection"],
    target_metadata=lineage["metadata"],
    version_table=f"alembic_version_{lineage['name']}",
    include_object=include_object_for(prefix),
    include_name=include_name_for(prefix),
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
