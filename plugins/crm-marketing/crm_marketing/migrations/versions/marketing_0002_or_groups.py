"""segments: OR groups

A dynamic segment keeps its query, company query and conditions as its first group and gains
``or_groups``: more groups of the same three parts; a contact is a member when it matches any
group.

Revision ID: marketing_0002
Revises: 432b402f0ed0
Create Date: 2026-12-05 07:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "marketing_0002"
down_revision: str | None = "432b402f0ed0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("marketing_segment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("or_groups", JSON, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("marketing_segment", schema=None) as batch_op:
        batch_op.drop_column("or_groups")
