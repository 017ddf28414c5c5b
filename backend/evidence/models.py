"""Evidence tables: stored reports (one row per computation, never edited) and overrides."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import uuid7
from backend.types import UTCDateTime


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
