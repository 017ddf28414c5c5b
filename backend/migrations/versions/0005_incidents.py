"""incidents and their follow-ups

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op
from geoalchemy2 import Geometry

import backend.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

S = sqlmodel.sql.sqltypes.AutoString
TIME = backend.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_geospatial_table(
        "incident",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("kind", S(length=32), nullable=False),
        sa.Column("status", S(length=16), nullable=False),
        sa.Column("occurred_at", TIME, nullable=False),
        sa.Column("district_code", S(length=16), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("miner_id", sa.Uuid(), nullable=True),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("lot_id", sa.Uuid(), nullable=True),
        sa.Column("summary", S(length=4000), nullable=False),
        sa.Column(
            "location",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("attachments", sa.JSON(), nullable=True),
        sa.Column("reported_by", sa.Uuid(), nullable=False),
        sa.Column("device_id", S(length=64), nullable=True),
        sa.Column("closed_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(["district_code"], ["jurisdiction.code"]),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"]),
        sa.ForeignKeyConstraint(["miner_id"], ["miner.id"]),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"]),
        sa.ForeignKeyConstraint(["reported_by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_index(
        "idx_incident_location",
        "incident",
        ["location"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    for column in (
        "kind",
        "status",
        "occurred_at",
        "district_code",
        "site_id",
        "miner_id",
        "organisation_id",
        "lot_id",
        "updated_at",
    ):
        op.create_index(f"ix_incident_{column}", "incident", [column], unique=False)
    op.create_table(
        "incident_follow_up",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("by", sa.Uuid(), nullable=False),
        sa.Column("device_id", S(length=64), nullable=True),
        sa.Column("note", S(length=4000), nullable=False),
        sa.Column("status_before", S(length=16), nullable=False),
        sa.Column("status_after", S(length=16), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"]),
        sa.ForeignKeyConstraint(["by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_incident_follow_up_incident_id", "incident_follow_up", ["incident_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("incident_follow_up")
    op.drop_geospatial_index(
        "idx_incident_location",
        table_name="incident",
        postgresql_using="gist",
        column_name="location",
    )
    op.drop_geospatial_table("incident")
