"""Contacts: drop the single-column indexes on ``owner_id`` and ``updated_at``, which
``ix_core_contact_owner_id_id`` and ``ix_core_contact_updated_at_id`` (0005_indexes) make
redundant: an index serves every look-up by its first column, and on SQLite an index on one
column already ends with the rowid, the contact's id (each was an exact copy). Every insert
and update of a contact wrote both twice.

Revision ID: 0014_contact_redundant_indexes
Revises: 0013_search_batch
Create Date: 2026-12-05 20:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_contact_redundant_indexes"
down_revision: str | None = "0013_search_batch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_core_contact_owner_id", table_name="core_contact")
    op.drop_index("ix_core_contact_updated_at", table_name="core_contact")


def downgrade() -> None:
    op.create_index("ix_core_contact_updated_at", "core_contact", ["updated_at"], unique=False)
    op.create_index("ix_core_contact_owner_id", "core_contact", ["owner_id"], unique=False)
