"""Custody tables: lots, append-only events with their inputs and outputs, origins, stock takes.

Every table is plain columns with no server-side defaults, so a COPY-based generator can fill
them directly; the hash chain (`chain_id`, `chain_seq`, `prev_hash`, `hash`) is the only thing
such a generator has to compute the way `rules.event_hash` does.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from backend.ids import uuid7
from backend.models_base import Record
from backend.types import ExactDecimal, UTCDateTime

CARATS = ExactDecimal(14, 3)
USD = ExactDecimal(16, 2)


class LotStatus(StrEnum):
    active = "active"
    in_transit = "in_transit"  # dispatched by a transfer, not yet accepted by the receiver
    consumed = "consumed"
    sealed = "sealed"
    exported = "exported"
    void = "void"


class EventKind(StrEnum):
    produce = "produce"
    purchase = "purchase"
    consolidate = "consolidate"
    split_ = "split"  # a member named `split` would shadow str.split
    transfer = "transfer"
    accept = "accept"
    reweigh = "reweigh"
    value = "value"
    seal = "seal"
    export = "export"
    void = "void"


class Lot(Record, table=True):
    """An amount of rough diamonds that moves as one. Created by exactly one event."""

    __tablename__ = "lot"

    tag: str = Field(max_length=64, index=True)
    carats: Decimal = Field(sa_type=CARATS)
    stone_count: int = Field(ge=0)
    size_classes: dict[str, int] | None = Field(default=None, sa_column=Column(JSON))
    holder_organisation_id: uuid.UUID | None = Field(
        default=None, foreign_key="organisation.id", index=True
    )
    holder_miner_id: uuid.UUID | None = Field(default=None, foreign_key="miner.id", index=True)
    status: str = Field(default=LotStatus.active, max_length=16, index=True)
    country_code: str = Field(max_length=2, index=True)
    created_by_event_id: uuid.UUID = Field(foreign_key="custody_event.id", index=True)
    container_id: str | None = Field(default=None, max_length=64, index=True)
    usd_value: Decimal | None = Field(default=None, sa_type=USD)


class CustodyEvent(Record, table=True):
    """One custody event, never edited: a correction is a new event pointing at this one.

    `chain_id` is the holder whose hash chain the event extends: the acting organisation, or
    for `produce` the miner. `hash` = SHA-256 of the event's canonical JSON including
    `prev_hash`, the previous event's hash in the same chain.
    """

    __tablename__ = "custody_event"
    __table_args__ = (
        UniqueConstraint("chain_id", "chain_seq", name="uq_custody_event_chain_seq"),
        UniqueConstraint("chain_id", "receipt_number", name="uq_custody_event_receipt"),
        Index("ix_custody_event_chain_occurred", "chain_id", "occurred_at"),
    )

    kind: str = Field(max_length=16, index=True)
    occurred_at: datetime = Field(sa_type=UTCDateTime, index=True)
    device_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    recorded_by: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    device_id: str | None = Field(default=None, max_length=64)
    country_code: str = Field(max_length=2, index=True)
    district_code: str | None = Field(
        default=None, max_length=16, foreign_key="jurisdiction.code", index=True
    )
    chain_id: uuid.UUID = Field(index=True)
    chain_seq: int = Field(ge=1)
    organisation_id: uuid.UUID | None = Field(
        default=None, foreign_key="organisation.id", index=True
    )
    organisation_licence_id: uuid.UUID | None = Field(default=None, foreign_key="licence.id")
    counterparty_organisation_id: uuid.UUID | None = Field(
        default=None, foreign_key="organisation.id", index=True
    )
    counterparty_licence_id: uuid.UUID | None = Field(default=None, foreign_key="licence.id")
    site_id: uuid.UUID | None = Field(default=None, foreign_key="site.id", index=True)
    miner_id: uuid.UUID | None = Field(default=None, foreign_key="miner.id", index=True)
    miner_licence_id: uuid.UUID | None = Field(default=None, foreign_key="licence.id")
    location: Any = Field(
        default=None,
        sa_column=Column(Geometry("POINT", srid=4326, spatial_index=True), nullable=True),
    )
    place: str | None = Field(default=None, max_length=200)
    distance_to_site_m: Decimal | None = Field(default=None, sa_type=ExactDecimal(12, 1))
    price: Decimal | None = Field(default=None, sa_type=USD)
    currency: str | None = Field(default=None, max_length=3)
    usd_value: Decimal | None = Field(default=None, sa_type=USD)
    receipt_number: str | None = Field(default=None, max_length=64)
    container_id: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=2000)
    breakage_declared: bool = Field(default=False)
    corrects_event_id: uuid.UUID | None = Field(
        default=None, foreign_key="custody_event.id", index=True
    )
    accepts_event_id: uuid.UUID | None = Field(
        default=None, foreign_key="custody_event.id", unique=True
    )
    flags: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str = Field(max_length=64, unique=True)


class EventInput(SQLModel, table=True):
    """A lot an event takes in; `consumed` marks the one event that used the lot up."""

    __tablename__ = "event_input"
    __table_args__ = (
        UniqueConstraint("event_id", "lot_id", name="uq_event_input_event_lot"),
        # The database itself refuses a second consumption of a lot, whatever the code does.
        Index(
            "uq_event_input_consumed_once",
            "lot_id",
            unique=True,
            postgresql_where=text("consumed"),
            sqlite_where=text("consumed"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    event_id: uuid.UUID = Field(foreign_key="custody_event.id", index=True)
    lot_id: uuid.UUID = Field(foreign_key="lot.id", index=True)
    carats: Decimal = Field(sa_type=CARATS)
    stone_count: int = Field(ge=0)
    consumed: bool


class EventOutput(SQLModel, table=True):
    """A lot an event brings into being (each lot is the output of exactly one event)."""

    __tablename__ = "event_output"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    event_id: uuid.UUID = Field(foreign_key="custody_event.id", index=True)
    lot_id: uuid.UUID = Field(foreign_key="lot.id", unique=True)
    carats: Decimal = Field(sa_type=CARATS)
    stone_count: int = Field(ge=0)


class LotOrigin(SQLModel, table=True):
    """Where a lot's carats came from, kept at write time: an estimate by proportional share.

    One row per (lot, site, miner, purchase, production lot) with the carats attributed to it;
    so "which sites feed this parcel" is one index lookup on `lot_id`, and the forward trace
    of a site or miner one lookup on `site_id` or `miner_id`.
    """

    __tablename__ = "lot_origin"
    __table_args__ = (
        # (origin, lot): a forward trace reads the lots an origin reached from the index alone.
        Index("ix_lot_origin_site_lot", "site_id", "lot_id"),
        Index("ix_lot_origin_miner_lot", "miner_id", "lot_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    lot_id: uuid.UUID = Field(foreign_key="lot.id", index=True)
    site_id: uuid.UUID | None = Field(default=None, foreign_key="site.id")
    miner_id: uuid.UUID | None = Field(default=None, foreign_key="miner.id")
    purchase_event_id: uuid.UUID | None = Field(
        default=None, foreign_key="custody_event.id", index=True
    )
    production_lot_id: uuid.UUID | None = Field(default=None, foreign_key="lot.id")
    carats_share: Decimal = Field(sa_type=CARATS)


class StockTake(Record, table=True):
    """A physical count of an organisation's stock, reconciled against its book balance."""

    __tablename__ = "stock_take"

    organisation_id: uuid.UUID = Field(foreign_key="organisation.id", index=True)
    counted_at: datetime = Field(sa_type=UTCDateTime, index=True)
    counted_carats: Decimal = Field(sa_type=CARATS)
    counted_stones: int | None = Field(default=None, ge=0)
    recorded_by: uuid.UUID = Field(foreign_key="app_user.id")
    device_id: str | None = Field(default=None, max_length=64)
    notes: str | None = Field(default=None, max_length=2000)
