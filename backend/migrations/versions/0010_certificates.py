"""KP certificates and their per-country, per-year number counter

Revision ID: 0010
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import backend.types

revision = "0010"
down_revision = "0008"  # re-chained in the web branch after merging insight
branch_labels = None
depends_on = None


def _s(n: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=n)


def upgrade() -> None:
    op.create_table(
        "certificate_counter",
        sa.Column("country_code", _s(2), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_serial", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("country_code", "year"),
    )
    utc = backend.types.UTCDateTime(timezone=True)
    op.create_table(
        "certificate",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.Column("number", _s(32), nullable=False),
        sa.Column("country_code", _s(2), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.Column("status", _s(8), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("exporter_organisation_id", sa.Uuid(), nullable=False),
        sa.Column("exporter_name", _s(200), nullable=False),
        sa.Column("importer_name", _s(200), nullable=False),
        sa.Column("importer_address", _s(500), nullable=False),
        sa.Column("destination_country", _s(2), nullable=False),
        sa.Column("country_of_origin", _s(8), nullable=False),
        sa.Column("issuing_authority", _s(200), nullable=False),
        sa.Column("carats", backend.types.ExactDecimal(14, 2), nullable=False),
        sa.Column("usd_value", backend.types.ExactDecimal(16, 2), nullable=False),
        sa.Column("parcels", sa.Integer(), nullable=False),
        sa.Column("hs_code", _s(8), nullable=False),
        sa.Column("issued_at", utc, nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=False),
        sa.Column("issued_by", sa.Uuid(), nullable=False),
        sa.Column("evidence_report_id", sa.Uuid(), nullable=False),
        sa.Column("evidence_digest", _s(64), nullable=False),
        sa.Column("override_id", sa.Uuid(), nullable=True),
        sa.Column("override_reason", _s(4000), nullable=True),
        sa.Column("replaces_id", sa.Uuid(), nullable=True),
        sa.Column("replaces_number", _s(32), nullable=True),
        sa.Column("key_id", _s(16), nullable=False),
        sa.Column("payload", _s(4000), nullable=False),
        sa.Column("voided_at", utc, nullable=True),
        sa.Column("voided_by", sa.Uuid(), nullable=True),
        sa.Column("void_reason", _s(2000), nullable=True),
        sa.Column("confirmed_at", utc, nullable=True),
        sa.Column("confirmed_by", sa.Uuid(), nullable=True),
        sa.Column("confirmation_received_on", sa.Date(), nullable=True),
        sa.Column("confirmation_authority", _s(200), nullable=True),
        sa.Column("confirmation_reference", _s(100), nullable=True),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"]),
        sa.ForeignKeyConstraint(["exporter_organisation_id"], ["organisation.id"]),
        sa.ForeignKeyConstraint(["issued_by"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["evidence_report_id"], ["evidence_report.id"]),
        sa.ForeignKeyConstraint(["override_id"], ["evidence_override.id"]),
        sa.ForeignKeyConstraint(["replaces_id"], ["certificate.id"]),
        sa.ForeignKeyConstraint(["voided_by"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["confirmed_by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("country_code", "year", "serial", name="uq_certificate_serial"),
        sa.UniqueConstraint("replaces_id"),
    )
    op.create_index("ix_certificate_number", "certificate", ["number"], unique=True)
    op.create_index("ix_certificate_status", "certificate", ["status"])
    op.create_index("ix_certificate_lot_id", "certificate", ["lot_id"])
    op.create_index(
        "ix_certificate_exporter_organisation_id", "certificate", ["exporter_organisation_id"]
    )
    op.create_index("ix_certificate_issued_at", "certificate", ["issued_at"])
    op.create_index("ix_certificate_confirmed_at", "certificate", ["confirmed_at"])
    op.create_index("ix_certificate_updated_at", "certificate", ["updated_at"])
    op.create_index(
        "uq_certificate_valid_lot",
        "certificate",
        ["lot_id"],
        unique=True,
        postgresql_where=sa.text("status = 'valid'"),
        sqlite_where=sa.text("status = 'valid'"),
    )


def downgrade() -> None:
    op.drop_table("certificate")
    op.drop_table("certificate_counter")
