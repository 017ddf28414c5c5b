"""Trace: backward from a lot to its sites, miners and purchases; forward from a site or miner.

Origins come from `lot_origin`, kept at write time, so both directions are one index lookup
plus a GROUP BY. Full paths walk event_output → event_input with WITH RECURSIVE. Each lot is
made by exactly one event and used up by at most one, so the ancestry of a lot is a tree and
the recursion never revisits a lot.

Carats attributed to an origin are estimates: each transformation shares its outputs among
its inputs' origins in proportion to their carats (diamonds are not tagged one by one).
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, Uuid, and_, func, literal, or_, select, true
from sqlalchemy.orm import Session, aliased
from sqlmodel import col

from backend.auth.principal import Principal
from backend.custody import queries
from backend.custody.models import CustodyEvent, EventInput, EventKind, EventOutput, Lot, LotOrigin
from backend.errors import NotFound
from backend.registry.models import Miner, Site

ESTIMATE = (
    "carats attributed in proportion to each input's carats at every consolidation, split and "
    "re-weighing since purchase; an estimate, not a measurement"
)
MAX_DEPTH = 1000


def ancestors(lot_id: uuid.UUID) -> Any:
    """WITH RECURSIVE: the lot and every lot that went into it, with the depth of each."""
    eo = aliased(EventOutput)
    ei = aliased(EventInput)
    start = select(literal(lot_id, type_=Uuid()).label("lot_id"), literal(0).label("depth")).cte(
        "ancestors", recursive=True
    )
    step = (
        select(col(ei.lot_id).label("lot_id"), (start.c.depth + 1).label("depth"))
        .select_from(start)
        .join(eo, col(eo.lot_id) == start.c.lot_id)
        .join(ei, col(ei.event_id) == col(eo.event_id))
        .where(start.c.depth < MAX_DEPTH)
    )
    return start.union_all(step)


def descendants(lot_ids: Select[Any]) -> Any:
    """WITH RECURSIVE: these lots and every lot made from them, downstream to export."""
    eo = aliased(EventOutput)
    ei = aliased(EventInput)
    start = (
        select(col(Lot.id).label("lot_id"), literal(0).label("depth"))
        .where(col(Lot.id).in_(lot_ids))
        .cte("descendants", recursive=True)
    )
    step = (
        select(col(eo.lot_id).label("lot_id"), (start.c.depth + 1).label("depth"))
        .select_from(start)
        .join(ei, col(ei.lot_id) == start.c.lot_id)
        .join(eo, col(eo.event_id) == col(ei.event_id))
        .where(start.c.depth < MAX_DEPTH)
    )
    return start.union_all(step)


def path_event_ids(lot_id: uuid.UUID) -> Select[Any]:
    """The events that made the lot and each of its ancestors."""
    tree = ancestors(lot_id)
    return select(col(EventOutput.event_id)).join(tree, tree.c.lot_id == col(EventOutput.lot_id))


def _path(session: Session, principal: Principal, lot_id: uuid.UUID) -> list[dict[str, Any]]:
    tree = ancestors(lot_id)
    rows = session.execute(
        select(
            col(CustodyEvent.id),
            col(CustodyEvent.kind),
            col(CustodyEvent.occurred_at),
            col(CustodyEvent.organisation_id),
            col(CustodyEvent.counterparty_organisation_id),
            tree.c.depth,
        )
        .join(EventOutput, col(EventOutput.event_id) == col(CustodyEvent.id))
        .join(tree, tree.c.lot_id == col(EventOutput.lot_id))
        .order_by(tree.c.depth, col(CustodyEvent.occurred_at))
    ).all()
    # An organisation sees the steps it was a party to; origins are summarised for everyone.
    if principal.is_organisation_scoped:
        org = principal.organisation_id
        rows = [r for r in rows if org in (r[3], r[4])]
    ids = path_event_ids(lot_id)
    ins: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    outs: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for event_id, lid in session.execute(
        select(col(EventInput.event_id), col(EventInput.lot_id)).where(
            col(EventInput.event_id).in_(ids)
        )
    ):
        ins[event_id].append(lid)
    for event_id, lid in session.execute(
        select(col(EventOutput.event_id), col(EventOutput.lot_id)).where(
            col(EventOutput.event_id).in_(ids)
        )
    ):
        outs[event_id].append(lid)
    seen: set[uuid.UUID] = set()
    steps = []
    for event_id, kind, occurred_at, org_id, _, depth in rows:
        if event_id in seen:
            continue
        seen.add(event_id)
        steps.append(
            {
                "event_id": event_id,
                "kind": kind,
                "occurred_at": occurred_at,
                "organisation_id": org_id,
                "inputs": sorted(ins[event_id]),
                "outputs": sorted(outs[event_id]),
                "depth": depth,
            }
        )
    return steps


def _share(part: Decimal, whole: Decimal) -> str:
    return "0" if whole <= 0 else str((part / whole).quantize(Decimal("0.0001")))


def backward(
    session: Session, principal: Principal, lot_id: uuid.UUID, *, with_path: bool
) -> dict[str, Any]:
    """The sites, miners, purchases and production lots behind a lot, ready for JSON.

    Ids in those four lists are canonical text and carats strings, as the API writes them.
    """
    lot = queries.one_lot(session, principal, lot_id)
    if lot is None:
        raise NotFound(f"no lot {lot_id} in your scope")
    # An export parcel has ~10,000 purchases behind it: sums and ids come back as the text the
    # API writes (no Decimal or uuid.UUID per row), origins summed per purchase before the join.
    total = func.sum(LotOrigin.carats_share)
    share = queries.carats_text(session, total)
    text = functools.partial(queries.uuid_text, session)
    db = session.connection()  # Core rows: no ORM loading step for plain columns
    here = col(LotOrigin.lot_id) == lot.id
    sites = db.execute(
        select(text(Site.id), col(Site.name), col(Site.district_code), share)
        .join(LotOrigin, col(LotOrigin.site_id) == col(Site.id))
        .where(here)
        .group_by(col(Site.id), col(Site.name), col(Site.district_code))
        .order_by(total.desc(), col(Site.id))  # by carats, not by their text
    ).all()
    miners = db.execute(
        select(text(Miner.id), col(Miner.full_name), share)
        .join(LotOrigin, col(LotOrigin.miner_id) == col(Miner.id))
        .where(here)
        .group_by(col(Miner.id), col(Miner.full_name))
        .order_by(total.desc(), col(Miner.id))
    ).all()
    production = db.execute(
        select(
            text(LotOrigin.production_lot_id),
            text(LotOrigin.site_id),
            text(LotOrigin.miner_id),
            share,
        )
        .where(here, col(LotOrigin.production_lot_id).isnot(None))
        .group_by(col(LotOrigin.production_lot_id), col(LotOrigin.site_id), col(LotOrigin.miner_id))
    ).all()
    per_purchase = (
        select(col(LotOrigin.purchase_event_id).label("event_id"), share.label("carats"))
        .where(here, col(LotOrigin.purchase_event_id).isnot(None))
        .group_by(col(LotOrigin.purchase_event_id))
        .subquery("per_purchase")
    )
    purchases = db.execute(
        select(
            text(CustodyEvent.id),
            col(CustodyEvent.occurred_at),
            text(CustodyEvent.organisation_id),
            text(CustodyEvent.site_id),
            text(CustodyEvent.miner_id),
            col(CustodyEvent.receipt_number),
            per_purchase.c.carats,
        )
        .join(per_purchase, per_purchase.c.event_id == col(CustodyEvent.id))
        .order_by(col(CustodyEvent.occurred_at), col(CustodyEvent.id))
    )
    # Rows are read 100 at a time so they die young: 10,000 of them held at once outlive a few
    # collections and set off a full one (~60 ms on a loaded app); the dicts built hold only
    # strings and times, which the collector does not track.
    if principal.is_organisation_scoped:
        # Another buyer's name and receipt stay with that buyer.
        own = None if principal.organisation_id is None else str(principal.organisation_id)
        purchase_list = [
            {
                "event_id": eid,
                "occurred_at": at,
                "organisation_id": org if org == own else None,
                "site_id": sid,
                "miner_id": mid,
                "receipt_number": number if org == own else None,
                "carats_estimate": c,
            }
            for rows in purchases.partitions(100)
            for eid, at, org, sid, mid, number, c in rows
        ]
    else:
        purchase_list = [
            {
                "event_id": eid,
                "occurred_at": at,
                "organisation_id": org,
                "site_id": sid,
                "miner_id": mid,
                "receipt_number": number,
                "carats_estimate": c,
            }
            for rows in purchases.partitions(100)
            for eid, at, org, sid, mid, number, c in rows
        ]
    return {
        "lot_id": lot.id,
        "carats": str(lot.carats),
        "estimate": ESTIMATE,
        "sites": [
            {
                "site_id": sid,
                "name": name,
                "district": district,
                "carats_estimate": c,
                "share": _share(Decimal(c), lot.carats),
            }
            for sid, name, district, c in sites
        ],
        "miners": [
            {"miner_id": mid, "full_name": name, "carats_estimate": c} for mid, name, c in miners
        ],
        "purchases": purchase_list,
        "production_lots": [
            {"lot_id": pid, "site_id": sid, "miner_id": mid, "carats_estimate": c}
            for pid, sid, mid, c in production
        ],
        "path": _path(session, principal, lot.id) if with_path else None,
    }


def forward(
    session: Session, principal: Principal, origin: str, origin_id: uuid.UUID
) -> dict[str, Any]:
    """Every lot an origin's carats reached (with the carats attributed), and its exports."""
    if origin == "site":
        if session.get(Site, origin_id) is None:
            raise NotFound(f"no site {origin_id}")
        where = col(LotOrigin.site_id) == origin_id
    else:
        if session.get(Miner, origin_id) is None:
            raise NotFound(f"no miner {origin_id}")
        where = col(LotOrigin.miner_id) == origin_id
    if queries.sees_all_lots(principal):
        visible: Any = true()
        in_scope = where
    else:
        scoped = queries.lots(principal, queries.Filters()).with_only_columns(col(Lot.id))
        visible = col(Lot.id).in_(scoped)
        in_scope = and_(where, col(LotOrigin.lot_id).in_(scoped))
    share = func.sum(LotOrigin.carats_share)
    reached = session.execute(
        select(
            col(Lot.id),
            col(Lot.tag),
            col(Lot.status),
            col(Lot.holder_organisation_id),
            col(Lot.carats),
            share,
        )
        .join(LotOrigin, col(LotOrigin.lot_id) == col(Lot.id))
        .where(where, visible)
        .group_by(
            col(Lot.id),
            col(Lot.tag),
            col(Lot.status),
            col(Lot.holder_organisation_id),
            col(Lot.carats),
        )
        .order_by(col(Lot.id))
    ).all()
    exported = session.execute(
        select(
            col(EventInput.lot_id),
            col(CustodyEvent.id),
            col(CustodyEvent.occurred_at),
            col(CustodyEvent.container_id),
            col(Lot.container_id),
        )
        .join(
            CustodyEvent,
            and_(
                col(CustodyEvent.id) == col(EventInput.event_id),
                col(CustodyEvent.kind) == EventKind.export,
            ),
        )
        .join(Lot, col(Lot.id) == col(EventInput.lot_id))
        .where(col(EventInput.lot_id).in_(select(col(LotOrigin.lot_id)).where(in_scope)))
        .order_by(col(CustodyEvent.occurred_at))
    ).all()
    by_lot = {r[0]: Decimal(r[5]) for r in reached}
    return {
        "origin": origin,
        "origin_id": origin_id,
        "estimate": ESTIMATE,
        "lots": [
            {
                "lot_id": lid,
                "tag": tag,
                "status": status,
                "holder_organisation_id": holder,
                "carats": str(c),
                "carats_estimate": str(Decimal(s)),
            }
            for lid, tag, status, holder, c, s in reached
        ],
        "exports": [
            {
                "lot_id": lid,
                "export_event_id": eid,
                "exported_at": at,
                "container_id": lot_container or container,
                "carats_estimate": str(by_lot.get(lid, Decimal("0.000"))),
            }
            for lid, eid, at, container, lot_container in exported
        ],
    }


def lot_events(
    session: Session, principal: Principal, lot_id: uuid.UUID, *, upstream: bool
) -> list[CustodyEvent]:
    """Events that took in or brought out the lot (upstream: or any lot behind it)."""
    stmt = queries.events(principal, queries.Filters(lot_id=lot_id))
    if upstream:
        tree = select(ancestors(lot_id).c.lot_id)
        stmt = queries.events(principal, queries.Filters()).where(
            or_(
                col(CustodyEvent.id).in_(
                    select(col(EventInput.event_id)).where(col(EventInput.lot_id).in_(tree))
                ),
                col(CustodyEvent.id).in_(
                    select(col(EventOutput.event_id)).where(col(EventOutput.lot_id).in_(tree))
                ),
            )
        )
    return list(session.scalars(stmt.order_by(col(CustodyEvent.occurred_at), col(CustodyEvent.id))))
