"""Evidence tables: stored reports (one row per computation, never edited) and overrides."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import uuid7
from backend.models_base import Record
from backend.types import ExactDecimal, UTCDateTime


class Verdict:
    """A check's verdict and a report's overall one: the worst of its checks."""

    passed = "pass"
    warn = "warn"
    fail = "fail"
    ORDER = ("pass", "warn", "fail")


class EvidenceReport(SQLModel, table=True):
    """The checks run over one lot's backward trace at one moment.

    `checks` is the list of check results ({id, verdict, sentence, records}); `digest` is the
    SHA-256 of the report's canonical JSON (lot, checks, data_version, computed_at), so a
    certificate can carry it; `data_version` fingerprints the data the checks read, so a report
    whose data changed since says so. Recomputing writes a new row; old rows stay.
    """

    __tablename__ = "evidence_report"
    __table_args__ = (Index("ix_evidence_report_lot_computed", "lot_id", "computed_at"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    lot_id: uuid.UUID = Field(foreign_key="lot.id")
    computed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    computed_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    verdict: str = Field(max_length=8, index=True)
    checks: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    data_version: str = Field(max_length=64)
    digest: str = Field(max_length=64, unique=True)


class EvidenceOverride(SQLModel, table=True):
    """An export-office officer's reasoned decision to proceed despite a failing report."""

    __tablename__ = "evidence_override"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    report_id: uuid.UUID = Field(foreign_key="evidence_report.id", index=True)
    reason: str = Field(max_length=4000)
    decided_by: uuid.UUID = Field(foreign_key="app_user.id")
    decided_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    purpose: str = Field(max_length=64)  # e.g. "certificate:SL-2026-000123"


class CapacityRate(Record, table=True):
    """A region's production rate for the capacity estimate, set by the ministry.

    Capacity of a site over a window = mean diggers counted at its visits x working days in
    the window x `carats_per_digger_day`. Regions without a row use DEFAULT_RATE.
    """

    __tablename__ = "capacity_rate"

    region_code: str = Field(max_length=16, foreign_key="jurisdiction.code", unique=True)
    carats_per_digger_day: Decimal = Field(sa_type=ExactDecimal(10, 4))
    working_days_per_year: int = Field(ge=1, le=366)
    note: str | None = Field(default=None, max_length=2000)


class FootprintProfile(SQLModel, table=True):
    """A region's size-frequency and USD/ct profile, built from recorded purchases on refresh.

    One row per region per refresh (never edited); the newest row of a region is its profile.
    """

    __tablename__ = "footprint_profile"
    __table_args__ = (Index("ix_footprint_profile_region_built", "region_code", "built_at"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    region_code: str = Field(max_length=16, foreign_key="jurisdiction.code")
    built_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    built_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    lots: int = Field(ge=0)
    stones: int = Field(ge=0)
    carats: Decimal = Field(sa_type=ExactDecimal(16, 3))
    usd_value: Decimal = Field(sa_type=ExactDecimal(18, 2))
    size_classes: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON))
