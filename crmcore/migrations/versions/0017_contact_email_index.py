"""Contacts: drop ``ix_core_contact_email``. Addresses are stored lower-cased, so it held the
same values as ``ix_core_contact_email_lower`` (0005_indexes), which every look-up by address
uses (``lower(email) = ?``: duplicates, imports matched on e-mail, opt-outs, subscriptions).
Its entries fall at random places in the index, so at a million contacts an import's batch
rewrote about one of its pages per row.

Revision ID: 0017_contact_email_index
Revises: 0016_import_row_fingerprint
Create Date: 2026-12-08 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017_contact_email_index"
down_revision: str | None = "0016_import_row_fingerprint"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_core_contact_email", table_name="core_contact")


def downgrade() -> None:
    op.create_index("ix_core_contact_email", "core_contact", ["email"], unique=False)
