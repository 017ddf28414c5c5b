"""Registry tables. Geometries are SRID 4326, GiST/R*Tree indexed, WKB at the boundary."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import uuid7
from backend.models_base import Record
from backend.types import ExactDecimal, UTCDateTime


class JurisdictionLevel(StrEnum):
    country = "country"
    region = "region"
    district = "district"


class LicenceKind(StrEnum):
    artisanal_mining = "artisanal_mining"
    buyer = "buyer"
    exporter = "exporter"


class LicenceStatus(StrEnum):
    active = "active"
    suspended = "suspended"
    revoked = "revoked"
    expired = "expired"


class OrganisationKind(StrEnum):
    buying_office = "buying_office"
    exporter = "exporter"


class SiteStatus(StrEnum):
    active = "active"
    inactive = "inactive"
    suspended = "suspended"
    closed = "closed"


class MinerStatus(StrEnum):
    active = "active"
    inactive = "inactive"


class Jurisdiction(Record, table=True):
    __tablename__ = "jurisdiction"

    code: str = Field(max_length=16, unique=True)
    name: str = Field(max_length=200)
    level: str = Field(max_length=16, index=True)
    country_code: str = Field(max_length=2, index=True)
    parent_code: str | None = Field(default=None, max_length=16, foreign_key="jurisdiction.code")
    boundary: Any = Field(
        default=None,
        sa_column=Column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=True),
    )


class Organisation(Record, table=True):
    __tablename__ = "organisation"

    name: str = Field(max_length=200)
    kind: str = Field(max_length=32, index=True)
    country_code: str = Field(max_length=2)
    district_code: str | None = Field(
        default=None, max_length=16, foreign_key="jurisdiction.code", index=True
    )
    registration_number: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=500)
    active: bool = Field(default=True)


class Miner(Record, table=True):
    __tablename__ = "miner"

    full_name: str = Field(max_length=200)
    national_id: str | None = Field(default=None, max_length=64, index=True)
    phone: str | None = Field(default=None, max_length=32)
    photo_ref: str | None = Field(default=None, max_length=64)
    district_code: str = Field(max_length=16, foreign_key="jurisdiction.code", index=True)
    status: str = Field(default=MinerStatus.active, max_length=16, index=True)
    # A tombstone: set when a device deletes the record; rows are never removed.
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Licence(Record, table=True):
    __tablename__ = "licence"

    kind: str = Field(max_length=32, index=True)
    number: str = Field(max_length=64, unique=True, index=True)
    holder_miner_id: uuid.UUID | None = Field(default=None, foreign_key="miner.id", index=True)
    holder_organisation_id: uuid.UUID | None = Field(
        default=None, foreign_key="organisation.id", index=True
    )
    district_code: str | None = Field(
        default=None, max_length=16, foreign_key="jurisdiction.code", index=True
    )
    valid_from: date
    valid_to: date
    status: str = Field(default=LicenceStatus.active, max_length=16, index=True)
    fit_and_proper: bool | None = Field(default=None)
    overlap_override_reason: str | None = Field(default=None, max_length=2000)
    area: Any = Field(
        default=None,
        sa_column=Column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=True),
    )
    area_ha: Decimal | None = Field(default=None, sa_type=ExactDecimal(14, 4))


class LicenceStatusChange(SQLModel, table=True):
    """Each change of a licence's status, with who made it and why; never edited."""

    __tablename__ = "licence_status_change"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    licence_id: uuid.UUID = Field(foreign_key="licence.id", index=True)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=2000)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    changed_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")


class Site(Record, table=True):
    __tablename__ = "site"

    name: str = Field(max_length=200)
    district_code: str = Field(max_length=16, foreign_key="jurisdiction.code", index=True)
    licence_id: uuid.UUID | None = Field(default=None, foreign_key="licence.id", index=True)
    status: str = Field(default=SiteStatus.active, max_length=16, index=True)
    geometry: Any = Field(
        default=None,
        sa_column=Column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False),
    )
    area_ha: Decimal = Field(sa_type=ExactDecimal(14, 4))
    notes: str | None = Field(default=None, max_length=2000)
    # A tombstone: set when a device deletes the record; rows are never removed.
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SiteVisit(Record, table=True):
    __tablename__ = "site_visit"

    site_id: uuid.UUID = Field(foreign_key="site.id", index=True)
    district_code: str = Field(max_length=16, foreign_key="jurisdiction.code", index=True)
    visited_at: datetime = Field(sa_type=UTCDateTime, index=True)
    location: Any = Field(
        default=None,
        sa_column=Column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False),
    )
    diggers_counted: int = Field(ge=0)
    notes: str | None = Field(default=None, max_length=4000)
    officer_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    distance_to_site_m: Decimal | None = Field(default=None, sa_type=ExactDecimal(12, 1))
    # Set when the recording device's clock drifted: its own reading of the visit time, while
    # `visited_at` holds that reading moved onto the server's clock (the push measured the offset).
    device_visited_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A tombstone: set when a device deletes the record; rows are never removed.
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
