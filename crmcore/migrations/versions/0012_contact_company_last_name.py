"""Contacts: the company index also holds the lowered last name, so the duplicate look-up by
company and last name reads the index alone (it read every contact of each company named)

Revision ID: 0012_contact_company_last_name
Revises: 0011_auth_stamp
Create Date: 2026-12-05 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_contact_company_last_name"
down_revision: str | None = "0011_auth_stamp"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # it serves every look-up by company alone too (its first column): it replaces that index
    op.create_index(
        "ix_core_contact_company_last_name",
        "core_contact",
        ["company_id", sa.text("lower(last_name)")],
        unique=False,
    )
    op.drop_index("ix_core_contact_company_id", table_name="core_contact")


def downgrade() -> None:
    op.create_index("ix_core_contact_company_id", "core_contact", ["company_id"], unique=False)
    op.drop_index("ix_core_contact_company_last_name", table_name="core_contact")
