"""Insight tables: the monthly purchase and production aggregate, its refresh, inspection tasks."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from backend.models_base import Record
from backend.types import ExactDecimal, UTCDateTime

CARATS = ExactDecimal(14, 3)
USD = ExactDecimal(16, 2)


class Dimension(StrEnum):
    site = "site"  # key_id is a site; licence_id its licence at refresh time
    buyer = "buyer"  # key_id is the buying organisation; district_code the purchase's
    district = "district"  # no key_id: the site rows summed per district and month


class InsightStat(SQLModel, table=True):
    """Purchases and production summed per (dimension key, district, month).

    Rebuilt whole by `aggregates.refresh` (an explicit action, on both databases), so the
    statistics and returns read a few hundred thousand rows instead of millions of events.
    """

    __tablename__ = "insight_stat"
    __table_args__ = (
        Index("ix_insight_stat_dim_month", "dim", "month"),
        Index("ix_insight_stat_dim_district_month", "dim", "district_code", "month"),
        Index("ix_insight_stat_dim_key", "dim", "key_id"),
        Index("ix_insight_stat_dim_licence", "dim", "licence_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dim: str = Field(max_length=8)
    key_id: uuid.UUID | None = None
    district_code: str | None = Field(default=None, max_length=16)
    licence_id: uuid.UUID | None = Field(default=None)
    month: str = Field(max_length=7)  # 2026-03
    quarter: str = Field(max_length=7)  # 2026-Q1
    half: str = Field(max_length=7)  # 2026-H1
    purchases: int = 0
    purchased_carats: Decimal = Field(default=Decimal(0), sa_type=CARATS)
    purchased_usd: Decimal = Field(default=Decimal(0), sa_type=USD)
    purchased_stones: int = 0
    flagged_purchases: int = 0
    purchases_inside_licensed: int = 0
    productions: int = 0
    produced_carats: Decimal = Field(default=Decimal(0), sa_type=CARATS)
    produced_stones: int = 0


class InsightQuarter(SQLModel, table=True):
    """The site and district rows of `insight_stat` summed per quarter, for the map layers.

    An OGC items page of production per site and quarter reads these rows in key order, so a
    page and its `numberMatched` never group hundreds of thousands of monthly rows. Rebuilt by
    the same refresh, from `insight_stat`.
    """

    __tablename__ = "insight_quarter"
    __table_args__ = (
        Index("ix_insight_quarter_dim_key_quarter", "dim", "key_id", "quarter"),
        Index("ix_insight_quarter_dim_district_quarter", "dim", "district_code", "quarter"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dim: str = Field(max_length=8)  # site | district
    key_id: uuid.UUID | None = None  # the site; none for district rows
    district_code: str | None = Field(default=None, max_length=16)
    quarter: str = Field(max_length=7)
    purchases: int = 0
    purchased_carats: Decimal = Field(default=Decimal(0), sa_type=CARATS)
    purchased_usd: Decimal = Field(default=Decimal(0), sa_type=USD)
    purchased_stones: int = 0
    produced_carats: Decimal = Field(default=Decimal(0), sa_type=CARATS)


class InsightRefresh(SQLModel, table=True):
    """When the aggregates were last rebuilt, and how many rows that made."""

    __tablename__ = "insight_refresh"

    id: int = Field(default=1, primary_key=True)
    refreshed_at: datetime = Field(sa_type=UTCDateTime)
    stat_rows: int
    seconds: Decimal = Field(sa_type=ExactDecimal(10, 3))


class TaskStatus(StrEnum):
    open = "open"
    closed = "closed"


class InspectionTask(Record, table=True):
    """A spot check chosen by risk: a site or buyer for a field officer to visit, with reasons.

    Closed by the first visit recorded for its site after it was issued (see `tasks.py`).
    """

    __tablename__ = "inspection_task"

    district_code: str = Field(max_length=16, foreign_key="jurisdiction.code", index=True)
    site_id: uuid.UUID | None = Field(default=None, foreign_key="site.id", index=True)
    organisation_id: uuid.UUID | None = Field(default=None, foreign_key="organisation.id")
    officer_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id", index=True)
    score: Decimal = Field(sa_type=ExactDecimal(10, 2))
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    status: str = Field(default=TaskStatus.open, max_length=16, index=True)
    issued_at: datetime = Field(sa_type=UTCDateTime)
    issued_by: uuid.UUID = Field(foreign_key="app_user.id")
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_by_visit_id: uuid.UUID | None = Field(default=None, foreign_key="site_visit.id")
