"""Production statistics from the monthly aggregate: by district, site, licence or buyer and period.

Each role's scope is a WHERE clause: officers their districts, buyers and exporters their own
organisation (buyer rows only), donors district and site totals (no licence holder, no buyer).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, false, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.auth.models import Role
from backend.auth.principal import Principal
from backend.errors import Forbidden
from backend.insight import rules
from backend.insight.models import Dimension, InsightStat
from backend.insight.periods import Period, bounds, days_in, period_sql
from backend.registry.models import Jurisdiction, Licence, Organisation, Site, SiteVisit

S = InsightStat


class By(StrEnum):
    district = "district"
    site = "site"
    licence = "licence"
    buyer = "buyer"


ALLOWED_BY = {
    Role.donor: {By.district, By.site},
    Role.field_officer: {By.district, By.site, By.licence},
    Role.buyer: {By.buyer},
    Role.exporter: {By.buyer},
}


@dataclass(frozen=True)
class Query:
    by: By
    period: Period
    start: str | None = None  # first period key, inclusive
    end: str | None = None  # last period key, inclusive
    district: str | None = None


def _period_column(period: Period) -> Any:
    return {Period.month: col(S.month), Period.quarter: col(S.quarter), Period.half: col(S.half)}[
        period
    ]


def _scoped(stmt: Select[Any], principal: Principal, by: By) -> Select[Any]:
    allowed = ALLOWED_BY.get(principal.role)
    if allowed is not None and by not in allowed:
        raise Forbidden(
            f"the {principal.role.value} role may not read statistics by {by.value}"
            f" (allowed: {', '.join(sorted(allowed))})"
        )
    if principal.is_district_scoped:
        districts = sorted(principal.districts)
        stmt = stmt.where(col(S.district_code).in_(districts) if districts else false())
    if principal.is_organisation_scoped:
        stmt = stmt.where(col(S.key_id) == principal.organisation_id)
    return stmt


def _key(by: By) -> Any:
    return {
        By.district: col(S.district_code),
        By.site: col(S.key_id),
        By.licence: col(S.licence_id),
        By.buyer: col(S.key_id),
    }[by]


def _filtered(stmt: Select[Any], principal: Principal, q: Query) -> Select[Any]:
    """The dimension, the district, the periods and the reader's scope."""
    dim = {By.district: Dimension.district, By.buyer: Dimension.buyer}.get(q.by, Dimension.site)
    stmt = stmt.where(col(S.dim) == dim)
    if q.by is By.licence:
        stmt = stmt.where(col(S.licence_id).isnot(None))
    if q.district is not None:
        stmt = stmt.where(col(S.district_code) == q.district)
    if q.start is not None:
        stmt = stmt.where(col(S.month) >= bounds(q.start)[0].strftime("%Y-%m"))
    if q.end is not None:
        stmt = stmt.where(col(S.month) < bounds(q.end)[1].strftime("%Y-%m"))
    return _scoped(stmt, principal, q.by)


def statement(principal: Principal, q: Query, keys: list[Any] | None = None) -> Select[Any]:
    """Sums per (key, period); only the given keys when a page names them."""
    period = _period_column(q.period)
    key = _key(q.by)
    stmt = (
        select(
            key.label("key"),
            period.label("period"),
            func.sum(col(S.purchases)),
            func.sum(col(S.purchased_carats)),
            func.sum(col(S.purchased_usd)),
            func.sum(col(S.purchased_stones)),
            func.sum(col(S.flagged_purchases)),
            func.sum(col(S.purchases_inside_licensed)),
            func.sum(col(S.productions)),
            func.sum(col(S.produced_carats)),
        )
        .group_by(key, period)
        .order_by(key, period)
    )
    if keys is not None:
        stmt = stmt.where(key.in_(keys))
    return _filtered(stmt, principal, q)


# A page is a run of keys (sites, licences, buyers or districts) in key order, each with all its
# periods. Its cursor is the last key as 16 bytes: a UUID, or a district code (at most 16
# characters) padded with NULs (backend.api.pagination signs it).


def key_as_cursor(by: By, key: Any) -> uuid.UUID:
    if by is By.district:
        return uuid.UUID(bytes=str(key).encode().ljust(16, b"\0"))
    return uuid.UUID(str(key))


def key_from_cursor(by: By, after: uuid.UUID) -> Any:
    return after.bytes.rstrip(b"\0").decode() if by is By.district else after


def page_keys(
    session: Session, principal: Principal, q: Query, limit: int, after: Any | None
) -> tuple[list[Any], bool]:
    """The next `limit` keys after `after`, in order, and whether more follow."""
    key = _key(q.by)
    stmt = _filtered(select(key).where(key.isnot(None)), principal, q)
    if after is not None:
        stmt = stmt.where(key > after)
    found = list(session.scalars(stmt.group_by(key).order_by(key).limit(limit + 1)))
    return found[:limit], len(found) > limit


def _sum_type(session: Session, value: Any, scale: int) -> Decimal:
    """A SUM of an ExactDecimal column (typed by its argument, so already a Decimal)."""
    quantum = Decimal(1).scaleb(-scale)
    return Decimal(0).quantize(quantum) if value is None else Decimal(value).quantize(quantum)


def _labels(session: Session, by: By, keys: set[Any]) -> dict[Any, str]:
    keys.discard(None)
    if not keys:
        return {}
    if by is By.district:
        rows = session.execute(
            select(col(Jurisdiction.code), col(Jurisdiction.name)).where(
                col(Jurisdiction.code).in_(keys)
            )
        )
    elif by is By.site:
        rows = session.execute(select(col(Site.id), col(Site.name)).where(col(Site.id).in_(keys)))
    elif by is By.licence:
        rows = session.execute(
            select(col(Licence.id), col(Licence.number)).where(col(Licence.id).in_(keys))
        )
    else:
        rows = session.execute(
            select(col(Organisation.id), col(Organisation.name)).where(
                col(Organisation.id).in_(keys)
            )
        )
    return {k: v for k, v in rows}


def capacities(
    session: Session, site_ids: set[uuid.UUID], period: Period, districts: set[str]
) -> dict[tuple[Any, str], Decimal]:
    """Mean diggers counted at visits per (site, period), for the capacity estimate."""
    if not site_ids and not districts:
        return {}
    pkey = period_sql(session, col(SiteVisit.visited_at), period)
    stmt = (
        select(
            col(SiteVisit.site_id),
            col(SiteVisit.district_code),
            pkey.label("p"),
            func.avg(col(SiteVisit.diggers_counted)),
        )
        .where(col(SiteVisit.deleted_at).is_(None))
        .group_by(col(SiteVisit.site_id), col(SiteVisit.district_code), pkey)
    )
    if site_ids:
        stmt = stmt.where(col(SiteVisit.site_id).in_(site_ids))
    else:
        stmt = stmt.where(col(SiteVisit.district_code).in_(districts))
    out: dict[tuple[Any, str], Decimal] = {}
    for site_id, district, p, mean in session.execute(stmt):
        cap = rules.capacity(Decimal(str(mean)), days_in(p))
        assert cap is not None
        out[(site_id, p)] = cap
        if not site_ids:
            out[(district, p)] = out.get((district, p), Decimal(0)) + cap
    return out


def run(
    session: Session, principal: Principal, q: Query, keys: list[Any] | None = None
) -> list[dict[str, Any]]:
    """Every (key, period) row, or those of the given keys (one page)."""
    if keys is not None and not keys:
        return []
    rows = session.execute(statement(principal, q, keys)).all()
    labels = _labels(session, q.by, {r[0] for r in rows})
    caps: dict[tuple[Any, str], Decimal] = {}
    if q.by is By.site:
        caps = capacities(session, {r[0] for r in rows}, q.period, set())
    elif q.by is By.district:
        caps = capacities(session, set(), q.period, {r[0] for r in rows if r[0]})
    out = []
    for key, period, n, carats, usd, stones, flagged, inside, productions, produced in rows:
        carats = _sum_type(session, carats, 3)
        usd = _sum_type(session, usd, 2)
        produced = _sum_type(session, produced, 3)
        item: dict[str, Any] = {
            q.by.value: str(key) if key is not None else None,
            "name": labels.get(key),
            "period": period,
            "purchases": int(n or 0),
            "carats": carats,
            "usd_value": usd,
            "stones": int(stones or 0),
            "usd_per_carat": rules.usd_per_carat(usd, carats),
            "flagged_purchases": int(flagged or 0),
            "purchases_inside_licensed_site": int(inside or 0),
            "productions": int(productions or 0),
            "produced_carats": produced,
            "purchased_over_produced": rules.share(carats, produced) if produced else None,
        }
        if q.by in (By.site, By.district):
            cap = caps.get((key, period))
            item["capacity_carats"] = cap
            item["purchased_over_capacity"] = rules.share(carats, cap) if cap else None
        out.append(item)
    return out
