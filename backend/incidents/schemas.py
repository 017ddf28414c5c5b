"""Incident API shapes: what clients send and receive."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from backend.custody.schemas import PointIn, PointOut, Strict
from backend.incidents.models import IncidentKind, IncidentStatus
from backend.registry.schemas import AwareDatetime, Code, Sha256, Version

Note = Annotated[str, Field(min_length=1, max_length=4000)]
Attachments = Annotated[list[Sha256], Field(max_length=50)]


class IncidentCreate(Strict):
    id: uuid.UUID | None = Field(default=None, description="a device-made id, kept")
    kind: IncidentKind
    occurred_at: AwareDatetime
    summary: Note
    site_id: uuid.UUID | None = None
    miner_id: uuid.UUID | None = None
    organisation_id: uuid.UUID | None = None
    lot_id: uuid.UUID | None = None
    district: Code | None = Field(
        default=None, description="required when neither site_id nor miner_id names one"
    )
    location: PointIn | None = None
    attachments: Attachments = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_a_subject(self) -> IncidentCreate:
        if not any((self.site_id, self.miner_id, self.organisation_id, self.lot_id)):
            raise ValueError("name what it is about: site_id, miner_id, organisation_id or lot_id")
        if self.kind is IncidentKind.armed_group_presence and self.site_id is None:
            raise ValueError("armed-group presence is reported at a site: give site_id")
        return self


class FollowUpIn(Strict):
    version: Version
    note: Note
    status: IncidentStatus | None = Field(
        default=None, description="closed to close the incident, open to reopen it"
    )
    attachments: Attachments = Field(default_factory=list)


class FollowUpPublic(BaseModel):
    id: uuid.UUID
    at: datetime
    by: uuid.UUID
    device_id: str | None
    note: str
    status_before: IncidentStatus
    status_after: IncidentStatus
    attachments: list[str]


class IncidentPublic(BaseModel):
    id: uuid.UUID
    kind: IncidentKind
    status: IncidentStatus
    occurred_at: datetime
    district: str
    site_id: uuid.UUID | None
    miner_id: uuid.UUID | None
    organisation_id: uuid.UUID | None
    lot_id: uuid.UUID | None
    summary: str
    location: PointOut | None
    attachments: list[str]
    reported_by: uuid.UUID
    device_id: str | None
    closed_at: datetime | None
    follow_ups: list[FollowUpPublic]
    version: int
    created_at: datetime
    updated_at: datetime


class IncidentsPublic(BaseModel):
    items: list[IncidentPublic]
    next_cursor: str | None
