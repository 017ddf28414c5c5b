"""insight: monthly aggregates, their refresh stamp, inspection tasks

Revision ID: 0008
Revises: 0003
Create Date: 2026-11-30 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import backend.types

revision = "0008"
down_revision = "0005"  # re-chained in the web branch after merging evidence
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Written by hand in the style of 0003; plain columns, so it runs on both databases.
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "insight_stat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dim", text(length=8), nullable=False),
        sa.Column("key_id", sa.Uuid(), nullable=True),
        sa.Column("district_code", text(length=16), nullable=True),
        sa.Column("licence_id", sa.Uuid(), nullable=True),
        sa.Column("month", text(length=7), nullable=False),
        sa.Column("quarter", text(length=7), nullable=False),
        sa.Column("half", text(length=7), nullable=False),
        sa.Column("purchases", sa.Integer(), nullable=False),
        sa.Column("purchased_carats", backend.types.ExactDecimal(14, 3), nullable=False),
        sa.Column("purchased_usd", backend.types.ExactDecimal(16, 2), nullable=False),
        sa.Column("purchased_stones", sa.Integer(), nullable=False),
        sa.Column("flagged_purchases", sa.Integer(), nullable=False),
        sa.Column("purchases_inside_licensed", sa.Integer(), nullable=False),
        sa.Column("productions", sa.Integer(), nullable=False),
        sa.Column("produced_carats", backend.types.ExactDecimal(14, 3), nullable=False),
        sa.Column("produced_stones", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_insight_stat_dim_month", "insight_stat", ["dim", "month"])
    op.create_index(
        "ix_insight_stat_dim_district_month", "insight_stat", ["dim", "district_code", "month"]
    )
    op.create_index("ix_insight_stat_dim_key", "insight_stat", ["dim", "key_id"])
    op.create_table(
        "insight_refresh",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", backend.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stat_rows", sa.Integer(), nullable=False),
        sa.Column("seconds", backend.types.ExactDecimal(10, 3), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "inspection_task",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", backend.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", backend.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("district_code", text(length=16), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("officer_id", sa.Uuid(), nullable=True),
        sa.Column("score", backend.types.ExactDecimal(10, 2), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=True),
        sa.Column("status", text(length=16), nullable=False),
        sa.Column("issued_at", backend.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.Uuid(), nullable=False),
        sa.Column("closed_at", backend.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by_visit_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["district_code"], ["jurisdiction.code"]),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"]),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.ForeignKeyConstraint(["officer_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["issued_by"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["closed_by_visit_id"], ["site_visit.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("district_code", "site_id", "officer_id", "status", "updated_at"):
        op.create_index(
            op.f(f"ix_inspection_task_{column}"), "inspection_task", [column], unique=False
        )


def downgrade() -> None:
    for column in ("district_code", "site_id", "officer_id", "status", "updated_at"):
        op.drop_index(op.f(f"ix_inspection_task_{column}"), table_name="inspection_task")
    op.drop_table("inspection_task")
    op.drop_table("insight_refresh")
    op.drop_index("ix_insight_stat_dim_key", table_name="insight_stat")
    op.drop_index("ix_insight_stat_dim_district_month", table_name="insight_stat")
    op.drop_index("ix_insight_stat_dim_month", table_name="insight_stat")
    op.drop_table("insight_stat")
