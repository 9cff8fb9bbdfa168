"""Indexes for the list, filter and sort paths at a million contacts

Revision ID: 0005_indexes
Revises: 0004_settings
Create Date: 2026-11-23 16:52:43.181173
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_indexes"
down_revision: str | None = "0004_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("core_contact", schema=None) as batch_op:
        batch_op.create_index("ix_core_contact_last_name_id", ["last_name", "id"], unique=False)
        batch_op.create_index("ix_core_contact_owner_id_id", ["owner_id", "id"], unique=False)
        batch_op.create_index("ix_core_contact_updated_at_id", ["updated_at", "id"], unique=False)
    # case-insensitive filters compare lower(column); alembic cannot autogenerate these
    op.create_index(
        "ix_core_contact_city_sort",
        "core_contact",
        [sa.text("lower(city)"), "last_name", "id"],
        unique=False,
    )
    op.create_index(
        "ix_core_contact_country_id",
        "core_contact",
        [sa.text("lower(country)"), "id"],
        unique=False,
    )
    op.create_index(
        "ix_core_contact_email_lower", "core_contact", [sa.text("lower(email)")], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_core_contact_email_lower", table_name="core_contact")
    op.drop_index("ix_core_contact_country_id", table_name="core_contact")
    op.drop_index("ix_core_contact_city_sort", table_name="core_contact")
    with op.batch_alter_table("core_contact", schema=None) as batch_op:
        batch_op.drop_index("ix_core_contact_updated_at_id")
        batch_op.drop_index("ix_core_contact_owner_id_id")
        batch_op.drop_index("ix_core_contact_last_name_id")
