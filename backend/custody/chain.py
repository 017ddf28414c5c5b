"""Hash chains per holder: the hash of an event as stored, and verification of a whole chain."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

from shapely.geometry import Point
from sqlalchemy.orm import Session

from backend.custody import queries
from backend.custody.models import CustodyEvent, EventInput, EventOutput, Lot
from backend.custody.rules import (
    HASHED_EVENT_FIELDS,
    ChainBreak,
    ChainLink,
    event_hash,
    event_payload,
    verify_chain,
)
from backend.spatial import from_db


def _location(event: CustodyEvent) -> tuple[float, float] | None:
    value = event.location
    if value is None:
        return None
    shape = value if isinstance(value, Point) else from_db(value)
    assert isinstance(shape, Point)
    return (float(shape.x), float(shape.y))


def compute_hash(
    event: CustodyEvent,
    inputs: Sequence[EventInput],
    outputs: Sequence[EventOutput],
    lots: dict[uuid.UUID, Lot],
    location: tuple[float, float] | None = None,
) -> str:
    """SHA-256 of the event's canonical JSON, its inputs, its outputs and its prev_hash."""
    fields = {name: getattr(event, name) for name in HASHED_EVENT_FIELDS}
    payload = event_payload(
        fields,
        location if location is not None else _location(event),
        [(i.lot_id, i.carats, i.stone_count, i.consumed) for i in inputs],
        [
            (o.lot_id, lots[o.lot_id].tag, o.carats, o.stone_count, lots[o.lot_id].size_classes)
            for o in outputs
        ],
        event.prev_hash,
    )
    return event_hash(payload)


def _links(session: Session, chain_id: uuid.UUID, batch: int = 500) -> Iterator[ChainLink]:
    page: list[CustodyEvent] = []

    def flush(rows: list[CustodyEvent]) -> Iterator[ChainLink]:
        ids = [e.id for e in rows]
        ins = queries.inputs_of(session, ids)
        outs = queries.outputs_of(session, ids)
        lots = queries.lots_by_id(session, [o.lot_id for e in rows for o in outs[e.id]])
        for e in rows:
            yield ChainLink(
                event_id=e.id,
                seq=e.chain_seq,
                prev_hash=e.prev_hash,
                stored_hash=e.hash,
                recomputed_hash=compute_hash(e, ins[e.id], outs[e.id], lots),
            )

    for event in queries.chain_events(session, chain_id, batch):
        page.append(event)
        if len(page) >= batch:
            yield from flush(page)
            page = []
    if page:
        yield from flush(page)


def verify(session: Session, chain_id: uuid.UUID) -> tuple[int, list[ChainBreak]]:
    """Recompute every hash of the chain from the stored rows and check the links."""
    return verify_chain(_links(session, chain_id))
