"""Evidence request and response bodies, as /openapi.json describes them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CheckPublic(BaseModel):
    id: str = Field(description="stable id: licences, sites, purchase_points, custody, ...")
    verdict: str = Field(description="pass, warn or fail")
    sentence: str
    records: list[str] = Field(description="ids of the records the check concerns")
    measures: dict[str, Any] | None = None


class OverridePublic(BaseModel):
    id: uuid.UUID
    reason: str
    decided_by: uuid.UUID
    decided_at: datetime
    purpose: str


class ReportPublic(BaseModel):
    id: uuid.UUID
    lot_id: uuid.UUID
    lot_tag: str
    computed_at: datetime
    computed_by: uuid.UUID | None
    verdict: str = Field(description="the worst verdict of the checks")
    current: bool = Field(description="false when the data the checks read has changed since")
    data_version: str
    digest: str = Field(description="SHA-256 of the report's canonical JSON")
    checks: list[CheckPublic]
    overrides: list[OverridePublic]


class RateIn(Strict):
    carats_per_digger_day: Annotated[Decimal, Field(gt=0, le=10, max_digits=10, decimal_places=4)]
    working_days_per_year: Annotated[int, Field(ge=1, le=366)]
    note: Annotated[str, Field(max_length=2000)] | None = None
    version: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="the version read; omit (or 0) when the region has none stored"
    )


class RatePublic(BaseModel):
    region_code: str
    region_name: str
    carats_per_digger_day: str
    working_days_per_year: int
    note: str | None
    default: bool = Field(description="true when no rate is stored and the default applies")
    version: int


class RatesPublic(BaseModel):
    items: list[RatePublic]


class ProfilePublic(BaseModel):
    region_code: str
    built_at: datetime | None
    lots: int
    stones: int
    carats: str
    usd_per_carat: str | None
    size_classes: dict[str, int]


class ProfilesPublic(BaseModel):
    items: list[ProfilePublic]
