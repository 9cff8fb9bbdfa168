"""default pipeline

A new instance gets one pipeline, "Sales", with the usual stages, so deals can be created at
once; administrators rename, reorder or add to it.

Revision ID: dbe42b9f8764
Revises: 43e3bffc9b59
Create Date: 2026-11-23 16:55:12.759453
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "dbe42b9f8764"
down_revision: str | None = "43e3bffc9b59"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAGES = (
    # name, probability, won, lost
    ("Prospecting", 10, False, False),
    ("Qualification", 25, False, False),
    ("Proposal", 50, False, False),
    ("Negotiation", 75, False, False),
    ("Won", 100, True, False),
    ("Lost", 0, False, True),
)


def upgrade() -> None:
    now = dt.datetime.now(dt.UTC)
    record = {"created_at": now, "updated_at": now, "version": 1}
    pipeline = sa.table(
        "sales_pipeline",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("position", sa.Integer),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("version", sa.Integer),
    )
    stage = sa.table(
        "sales_stage",
        sa.column("pipeline_id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("position", sa.Integer),
        sa.column("probability", sa.Integer),
        sa.column("is_won", sa.Boolean),
        sa.column("is_lost", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("version", sa.Integer),
    )
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":  # AwareDateTime stores naive UTC on SQLite
        record = {
            **record,
            "created_at": now.replace(tzinfo=None),
            "updated_at": now.replace(tzinfo=None),
        }
    pipeline_id = connection.execute(
        pipeline.insert().values(name="Sales", position=0, **record).returning(pipeline.c.id)
    ).scalar_one()
    op.bulk_insert(
        stage,
        [
            {
                "pipeline_id": pipeline_id,
                "name": name,
                "position": n,
                "probability": probability,
                "is_won": won,
                "is_lost": lost,
                **record,
            }
            for n, (name, probability, won, lost) in enumerate(STAGES)
        ],
    )


def downgrade() -> None:
    connection = op.get_bind()
    pipeline_id = connection.execute(
        sa.text("SELECT id FROM sales_pipeline WHERE name = 'Sales'")
    ).scalar()
    if pipeline_id is not None:
        connection.execute(
            sa.text("DELETE FROM sales_stage WHERE pipeline_id = :p"), {"p": pipeline_id}
        )
        connection.execute(sa.text("DELETE FROM sales_pipeline WHERE id = :p"), {"p": pipeline_id})
