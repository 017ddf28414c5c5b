"""security: device credentials, login throttle, idempotent enrolment, quarantine per op

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-30 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import offline_sync.server.sqltypes

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Written by hand; plain columns and indexes only, so it runs the same on both databases.
    op.add_column(
        "auth_token",
        sa.Column("device_credential", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "login_throttle",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column(
            "first_failure_at",
            offline_sync.server.sqltypes.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "locked_until", offline_sync.server.sqltypes.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("key"),
    )
    op.add_column(
        "sync_device",
        sa.Column("enrolment_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    )
    op.create_index(
        "uq_sync_device_enrolment_key",
        "sync_device",
        ["user_id", "enrolment_key"],
        unique=True,
    )
    op.add_column("sync_quarantine", sa.Column("op_id", sa.Uuid(), nullable=True))
    op.add_column(
        "sync_quarantine",
        sa.Column("size_bytes", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.add_column(
        "sync_quarantine",
        sa.Column(
            "status",
            sqlmodel.sql.sqltypes.AutoString(length=16),
            nullable=False,
            server_default="unreviewed",
        ),
    )
    op.create_index(
        "uq_sync_quarantine_device_op", "sync_quarantine", ["device_id", "op_id"], unique=True
    )
    op.create_index("ix_sync_quarantine_op_id", "sync_quarantine", ["op_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sync_quarantine_op_id", table_name="sync_quarantine")
    op.drop_index("uq_sync_quarantine_device_op", table_name="sync_quarantine")
    with op.batch_alter_table("sync_quarantine") as batch:
        batch.drop_column("status")
        batch.drop_column("size_bytes")
        batch.drop_column("op_id")
    op.drop_index("uq_sync_device_enrolment_key", table_name="sync_device")
    with op.batch_alter_table("sync_device") as batch:
        batch.drop_column("enrolment_key")
    op.drop_table("login_throttle")
    with op.batch_alter_table("auth_token") as batch:
        batch.drop_column("device_credential")
