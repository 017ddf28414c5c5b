"""How lots, events and stock takes leave the server: Decimals as strings, points as GeoJSON."""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from backend.custody import queries
from backend.custody.models import CustodyEvent, EventInput, EventOutput, Lot, StockTake
from backend.custody.schemas import EventPublic, LotPublic, StockTakePublic
from backend.spatial import from_db
from geodata.geojson import to_geojson


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def lot_public(lot: Lot) -> dict[str, Any]:
    return LotPublic(
        id=lot.id,
        tag=lot.tag,
        carats=str(lot.carats),
        stone_count=lot.stone_count,
        size_classes=lot.size_classes,
        holder_organisation_id=lot.holder_organisation_id,
        holder_miner_id=lot.holder_miner_id,
        status=lot.status,
        country_code=lot.country_code,
        created_by_event_id=lot.created_by_event_id,
        container_id=lot.container_id,
        usd_value=_str(lot.usd_value),
        version=lot.version,
        created_at=lot.created_at,
        updated_at=lot.updated_at,
    ).model_dump()


def event_public(
    e: CustodyEvent, inputs: Sequence[EventInput], outputs: Sequence[EventOutput]
) -> dict[str, Any]:
    shape = from_db(e.location)
    return EventPublic.model_validate(
        {
            "id": e.id,
            "kind": e.kind,
            "occurred_at": e.occurred_at,
            "device_time": e.device_time,
            "recorded_at": e.created_at,
            "recorded_by": e.recorded_by,
            "device_id": e.device_id,
            "country_code": e.country_code,
            "district": e.district_code,
            "chain_id": e.chain_id,
            "chain_seq": e.chain_seq,
            "organisation_id": e.organisation_id,
            "organisation_licence_id": e.organisation_licence_id,
            "counterparty_organisation_id": e.counterparty_organisation_id,
            "counterparty_licence_id": e.counterparty_licence_id,
            "site_id": e.site_id,
            "miner_id": e.miner_id,
            "miner_licence_id": e.miner_licence_id,
            "location": None if shape is None else to_geojson(shape),
            "place": e.place,
            "distance_to_site_m": _str(e.distance_to_site_m),
            "price": _str(e.price),
            "currency": e.currency,
            "usd_value": _str(e.usd_value),
            "receipt_number": e.receipt_number,
            "container_id": e.container_id,
            "reason": e.reason,
            "breakage_declared": e.breakage_declared,
            "corrects_event_id": e.corrects_event_id,
            "accepts_event_id": e.accepts_event_id,
            "flags": e.flags or [],
            "inputs": [
                {
                    "lot_id": i.lot_id,
                    "carats": str(i.carats),
                    "stone_count": i.stone_count,
                    "consumed": i.consumed,
                }
                for i in inputs
            ],
            "outputs": [
                {"lot_id": o.lot_id, "carats": str(o.carats), "stone_count": o.stone_count}
                for o in outputs
            ],
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        }
    ).model_dump()


Lines = tuple[list[EventInput], list[EventOutput]]
# An event's lines never change once written, and its hash seals them: within one session
# (one request) they are read once, though a new event is shown twice (feed and answer).
_LINES: weakref.WeakKeyDictionary[Session, dict[tuple[uuid.UUID, str], Lines]] = (
    weakref.WeakKeyDictionary()
)


def remember_lines(
    session: Session, event: CustodyEvent, inputs: list[EventInput], outputs: list[EventOutput]
) -> None:
    """The lines of an event this session just wrote, in the order `lines_of` reads them."""
    _LINES.setdefault(session, {})[(event.id, event.hash)] = (
        sorted(inputs, key=lambda line: line.id),
        sorted(outputs, key=lambda line: line.id),
    )


def events_public(session: Session, rows: Sequence[CustodyEvent]) -> list[dict[str, Any]]:
    memo = _LINES.setdefault(session, {})
    missing = [e.id for e in rows if (e.id, e.hash) not in memo]
    if missing:
        ins, outs = queries.lines_of(session, missing)
        for e in rows:
            memo.setdefault((e.id, e.hash), (ins[e.id], outs[e.id]))
    return [event_public(e, *memo[(e.id, e.hash)]) for e in rows]


def stock_take_public(row: StockTake, book: Decimal) -> dict[str, Any]:
    return StockTakePublic(
        id=row.id,
        organisation_id=row.organisation_id,
        counted_at=row.counted_at,
        counted_carats=str(row.counted_carats),
        counted_stones=row.counted_stones,
        book_carats=str(book),
        difference=str(row.counted_carats - book),
        notes=row.notes,
        recorded_by=row.recorded_by,
        version=row.version,
        created_at=row.created_at,
    ).model_dump()
