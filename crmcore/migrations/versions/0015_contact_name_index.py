"""Contacts: drop ``ix_core_contact_name`` (last name, first name, id). No query orders by
last name then first name; every look-up by last name, and the lists sorted by it, use
``ix_core_contact_last_name_id`` (0005_indexes). Its entries fall at random places in the
index, so at a million contacts an import's batch rewrote about one of its pages per row.

Revision ID: 0015_contact_name_index
Revises: 0014_contact_redundant_indexes
Create Date: 2026-12-06 02:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_contact_name_index"
down_revision: str | None = "0014_contact_redundant_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_core_contact_name", table_name="core_contact")


def downgrade() -> None:
    op.create_index(
        "ix_core_contact_name", "core_contact", ["last_name", "first_name", "id"], unique=False
    )
