"""Duplicate detection: indexes for its look-ups, duplicates found by an import, the pairs
found by the duplicate scan (core_duplicate_pair)

Revision ID: dups_0001
Revises: 0008_sessions_idempotency
Create Date: 2026-12-05 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "dups_0001"
down_revision: str | None = "0008_sessions_idempotency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_core_contact_phone", "core_contact", ["phone"], unique=False)
    op.create_index("ix_core_contact_mobile", "core_contact", ["mobile"], unique=False)
    op.create_index(
        "ix_core_company_name_lower", "core_company", [sa.text("lower(name)")], unique=False
    )
    # plain ADD COLUMNs: batch mode could rebuild the table and lose its expression indexes
    op.add_column(
        "core_import",
        sa.Column("possible_duplicates", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column(
        "core_import",
        sa.Column(
            "duplicates", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
    )


    op.create_table(
        "core_duplicate_pair",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("record_a", sa.Integer(), nullable=False),
        sa.Column("record_b", sa.Integer(), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column(
            "reasons", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_duplicate_pair")),
        sa.UniqueConstraint(
            "entity",
            "record_a",
            "record_b",
            name=op.f("uq_core_duplicate_pair_entity_record_a_record_b"),
        ),
    )
    op.create_index(
        "ix_core_duplicate_pair_entity_score",
        "core_duplicate_pair",
        ["entity", "score", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_core_duplicate_pair_record_b"), "core_duplicate_pair", ["record_b"], unique=False
    )


def downgrade() -> None:
    op.drop_table("core_duplicate_pair")
    op.drop_column("core_import", "duplicates")
    op.drop_column("core_import", "possible_duplicates")
    op.drop_index("ix_core_company_name_lower", table_name="core_company")
    op.drop_index("ix_core_contact_mobile", table_name="core_contact")
    op.drop_index("ix_core_contact_phone", table_name="core_contact")
