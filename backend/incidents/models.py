"""Incident tables: the incident (open until closed) and its append-only follow-up history."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import uuid7
from backend.models_base import Record
from backend.types import UTCDateTime


class IncidentKind(StrEnum):
    seizure = "seizure"  # an illicit shipment seized
    licence_violation = "licence_violation"
    armed_group_presence = "armed_group_presence"  # conflict at a site: it contributes nothing
    inspection_finding = "inspection_finding"


class IncidentStatus(StrEnum):
    open = "open"
    closed = "closed"


class Incident(Record, table=True):
    """About a site, a miner, an organisation or a lot (at least one); in one district."""

    __tablename__ = "incident"

    kind: str = Field(max_length=32, index=True)
    status: str = Field(default=IncidentStatus.open, max_length=16, index=True)
    occurred_at: datetime = Field(sa_type=UTCDateTime, index=True)
    district_code: str = Field(max_length=16, foreign_key="jurisdiction.code", index=True)
    site_id: uuid.UUID | None = Field(default=None, foreign_key="site.id", index=True)
    miner_id: uuid.UUID | None = Field(default=None, foreign_key="miner.id", index=True)
    organisation_id: uuid.UUID | None = Field(
        default=None, foreign_key="organisation.id", index=True
    )
    lot_id: uuid.UUID | None = Field(default=None, foreign_key="lot.id", index=True)
    summary: str = Field(max_length=4000)
    location: Any = Field(
        default=None,
        sa_column=Column(Geometry("POINT", srid=4326, spatial_index=True), nullable=True),
    )
    # SHA-256 of photos and documents uploaded through the sync attachment store.
    attachments: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    reported_by: uuid.UUID = Field(foreign_key="app_user.id")
    device_id: str | None = Field(default=None, max_length=64)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class IncidentFollowUp(SQLModel, table=True):
    """One step of an incident's follow-up: a note, maybe a status change; never edited."""

    __tablename__ = "incident_follow_up"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    incident_id: uuid.UUID = Field(foreign_key="incident.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    by: uuid.UUID = Field(foreign_key="app_user.id")
    device_id: str | None = Field(default=None, max_length=64)
    note: str = Field(max_length=4000)
    status_before: str = Field(max_length=16)
    status_after: str = Field(max_length=16)
    attachments: list[str] = Field(default_factory=list, sa_column=Column(JSON))
