"""How custody records reach devices: lots to their holder, events to the parties' scopes."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend import changes
from backend.changes import Presented, Syncable, district, miner, organisation
from backend.custody.models import CustodyEvent, Lot
from backend.custody.views import events_public, lot_public


def _lots(session: Session, rows: list[Lot]) -> list[Presented]:
    return [
        (
            organisation(lot.holder_organisation_id)
            if lot.holder_organisation_id
            else miner(lot.holder_miner_id),
            lot_public(lot),
        )
        for lot in rows
    ]


def _events(session: Session, rows: list[CustodyEvent]) -> list[Presented]:
    return [
        (
            organisation(e.organisation_id)
            if e.organisation_id
            else district(e.district_code or ""),
            data,
        )
        for e, data in zip(rows, events_public(session, rows), strict=True)
    ]


def install() -> None:
    changes.register(Lot, Syncable("lot", _lots))
    changes.register(CustodyEvent, Syncable("custody_event", _events))


install()
