"""The append-only audit table."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from backend import factories  # noqa: F401  (default factories inspected once)
from backend.clock import utcnow
from backend.ids import uuid7
from backend.types import UTCDateTime


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    user_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id", index=True)
    username: str | None = Field(default=None, max_length=64)
    device_id: str | None = Field(default=None, max_length=64)
    action: str = Field(max_length=32)
    entity_type: str = Field(max_length=32, index=True)
    entity_id: str = Field(max_length=64, index=True)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    reason: str | None = Field(default=None, max_length=2000)
    # A change made offline: when the device made it (device clock); `at` is when it was applied.
    device_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
