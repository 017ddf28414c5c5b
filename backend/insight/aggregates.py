"""The monthly aggregate behind statistics and returns: rebuilt from custody by one action.

`refresh` replaces every `insight_stat` row with sums over custody events (purchases per site
and per buyer, production per site) in four INSERT … SELECT statements, on both databases, and
then the per-quarter site and district rows of `insight_quarter` from those.
The rows are derived data, so they are replaced rather than versioned; the action itself is
audited and stamped in `insight_refresh`.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    select,
    text,
)
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.audit.service import record
from backend.auth.principal import Principal
from backend.clock import utcnow
from backend.custody.models import CustodyEvent, EventKind, EventOutput
from backend.insight.access import SUPERVISORS, require_role
from backend.insight.models import Dimension, InsightQuarter, InsightRefresh, InsightStat
from backend.insight.periods import half_of_month_sql, month_sql, quarter_of_month_sql
from backend.registry.models import Licence, LicenceStatus, Site
from backend.usecase import use_case

MEASURES = (
    "purchases",
    "purchased_carats",
    "purchased_usd",
    "purchased_stones",
    "flagged_purchases",
    "purchases_inside_licensed",
    "productions",
    "produced_carats",
    "produced_stones",
)


def _flagged() -> Any:
    text = func.coalesce(cast(col(CustodyEvent.flags), String), "[]")
    return func.sum(func.cast(text.not_in(["[]", "null"]), Integer))


def _inside_licensed() -> Any:
    inside = and_(
        col(CustodyEvent.distance_to_site_m) == Decimal(0),
        col(Licence.status) == LicenceStatus.active,
    )
    return func.sum(func.cast(inside, Integer))


def _purchase_select(session: Session, dim: Dimension) -> Any:
    ev = CustodyEvent
    month = month_sql(session, col(ev.occurred_at)).label("month")
    base = (
        select()
        .select_from(ev)
        .join(EventOutput, col(EventOutput.event_id) == col(ev.id))
        .join(Site, col(Site.id) == col(ev.site_id))
        .outerjoin(Licence, col(Licence.id) == col(Site.licence_id))
        .where(col(ev.kind) == EventKind.purchase)
    )
    if dim is Dimension.site:
        keys: list[Any] = [col(ev.site_id), col(Site.district_code), col(Site.licence_id)]
    else:
        keys = [col(ev.organisation_id), col(ev.district_code), null()]
    sub = base.add_columns(
        literal(dim.value).label("dim"),
        keys[0].label("key_id"),
        keys[1].label("district_code"),
        keys[2].label("licence_id"),
        month,
        func.count().label("purchases"),
        func.coalesce(func.sum(col(EventOutput.carats)), 0).label("purchased_carats"),
        func.coalesce(func.sum(col(ev.usd_value)), 0).label("purchased_usd"),
        func.coalesce(func.sum(col(EventOutput.stone_count)), 0).label("purchased_stones"),
        func.coalesce(_flagged(), 0).label("flagged_purchases"),
        func.coalesce(_inside_licensed(), 0).label("purchases_inside_licensed"),
        literal(0).label("productions"),
        literal(0).label("produced_carats"),
        literal(0).label("produced_stones"),
    )
    sub = sub.add_columns(_quarter(month), _half(month)).group_by(*keys[:2], month)
    if dim is Dimension.site:
        sub = sub.group_by(keys[2])
    if dim is Dimension.buyer:
        sub = sub.where(col(ev.organisation_id).isnot(None))
    return sub


def _production_select(session: Session) -> Any:
    ev = CustodyEvent
    month = month_sql(session, col(ev.occurred_at)).label("month")
    return (
        select(
            literal(Dimension.site.value).label("dim"),
            col(ev.site_id).label("key_id"),
            col(Site.district_code).label("district_code"),
            col(Site.licence_id).label("licence_id"),
            month,
            literal(0).label("purchases"),
            literal(0).label("purchased_carats"),
            literal(0).label("purchased_usd"),
            literal(0).label("purchased_stones"),
            literal(0).label("flagged_purchases"),
            literal(0).label("purchases_inside_licensed"),
            func.count(func.distinct(col(ev.id))).label("productions"),
            func.coalesce(func.sum(col(EventOutput.carats)), 0).label("produced_carats"),
            func.coalesce(func.sum(col(EventOutput.stone_count)), 0).label("produced_stones"),
            _quarter(month),
            _half(month),
        )
        .select_from(ev)
        .join(EventOutput, col(EventOutput.event_id) == col(ev.id))
        .join(Site, col(Site.id) == col(ev.site_id))
        .where(col(ev.kind) == EventKind.produce)
        .group_by(col(ev.site_id), col(Site.district_code), col(Site.licence_id), month)
    )


COLUMNS = ("dim", "key_id", "district_code", "licence_id", "month", *MEASURES, "quarter", "half")


def _quarter(month: Any) -> Any:
    return quarter_of_month_sql(month).label("quarter")


def _half(month: Any) -> Any:
    return half_of_month_sql(month).label("half")


def rebuild(session: Session) -> int:
    """Replace the aggregate rows; returns how many there are now (no commit)."""
    session.execute(delete(InsightStat))
    table = InsightStat.__table__  # type: ignore[attr-defined]
    for stmt in (
        _purchase_select(session, Dimension.site),
        _purchase_select(session, Dimension.buyer),
        _production_select(session),
    ):
        session.execute(insert(table).from_select(list(COLUMNS), stmt))
    # District rows: a few hundred, so district figures and KP production never scan site rows.
    S = InsightStat
    by_district = (
        select(
            literal(Dimension.district.value),
            null(),
            col(S.district_code),
            null(),
            col(S.month),
            *[func.sum(getattr(S, m)) for m in MEASURES],
            col(S.quarter),
            col(S.half),
        )
        .where(col(S.dim) == Dimension.site)
        .group_by(col(S.district_code), col(S.month), col(S.quarter), col(S.half))
    )
    session.execute(insert(table).from_select(list(COLUMNS), by_district))
    _rebuild_quarters(session)
    if session.get_bind().dialect.name == "postgresql":
        # Every row was replaced: the planner's row counts would be those of the last refresh.
        session.execute(text("ANALYZE insight_stat, insight_quarter"))
    return int(session.scalar(select(func.count()).select_from(table)) or 0)


QUARTER_MEASURES = (
    "purchases",
    "purchased_carats",
    "purchased_usd",
    "purchased_stones",
    "produced_carats",
)


def _rebuild_quarters(session: Session) -> None:
    """Site and district rows summed per quarter (`InsightQuarter`), from the monthly rows."""
    S = InsightStat
    session.execute(delete(InsightQuarter))
    per_quarter = (
        select(
            col(S.dim),
            col(S.key_id),
            col(S.district_code),
            col(S.quarter),
            *[func.sum(getattr(S, m)) for m in QUARTER_MEASURES],
        )
        .where(col(S.dim).in_([Dimension.site, Dimension.district]))
        .group_by(col(S.dim), col(S.key_id), col(S.district_code), col(S.quarter))
    )
    columns = ["dim", "key_id", "district_code", "quarter", *QUARTER_MEASURES]
    session.execute(
        insert(InsightQuarter.__table__).from_select(columns, per_quarter)  # type: ignore[attr-defined]
    )


@use_case
def refresh(*, session: Session, principal: Principal) -> InsightRefresh:
    require_role(principal, SUPERVISORS, "refresh the insight aggregates")
    started = time.perf_counter()
    rows = rebuild(session)
    seconds = Decimal(str(round(time.perf_counter() - started, 3)))
    stamp = session.get(InsightRefresh, 1)
    before = None
    if stamp is None:
        stamp = InsightRefresh(id=1, refreshed_at=utcnow(), stat_rows=rows, seconds=seconds)
        session.add(stamp)
    else:
        before = {"refreshed_at": stamp.refreshed_at, "stat_rows": stamp.stat_rows}
        stamp.refreshed_at, stamp.stat_rows, stamp.seconds = utcnow(), rows, seconds
    session.flush()
    record(
        session=session,
        principal=principal,
        action="refresh",
        entity_type="insight_stat",
        entity_id="insight_stat",
        before=before,
        after={"refreshed_at": stamp.refreshed_at, "stat_rows": rows},
    )
    session.commit()
    return stamp


def last_refresh(session: Session) -> InsightRefresh | None:
    return session.get(InsightRefresh, 1)
