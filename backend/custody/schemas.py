"""Custody API shapes: one request model per event kind, discriminated by `kind`; public views.

Carats and money travel as strings (or JSON numbers on the way in) and are exact Decimals
inside; carats to 0.001 ct, money to 0.01.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, RootModel

from backend.api.fields import AwareDatetime, Count
from backend.custody.models import EventKind, LotStatus
from backend.errors import FieldError, ValidationFailed

Carats = Annotated[Decimal, Field(gt=0, max_digits=11, decimal_places=3, description="carats")]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Tag = Annotated[str, Field(min_length=1, max_length=64)]
Reason = Annotated[str, Field(min_length=3, max_length=2000)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PointIn(Strict):
    type: Literal["Point"]
    coordinates: tuple[
        Annotated[float, Field(ge=-180, le=180)], Annotated[float, Field(ge=-90, le=90)]
    ] = Field(description="[longitude, latitude], WGS 84")


class LotOut(Strict):
    """A lot an event brings into being."""

    id: uuid.UUID | None = Field(default=None, description="a device-made UUID is kept")
    tag: Tag = Field(description="tag or seal number written on the parcel")
    carats: Carats
    stone_count: Annotated[int, Field(ge=1, le=1_000_000)]
    size_classes: dict[Annotated[str, Field(max_length=16)], Count] | None = Field(
        default=None, max_length=50, description="stones per sieve class; sums to stones"
    )


class EventBase(Strict):
    id: uuid.UUID | None = Field(default=None, description="a device-made UUID is kept")
    occurred_at: AwareDatetime = Field(description="when it happened (UTC or with an offset)")
    device_time: AwareDatetime | None = Field(
        default=None, description="the recording device's clock at the time, kept as sent"
    )
    place: Annotated[str, Field(max_length=200)] | None = None
    location: PointIn | None = None
    reason: Reason | None = Field(
        default=None, description="why: a loss above tolerance, breakage, a correction"
    )
    corrects_event_id: uuid.UUID | None = Field(
        default=None, description="the event this one corrects (nothing is edited in place)"
    )
    organisation_id: uuid.UUID | None = Field(
        default=None,
        description="the acting organisation; buyers and exporters act for their own only",
    )


class ProduceIn(EventBase):
    """Production at a site by a miner: new lots held by the miner."""

    kind: Literal["produce"]
    site_id: uuid.UUID
    miner_id: uuid.UUID
    outputs: list[LotOut] = Field(min_length=1, max_length=100)


class PurchaseIn(EventBase):
    """A licensed buyer buys from a miner: a new lot held by the buyer."""

    kind: Literal["purchase"]
    site_id: uuid.UUID = Field(description="the site the seller says the stones come from")
    miner_id: uuid.UUID
    production_lot_id: uuid.UUID | None = Field(
        default=None, description="the miner's production lot, if it was recorded"
    )
    output: LotOut
    price: Money
    currency: Currency
    usd_value: Money
    receipt_number: Annotated[str, Field(min_length=1, max_length=64)]
    location: PointIn = Field(description="GPS point where the purchase took place")


class ConsolidateIn(EventBase):
    kind: Literal["consolidate"]
    inputs: list[uuid.UUID] = Field(min_length=2, max_length=10_000)
    output: LotOut
    breakage_declared: bool = False


class SplitIn(EventBase):
    kind: Literal["split"]
    lot_id: uuid.UUID
    outputs: list[LotOut] = Field(min_length=2, max_length=1000)
    breakage_declared: bool = False


class TransferIn(EventBase):
    """Dispatch to an exporter; custody passes when the receiver records `accept`."""

    kind: Literal["transfer"]
    lot_id: uuid.UUID
    to_organisation_id: uuid.UUID


class AcceptIn(EventBase):
    """The receiver accepts a pending transfer, with its own weighing of the lot."""

    kind: Literal["accept"]
    transfer_event_id: uuid.UUID
    output: LotOut
    breakage_declared: bool = False


class ReweighIn(EventBase):
    kind: Literal["reweigh"]
    lot_id: uuid.UUID
    output: LotOut
    breakage_declared: bool = False


class ValueIn(EventBase):
    kind: Literal["value"]
    lot_id: uuid.UUID
    usd_value: Money


class SealIn(EventBase):
    kind: Literal["seal"]
    lot_id: uuid.UUID
    container_id: Annotated[str, Field(min_length=1, max_length=64)]


class ExportIn(EventBase):
    kind: Literal["export"]
    lot_id: uuid.UUID


class VoidIn(EventBase):
    """Withdraw a lot recorded in error; names the event it corrects and why."""

    kind: Literal["void"]
    lot_id: uuid.UUID
    corrects_event_id: uuid.UUID
    reason: Reason


AnyEventIn = (
    ProduceIn
    | PurchaseIn
    | ConsolidateIn
    | SplitIn
    | TransferIn
    | AcceptIn
    | ReweighIn
    | ValueIn
    | SealIn
    | ExportIn
    | VoidIn
)


class CustodyEventIn(RootModel[Annotated[AnyEventIn, Field(discriminator="kind")]]):
    """One custody event; `kind` selects its shape."""


class LotOpenIn(RootModel[Annotated[ProduceIn | PurchaseIn, Field(discriminator="kind")]]):
    """A produce or purchase event: the two ways a lot comes into being."""


def parse_event(model: type[CustodyEventIn] | type[LotOpenIn], data: Any) -> AnyEventIn:
    """Validate an event body; every error names its field by a pointer from the body's root."""
    if not isinstance(data, dict):
        raise ValidationFailed(
            "a JSON object is required", errors=[FieldError("", "expected a JSON object")]
        )
    try:
        parsed: AnyEventIn = model.model_validate(data).root
        return parsed
    except pydantic.ValidationError as err:
        kinds = {k.value for k in EventKind}
        errors = []
        for e in err.errors():
            loc = list(e["loc"])
            if loc and loc[0] in kinds:
                loc = loc[1:]  # the discriminator's tag, not a field of the body
            if e["type"] in ("union_tag_not_found", "union_tag_invalid"):
                loc = ["kind"]
            pointer = "".join("/" + str(p) for p in loc)
            errors.append(FieldError(pointer, str(e["msg"]).removeprefix("Value error, ")))
        summary = "; ".join(f"{fe.field}: {fe.detail}" for fe in errors)
        raise ValidationFailed(summary, errors=errors) from err


# --- what leaves ------------------------------------------------------------------------------


class Flag(BaseModel):
    code: str
    detail: str


class EventLot(BaseModel):
    lot_id: uuid.UUID
    carats: str
    stone_count: int
    consumed: bool | None = Field(default=None, description="inputs only: used up by this event")


class PointOut(BaseModel):
    type: Literal["Point"]
    coordinates: list[float]


class EventPublic(BaseModel):
    id: uuid.UUID
    kind: EventKind
    occurred_at: datetime
    device_time: datetime | None
    recorded_at: datetime
    recorded_by: uuid.UUID
    device_id: str | None
    country_code: str
    district: str | None
    chain_id: uuid.UUID
    chain_seq: int
    organisation_id: uuid.UUID | None
    organisation_licence_id: uuid.UUID | None
    counterparty_organisation_id: uuid.UUID | None
    counterparty_licence_id: uuid.UUID | None
    site_id: uuid.UUID | None
    miner_id: uuid.UUID | None
    miner_licence_id: uuid.UUID | None
    location: PointOut | None
    place: str | None
    distance_to_site_m: str | None
    price: str | None
    currency: str | None
    usd_value: str | None
    receipt_number: str | None
    container_id: str | None
    reason: str | None
    breakage_declared: bool
    corrects_event_id: uuid.UUID | None
    accepts_event_id: uuid.UUID | None
    flags: list[Flag]
    inputs: list[EventLot]
    outputs: list[EventLot]
    prev_hash: str | None
    hash: str


class EventsPublic(BaseModel):
    items: list[EventPublic]
    next_cursor: str | None


class LotPublic(BaseModel):
    id: uuid.UUID
    tag: str
    carats: str
    stone_count: int
    size_classes: dict[str, int] | None
    holder_organisation_id: uuid.UUID | None
    holder_miner_id: uuid.UUID | None
    status: LotStatus
    country_code: str
    created_by_event_id: uuid.UUID
    container_id: str | None
    usd_value: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class LotsPublic(BaseModel):
    items: list[LotPublic]
    next_cursor: str | None


class LotsOpened(BaseModel):
    event: EventPublic
    lots: list[LotPublic]


# --- trace ------------------------------------------------------------------------------------


class SiteShare(BaseModel):
    site_id: uuid.UUID
    name: str | None
    district: str | None
    carats_estimate: str
    share: str = Field(description="fraction of the lot's carats, an estimate")


class MinerShare(BaseModel):
    miner_id: uuid.UUID
    full_name: str | None
    carats_estimate: str


class PurchaseShare(BaseModel):
    event_id: uuid.UUID
    occurred_at: datetime
    organisation_id: uuid.UUID | None
    site_id: uuid.UUID | None
    miner_id: uuid.UUID | None
    receipt_number: str | None = Field(description="withheld outside the buyer's own trade")
    carats_estimate: str


class ProductionShare(BaseModel):
    lot_id: uuid.UUID
    site_id: uuid.UUID | None
    miner_id: uuid.UUID | None
    carats_estimate: str


class PathStep(BaseModel):
    event_id: uuid.UUID
    kind: EventKind
    occurred_at: datetime
    organisation_id: uuid.UUID | None
    inputs: list[uuid.UUID]
    outputs: list[uuid.UUID]
    depth: int


class BackwardTrace(BaseModel):
    lot_id: uuid.UUID
    carats: str
    estimate: str = Field(description="how the attributed carats were computed")
    sites: list[SiteShare]
    miners: list[MinerShare]
    purchases: list[PurchaseShare]
    production_lots: list[ProductionShare]
    path: list[PathStep] | None


class ReachedLot(BaseModel):
    lot_id: uuid.UUID
    tag: str
    status: LotStatus
    holder_organisation_id: uuid.UUID | None
    carats: str
    carats_estimate: str = Field(description="carats of this lot attributed to the origin")


class ReachedExport(BaseModel):
    lot_id: uuid.UUID
    export_event_id: uuid.UUID
    exported_at: datetime
    container_id: str | None
    carats_estimate: str


class ForwardTrace(BaseModel):
    origin: Literal["site", "miner"]
    origin_id: uuid.UUID
    estimate: str
    lots: list[ReachedLot]
    exports: list[ReachedExport]


# --- balances and stock takes -----------------------------------------------------------------


class StockTakeIn(Strict):
    id: uuid.UUID | None = None
    organisation_id: uuid.UUID | None = Field(
        default=None, description="buyers and exporters count their own stock"
    )
    counted_at: AwareDatetime
    counted_carats: Annotated[Decimal, Field(ge=0, max_digits=11, decimal_places=3)]
    counted_stones: Count | None = None
    notes: Annotated[str, Field(max_length=2000)] | None = None


class StockTakePublic(BaseModel):
    id: uuid.UUID
    organisation_id: uuid.UUID
    counted_at: datetime
    counted_carats: str
    counted_stones: int | None
    book_carats: str = Field(description="the book stock at counted_at, from custody events")
    difference: str = Field(description="counted minus book")
    notes: str | None
    recorded_by: uuid.UUID
    version: int
    created_at: datetime


class BalancePublic(BaseModel):
    organisation_id: uuid.UUID
    period_from: datetime | None
    period_to: datetime
    opening: str
    received: str
    dispatched: str
    losses: str = Field(description="inputs minus outputs of transformations (reweigh, …)")
    voided: str
    closing: str
    on_hand: str = Field(description="active and sealed lots held now")
    stock_takes: list[StockTakePublic]


class ChainBreakPublic(BaseModel):
    event_id: uuid.UUID
    chain_seq: int
    problem: str


class ChainVerification(BaseModel):
    chain_id: uuid.UUID
    events_checked: int
    intact: bool
    breaks: list[ChainBreakPublic]


class EpcisDocument(BaseModel):
    """EPCIS 2.0 JSON-LD: an EPCISDocument whose epcisBody.eventList holds the lot's events."""

    model_config = ConfigDict(populate_by_name=True)

    context: list[Any] = Field(alias="@context")
    type: Literal["EPCISDocument"]
    schemaVersion: str
    creationDate: str
    epcisBody: dict[str, Any]
