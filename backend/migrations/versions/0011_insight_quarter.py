"""insight: per-quarter site and district sums for the OGC production layers

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 01:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import backend.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "insight_quarter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dim", text(length=8), nullable=False),
        sa.Column("key_id", sa.Uuid(), nullable=True),
        sa.Column("district_code", text(length=16), nullable=True),
        sa.Column("quarter", text(length=7), nullable=False),
        sa.Column("purchases", sa.Integer(), nullable=False),
        sa.Column("purchased_carats", backend.types.ExactDecimal(14, 3), nullable=False),
        sa.Column("purchased_usd", backend.types.ExactDecimal(16, 2), nullable=False),
        sa.Column("purchased_stones", sa.Integer(), nullable=False),
        sa.Column("produced_carats", backend.types.ExactDecimal(14, 3), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_insight_quarter_dim_key_quarter", "insight_quarter", ["dim", "key_id", "quarter"]
    )
    op.create_index(
        "ix_insight_quarter_dim_district_quarter",
        "insight_quarter",
        ["dim", "district_code", "quarter"],
    )
    # Licence pages of statistics list their licences in order without scanning site rows.
    op.create_index("ix_insight_stat_dim_licence", "insight_stat", ["dim", "licence_id"])


def downgrade() -> None:
    op.drop_index("ix_insight_stat_dim_licence", table_name="insight_stat")
    op.drop_index("ix_insight_quarter_dim_district_quarter", table_name="insight_quarter")
    op.drop_index("ix_insight_quarter_dim_key_quarter", table_name="insight_quarter")
    op.drop_table("insight_quarter")
