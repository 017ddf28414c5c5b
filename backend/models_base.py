"""Columns every editable record shares: UUID id, optimistic-lock version, aware UTC stamps."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from backend import factories  # noqa: F401  (default factories inspected once)
from backend.clock import utcnow
from backend.ids import uuid7
from backend.types import UTCDateTime


class Record(SQLModel):
    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    version: int = Field(default=1, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )
