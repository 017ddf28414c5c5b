"""sync second pass: device times kept beside corrected ones, in the audit and on visits

Revision ID: 0009
Revises: 0003
Create Date: 2026-11-30 17:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import backend.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "audit_entry",
        sa.Column("device_time", backend.types.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "site_visit",
        sa.Column("device_visited_at", backend.types.UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("site_visit", "device_visited_at")
    op.drop_column("audit_entry", "device_time")
