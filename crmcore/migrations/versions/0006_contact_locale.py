"""A contact's language for mail and documents

Revision ID: 0006_contact_locale
Revises: 0005_indexes
Create Date: 2026-11-23 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_contact_locale"
down_revision: str | None = "0005_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a plain ADD COLUMN: batch mode could rebuild the table and lose its expression indexes
    op.add_column("core_contact", sa.Column("locale", sa.String(length=10), nullable=True))


def downgrade() -> None:
    op.drop_column("core_contact", "locale")
