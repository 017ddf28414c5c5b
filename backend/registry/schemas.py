"""The registry's API shapes: what clients send (Create/Update) and receive (Public).

Geometric resources travel as GeoJSON Features; these models describe their `properties`.
Decimals leave as strings so no carat or hectare is rounded by a float on the way.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.api.fields import INT32_MAX, AwareDatetime, Day
from backend.registry.models import (
    JurisdictionLevel,
    LicenceKind,
    LicenceStatus,
    MinerStatus,
    OrganisationKind,
    SiteStatus,
)

Code = Annotated[
    str, Field(min_length=2, max_length=16, pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,6}){0,2}$")
]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Version = Annotated[
    int, Field(ge=1, le=INT32_MAX, description="the version you read; a stale one gets 409")
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- jurisdictions -------------------------------------------------------------------------


class JurisdictionCreate(Strict):
    code: Code
    name: Name
    level: JurisdictionLevel
    country_code: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    parent_code: Code | None = None


class JurisdictionUpdate(Strict):
    version: Version
    name: Name | None = None


# --- organisations -------------------------------------------------------------------------


class OrganisationCreate(Strict):
    id: uuid.UUID | None = None
    name: Name
    kind: OrganisationKind
    country_code: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    district: Code | None = None
    registration_number: Annotated[str, Field(max_length=64)] | None = None
    address: Annotated[str, Field(max_length=500)] | None = None


class OrganisationUpdate(Strict):
    version: Version
    name: Name | None = None
    district: Code | None = None
    registration_number: Annotated[str, Field(max_length=64)] | None = None
    address: Annotated[str, Field(max_length=500)] | None = None
    active: bool | None = None


class OrganisationPublic(BaseModel):
    id: uuid.UUID
    name: str
    kind: OrganisationKind
    country_code: str
    district: str | None
    registration_number: str | None
    address: str | None
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class OrganisationsPublic(BaseModel):
    items: list[OrganisationPublic]
    next_cursor: str | None


# --- miners --------------------------------------------------------------------------------


class MinerCreate(Strict):
    id: uuid.UUID | None = Field(default=None, description="a device-made UUID is kept")
    full_name: Name
    national_id: Annotated[str, Field(max_length=64)] | None = None
    phone: Annotated[str, Field(max_length=32, pattern=r"^\+?[0-9 ()-]{5,31}$")] | None = None
    photo_ref: Sha256 | None = Field(default=None, description="SHA-256 of the photo attachment")
    district: Code
    status: MinerStatus = MinerStatus.active


class MinerUpdate(Strict):
    version: Version
    full_name: Name | None = None
    national_id: Annotated[str, Field(max_length=64)] | None = None
    phone: Annotated[str, Field(max_length=32, pattern=r"^\+?[0-9 ()-]{5,31}$")] | None = None
    photo_ref: Sha256 | None = None
    district: Code | None = None
    status: MinerStatus | None = None


class MinerPublic(BaseModel):
    """The full record, for roles that administer or verify miners."""

    id: uuid.UUID
    full_name: str
    national_id: str | None
    phone: str | None
    photo_ref: str | None
    district: str
    status: MinerStatus
    licence_numbers: list[str]
    version: int
    created_at: datetime
    updated_at: datetime


class MinerForPurchase(BaseModel):
    """What a buyer or exporter needs to record a purchase: a name and a licence number."""

    id: uuid.UUID
    full_name: str
    licence_numbers: list[str]


class MinersPublic(BaseModel):
    items: list[MinerPublic | MinerForPurchase]
    next_cursor: str | None


# --- licences ------------------------------------------------------------------------------


class LicenceCreate(Strict):
    """Properties of a licence Feature; the geometry is the licensed area (mining only)."""

    id: uuid.UUID | None = None
    kind: LicenceKind
    number: Annotated[str, Field(min_length=1, max_length=64)]
    holder_miner_id: uuid.UUID | None = None
    holder_organisation_id: uuid.UUID | None = None
    district: Code | None = None
    valid_from: Day
    valid_to: Day
    fit_and_proper: bool | None = None
    overlap_override_reason: Annotated[str, Field(min_length=10, max_length=2000)] | None = None


class LicenceUpdate(Strict):
    version: Version
    valid_to: Day | None = None
    fit_and_proper: bool | None = None
    district: Code | None = None
    overlap_override_reason: Annotated[str, Field(min_length=10, max_length=2000)] | None = None


class LicenceStatusChangeIn(Strict):
    version: Version
    status: LicenceStatus
    reason: Annotated[str, Field(min_length=3, max_length=2000)]
    overlap_override_reason: Annotated[str, Field(min_length=10, max_length=2000)] | None = Field(
        default=None,
        description="reinstating a licence whose area another active licence now overlaps",
    )


class LicenceProperties(BaseModel):
    kind: LicenceKind
    number: str
    holder_miner_id: uuid.UUID | None
    holder_organisation_id: uuid.UUID | None
    holder_name: str | None = Field(description="withheld from donors when the holder is a person")
    district: str | None
    valid_from: date
    valid_to: date
    status: LicenceStatus
    effective_status: LicenceStatus = Field(description="`expired` once valid_to has passed")
    fit_and_proper: bool | None
    overlap_override_reason: str | None
    area_ha: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class LicenceStatusChangePublic(BaseModel):
    id: uuid.UUID
    from_status: LicenceStatus | None
    to_status: LicenceStatus
    reason: str | None
    changed_at: datetime
    changed_by: uuid.UUID | None


class LicenceHistoryPublic(BaseModel):
    items: list[LicenceStatusChangePublic]


# --- sites and visits ----------------------------------------------------------------------


class SiteCreate(Strict):
    id: uuid.UUID | None = None
    name: Name
    district: Code
    licence_id: uuid.UUID | None = None
    status: SiteStatus = SiteStatus.active
    notes: Annotated[str, Field(max_length=2000)] | None = None


class SiteUpdate(Strict):
    version: Version
    name: Name | None = None
    licence_id: uuid.UUID | None = None
    status: SiteStatus | None = None
    notes: Annotated[str, Field(max_length=2000)] | None = None


class SiteProperties(BaseModel):
    name: str
    district: str
    licence_id: uuid.UUID | None
    status: SiteStatus
    area_ha: str
    notes: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class SiteVisitCreate(Strict):
    id: uuid.UUID | None = None
    site_id: uuid.UUID
    visited_at: AwareDatetime
    diggers_counted: Annotated[int, Field(ge=0, le=100_000)]
    notes: Annotated[str, Field(max_length=4000)] | None = None


class SiteVisitUpdate(Strict):
    version: Version
    visited_at: AwareDatetime | None = None
    diggers_counted: Annotated[int, Field(ge=0, le=100_000)] | None = None
    notes: Annotated[str, Field(max_length=4000)] | None = None


class SiteVisitProperties(BaseModel):
    site_id: uuid.UUID
    district: str
    visited_at: datetime
    diggers_counted: int
    notes: str | None = Field(description="withheld from donors")
    officer_id: uuid.UUID | None
    distance_to_site_m: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class JurisdictionProperties(BaseModel):
    code: str
    name: str
    level: JurisdictionLevel
    country_code: str
    parent_code: str | None
    version: int
    updated_at: datetime


GEOMETRY_TYPES: dict[str, tuple[str, ...]] = {
    "site": ("Polygon", "MultiPolygon"),
    "licence": ("Polygon", "MultiPolygon"),
    "site_visit": ("Point",),
    "jurisdiction": ("Polygon", "MultiPolygon"),
}

FeatureType = Literal["Feature"]


class Tombstone(BaseModel):
    """What a delete leaves: the record is kept, marked deleted, and leaves lists and devices."""

    id: uuid.UUID
    version: int
    deleted_at: datetime
