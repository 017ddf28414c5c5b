"""evidence reports and overrides

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import backend.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_report",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("computed_at", backend.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("computed_by", sa.Uuid(), nullable=True),
        sa.Column("verdict", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=True),
        sa.Column("data_version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"]),
        sa.ForeignKeyConstraint(["computed_by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    op.create_index("ix_evidence_report_verdict", "evidence_report", ["verdict"])
    op.create_index("ix_evidence_report_lot_computed", "evidence_report", ["lot_id", "computed_at"])
    op.create_table(
        "evidence_override",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=False),
        sa.Column("decided_at", backend.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["evidence_report.id"]),
        sa.ForeignKeyConstraint(["decided_by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_evidence_override_report_id", "evidence_override", ["report_id"])
    op.create_table(
        "capacity_rate",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", backend.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", backend.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("region_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("carats_per_digger_day", backend.types.ExactDecimal(10, 4), nullable=False),
        sa.Column("working_days_per_year", sa.Integer(), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.ForeignKeyConstraint(["region_code"], ["jurisdiction.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("region_code"),
    )
    op.create_index("ix_capacity_rate_updated_at", "capacity_rate", ["updated_at"])
    op.create_table(
        "footprint_profile",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("region_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("built_at", backend.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("built_by", sa.Uuid(), nullable=True),
        sa.Column("lots", sa.Integer(), nullable=False),
        sa.Column("stones", sa.Integer(), nullable=False),
        sa.Column("carats", backend.types.ExactDecimal(16, 3), nullable=False),
        sa.Column("usd_value", backend.types.ExactDecimal(18, 2), nullable=False),
        sa.Column("size_classes", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["region_code"], ["jurisdiction.code"]),
        sa.ForeignKeyConstraint(["built_by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_footprint_profile_region_built", "footprint_profile", ["region_code", "built_at"]
    )


def downgrade() -> None:
    op.drop_table("footprint_profile")
    op.drop_table("capacity_rate")
    op.drop_table("evidence_override")
    op.drop_table("evidence_report")
