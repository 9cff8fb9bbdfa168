"""Create claims_claim.

Revision ID: claims_0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "claims_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "claims_claim",
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("custom_fields", JSON, nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["core_company.id"],
            name=op.f("fk_claims_claim_company_id_core_company"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["core_contact.id"],
            name=op.f("fk_claims_claim_contact_id_core_contact"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["core_user.id"],
            name=op.f("fk_claims_claim_owner_id_core_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims_claim")),
    )
    with op.batch_alter_table("claims_claim", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claims_claim_company_id"), ["company_id"])
        batch_op.create_index(batch_op.f("ix_claims_claim_contact_id"), ["contact_id"])
        batch_op.create_index(batch_op.f("ix_claims_claim_deleted_at"), ["deleted_at"])
        batch_op.create_index(batch_op.f("ix_claims_claim_owner_id"), ["owner_id"])
        batch_op.create_index(batch_op.f("ix_claims_claim_status"), ["status"])
        batch_op.create_index(batch_op.f("ix_claims_claim_updated_at"), ["updated_at"])


def downgrade() -> None:
    op.drop_table("claims_claim")
