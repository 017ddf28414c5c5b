"""Non-reporters: licensed buyers and exporters with no custody records, mining licences with no
recorded production, in N days; and per quarter, the habitual ones a ministry publishes.

Only licence numbers, organisation names and districts leave: never a miner's name.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.auth.principal import Principal
from backend.clock import as_utc
from backend.custody.models import CustodyEvent, EventKind, StockTake
from backend.insight.periods import Period, bounds, key_of, period_sql
from backend.registry.models import Licence, LicenceKind, LicenceStatus, Organisation, Site

TRADE_KINDS = (LicenceKind.buyer, LicenceKind.exporter)


def _valid(now: datetime) -> list[Any]:
    today = now.date()
    return [
        col(Licence.status) == LicenceStatus.active,
        col(Licence.valid_from) <= today,
        col(Licence.valid_to) >= today,
    ]


def traders(session: Session, *, now: datetime, days: int) -> list[dict[str, Any]]:
    """Licensed buyers and exporters whose last custody event or stock take is older than N days."""
    last_event = (
        select(
            col(CustodyEvent.organisation_id).label("org"),
            func.max(col(CustodyEvent.occurred_at)).label("at"),
        )
        .where(col(CustodyEvent.organisation_id).isnot(None))
        .group_by(col(CustodyEvent.organisation_id))
        .subquery()
    )
    last_take = (
        select(
            col(StockTake.organisation_id).label("org"),
            func.max(col(StockTake.counted_at)).label("at"),
        )
        .group_by(col(StockTake.organisation_id))
        .subquery()
    )
    rows = session.execute(
        select(
            col(Licence.number),
            col(Licence.kind),
            col(Organisation.id),
            col(Organisation.name),
            col(Organisation.district_code),
            last_event.c.at,
            last_take.c.at,
        )
        .join(Organisation, col(Organisation.id) == col(Licence.holder_organisation_id))
        .outerjoin(last_event, last_event.c.org == col(Organisation.id))
        .outerjoin(last_take, last_take.c.org == col(Organisation.id))
        .where(col(Licence.kind).in_(TRADE_KINDS), *_valid(now))
        .order_by(col(Organisation.name), col(Licence.number))
    )
    cutoff = now - timedelta(days=days)
    out = []
    for number, kind, org_id, name, district, ev_at, take_at in rows:
        last = max((t for t in (ev_at, take_at) if t is not None), default=None)
        last = None if last is None else as_utc(last)
        if last is None or last < cutoff:
            out.append(
                {
                    "licence_number": number,
                    "kind": kind,
                    "organisation_id": org_id,
                    "organisation": name,
                    "district": district,
                    "last_record_at": last,
                    "days": days,
                }
            )
    return out


def mining_licences(
    session: Session, principal: Principal, *, now: datetime, days: int
) -> list[dict[str, Any]]:
    """Valid mining licences with no production recorded at their sites (or by licence) lately."""
    site_produce = (
        select(
            col(Site.licence_id).label("lic"), func.max(col(CustodyEvent.occurred_at)).label("at")
        )
        .join(CustodyEvent, col(CustodyEvent.site_id) == col(Site.id))
        .where(col(CustodyEvent.kind) == EventKind.produce, col(Site.licence_id).isnot(None))
        .group_by(col(Site.licence_id))
        .subquery()
    )
    stmt = (
        select(col(Licence.id), col(Licence.number), col(Licence.district_code), site_produce.c.at)
        .outerjoin(site_produce, site_produce.c.lic == col(Licence.id))
        .where(col(Licence.kind) == LicenceKind.artisanal_mining, *_valid(now))
        .order_by(col(Licence.district_code), col(Licence.number))
    )
    if principal.is_district_scoped:
        districts = sorted(principal.districts)
        stmt = stmt.where(col(Licence.district_code).in_(districts) if districts else false())
    cutoff = now - timedelta(days=days)
    out = []
    for lic_id, number, district, at in session.execute(stmt):
        last = None if at is None else as_utc(at)
        if last is None or last < cutoff:
            out.append(
                {
                    "licence_id": lic_id,
                    "licence_number": number,
                    "district": district,
                    "last_production_at": last,
                    "days": days,
                }
            )
    return out


def habitual(
    session: Session, *, now: datetime, quarters: int, threshold: int
) -> list[dict[str, Any]]:
    """Licensed traders silent in at least `threshold` of the last `quarters` complete quarters."""
    current = key_of(now.date(), Period.quarter)
    year, q = int(current[:4]), int(current[-1])
    keys: list[str] = []
    for _ in range(quarters):
        q -= 1
        if q == 0:
            year, q = year - 1, 4
        keys.append(f"{year}-Q{q}")
    keys.reverse()
    pkey = period_sql(session, col(CustodyEvent.occurred_at), Period.quarter)
    active = {
        (org, p)
        for org, p in session.execute(
            select(col(CustodyEvent.organisation_id), pkey)
            .where(col(CustodyEvent.organisation_id).isnot(None))
            .where(col(CustodyEvent.occurred_at) >= bounds(keys[0])[0])
            .group_by(col(CustodyEvent.organisation_id), pkey)
        )
    }
    rows = session.execute(
        select(col(Organisation.id), col(Organisation.name), col(Licence.number), col(Licence.kind))
        .join(Licence, col(Licence.holder_organisation_id) == col(Organisation.id))
        .where(col(Licence.kind).in_(TRADE_KINDS), *_valid(now))
        .order_by(col(Organisation.name))
    )
    out = []
    for org_id, name, number, kind in rows:
        silent = [k for k in keys if (org_id, k) not in active]
        if len(silent) >= threshold:
            out.append(
                {
                    "organisation_id": org_id,
                    "organisation": name,
                    "licence_number": number,
                    "kind": kind,
                    "quarters": keys,
                    "silent_quarters": silent,
                }
            )
    return out
