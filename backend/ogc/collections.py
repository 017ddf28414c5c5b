"""The feature collections OGC clients read: what each holds, who sees it, how its rows map.

Each collection builds a SELECT with the registry's or custody's own scoped queries (or the
insight aggregate), restricted by bbox and datetime; the routes add count, order and paging.
Nothing here names a person: licence areas carry no holder, purchase points no miner.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, false, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.auth.models import Role
from backend.auth.principal import Principal
from backend.custody import queries as custody_queries
from backend.custody.models import CustodyEvent, EventKind
from backend.insight import access
from backend.insight.models import Dimension, InsightQuarter
from backend.insight.periods import Period, bounds, key_of
from backend.insight.rules import usd_per_carat
from backend.registry import queries
from backend.registry.models import Jurisdiction, Licence, LicenceKind, Site
from backend.spatial import from_db, intersects_bbox
from geodata.geojson import to_geojson

Interval = tuple[datetime | None, datetime | None]
BBox = tuple[float, float, float, float]
ALL = frozenset(Role)


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    roles: frozenset[Role]
    geometry: str  # the GeoJSON geometry type its features carry
    temporal: str  # the property the datetime filter applies to
    build: Callable[[Session, Principal, BBox | None, Interval], Select[Any]]
    order: Callable[[], list[Any]]
    feature: Callable[[Any], dict[str, Any]]
    # a featureId -> a WHERE clause (None: not a valid id for this collection)
    by_id: Callable[[str], Any | None]
    # numberMatched, where counting `build`'s rows would do needless joins (None: count those)
    count: Callable[[Session, Principal, BBox | None, Interval], Select[Any]] | None = None

    def matched(self, s: Session, p: Principal, bbox: BBox | None, t: Interval) -> Select[Any]:
        if self.count is not None:
            return self.count(s, p, bbox, t)
        return select(func.count()).select_from(self.build(s, p, bbox, t).subquery())


def _geometry(value: Any) -> dict[str, Any] | None:
    shape = from_db(value)
    return None if shape is None else to_geojson(shape)


def _time(column: Any, interval: Interval) -> list[Any]:
    start, end = interval
    out = []
    if start is not None:
        out.append(column >= start)
    if end is not None:
        out.append(column <= end)
    return out


def _uuid_clause(column: Any) -> Callable[[str], Any | None]:
    def clause(raw: str) -> Any | None:
        key = _as_uuid(raw)
        return None if key is None else column == key

    return clause


# --- jurisdictions ------------------------------------------------------------------------------


def _jurisdictions(s: Session, p: Principal, bbox: BBox | None, t: Interval) -> Select[Any]:
    stmt = queries.jurisdictions(queries.Filters(bbox=bbox)).where(
        *_time(col(Jurisdiction.updated_at), t)
    )
    return stmt.with_only_columns(
        col(Jurisdiction.code),
        col(Jurisdiction.name),
        col(Jurisdiction.level),
        col(Jurisdiction.parent_code),
        col(Jurisdiction.country_code),
        col(Jurisdiction.updated_at),
        col(Jurisdiction.boundary),
    )


def _jurisdiction_feature(r: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": r.code,
        "geometry": _geometry(r.boundary),
        "properties": {
            "code": r.code,
            "name": r.name,
            "level": r.level,
            "parent_code": r.parent_code,
            "country_code": r.country_code,
            "updated_at": r.updated_at,
        },
    }


# --- sites --------------------------------------------------------------------------------------


def _sites(s: Session, p: Principal, bbox: BBox | None, t: Interval) -> Select[Any]:
    stmt = queries.sites(p, queries.Filters(bbox=bbox)).where(*_time(col(Site.updated_at), t))
    return stmt.with_only_columns(
        col(Site.id),
        col(Site.name),
        col(Site.district_code),
        col(Site.licence_id),
        col(Site.status),
        col(Site.area_ha),
        col(Site.updated_at),
        col(Site.geometry),
    )


def _site_feature(r: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": str(r.id),
        "geometry": _geometry(r.geometry),
        "properties": {
            "name": r.name,
            "district": r.district_code,
            "licence_id": r.licence_id,
            "licensed": r.licence_id is not None,
            "status": r.status,
            "area_ha": r.area_ha,
            "updated_at": r.updated_at,
        },
    }


# --- licence areas ------------------------------------------------------------------------------


def _licence_areas(s: Session, p: Principal, bbox: BBox | None, t: Interval) -> Select[Any]:
    f = queries.Filters(kind=LicenceKind.artisanal_mining, bbox=bbox)
    stmt = queries.licences(p, f).where(
        col(Licence.area).isnot(None), *_time(col(Licence.updated_at), t)
    )
    result: Select[Any] = stmt.with_only_columns(  # type: ignore[assignment]
        col(Licence.id),
        col(Licence.number),
        col(Licence.district_code),
        col(Licence.status),
        col(Licence.valid_from),
        col(Licence.valid_to),
        col(Licence.area_ha),
        col(Licence.updated_at),
        col(Licence.area),
    )
    return result


def _licence_feature(r: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": str(r.id),
        "geometry": _geometry(r.area),
        "properties": {
            "number": r.number,
            "district": r.district_code,
            "status": r.status,
            "valid_from": r.valid_from,
            "valid_to": r.valid_to,
            "area_ha": r.area_ha,
            "updated_at": r.updated_at,
        },
    }


# --- production aggregates ------------------------------------------------------------------------

Q = InsightQuarter


def _aggregate_time(t: Interval) -> list[Any]:
    """Quarters that overlap the interval, whole: a feature's figures never depend on a filter."""
    start, end = t
    out = []
    if start is not None:
        out.append(col(Q.quarter) >= key_of(start.date(), Period.quarter))
    if end is not None:
        out.append(col(Q.quarter) <= key_of(end.date(), Period.quarter))
    return out


def _measures() -> list[Any]:
    return [
        col(Q.purchases).label("purchases"),
        col(Q.purchased_carats).label("carats"),
        col(Q.purchased_usd).label("usd_value"),
        col(Q.purchased_stones).label("stones"),
        col(Q.produced_carats).label("produced_carats"),
    ]


def _district_scope(p: Principal, column: Any) -> list[Any]:
    if not p.is_district_scoped:
        return []
    return [column.in_(sorted(p.districts)) if p.districts else false()]


def _site_production_count(s: Session, p: Principal, bbox: BBox | None, t: Interval) -> Select[Any]:
    """Every site row of the quarter table has its site: the join is needed for a bbox only."""
    if bbox is not None:
        return select(func.count()).select_from(_site_production(s, p, bbox, t).subquery())
    return select(func.count()).where(
        col(Q.dim) == Dimension.site,
        *_aggregate_time(t),
        *_district_scope(p, col(Q.district_code)),
    )


def _production(
    p: Principal,
    bbox: BBox | None,
    t: Interval,
    dim: Dimension,
    columns: list[Any],
    shape: tuple[Any, Any, Any],
) -> Select[Any]:
    """Quarter rows of one dimension joined to the shape they are drawn on, in scope.

    `shape` is (the model, the join condition, its geometry column)."""
    model, on, geometry = shape
    stmt = (
        select(col(Q.quarter).label("quarter"), *_measures(), *columns)
        .join(model, on)
        .where(col(Q.dim) == dim, *_aggregate_time(t))
        .where(*_district_scope(p, col(Q.district_code)))
    )
    if bbox is not None:
        stmt = stmt.where(intersects_bbox(geometry, bbox))
    return stmt


def _site_production(s: Session, p: Principal, bbox: BBox | None, t: Interval) -> Select[Any]:
    columns: list[Any] = [
        col(Q.key_id).label("site_id"),
        col(Site.name).label("name"),
        col(Site.district_code).label("district"),
        col(Site.geometry).label("geometry"),
    ]
    shape = (Site, col(Site.id) == col(Q.key_id), col(Site.geometry))
    return _production(p, bbox, t, Dimension.site, columns, shape)


def _aggregate_props(r: Any) -> dict[str, Any]:
    start, end = bounds(r.quarter)
    carats, usd = r.carats, r.usd_value
    return {
        "quarter": r.quarter,
        "start": start,
        "end": end,
        "purchases": int(r.purchases or 0),
        "carats": carats,
        "usd_value": usd,
        "stones": int(r.stones or 0),
        "usd_per_carat": usd_per_carat(usd, carats) if carats is not None else None,
        "produced_carats": r.produced_carats,
    }


def _site_production_feature(r: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": f"{r.site_id}_{r.quarter}",
        "geometry": _geometry(r.geometry),
        "properties": {
            "site_id": r.site_id,
            "name": r.name,
            "district": r.district,
            **_aggregate_props(r),
        },
    }


def _pair_clause(
    first: Any, second: Any, parse_first: Callable[[str], Any]
) -> Callable[[str], Any]:
    def clause(raw: str) -> Any | None:
        head, sep, quarter = raw.rpartition("_")
        if not sep:
            return None
        key = parse_first(head)
        if key is None:
            return None
        return and_(first == key, second == quarter)

    return clause


def _as_uuid(raw: str) -> Any:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _district_production(s: Session, p: Principal, bbox: BBox | None, t: Interval) -> Select[Any]:
    columns: list[Any] = [
        col(Q.district_code).label("district"),
        col(Jurisdiction.name).label("name"),
        col(Jurisdiction.boundary).label("geometry"),
    ]
    shape = (
        Jurisdiction,
        col(Jurisdiction.code) == col(Q.district_code),
        col(Jurisdiction.boundary),
    )
    return _production(p, bbox, t, Dimension.district, columns, shape)


def _district_production_feature(r: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": f"{r.district}_{r.quarter}",
        "geometry": _geometry(r.geometry),
        "properties": {"district": r.district, "name": r.name, **_aggregate_props(r)},
    }


# --- purchase points ---------------------------------------------------------------------------


def _purchase_points(s: Session, p: Principal, bbox: BBox | None, t: Interval) -> Select[Any]:
    stmt = custody_queries.events(p, custody_queries.Filters(kind=EventKind.purchase)).where(
        col(CustodyEvent.location).isnot(None), *_time(col(CustodyEvent.occurred_at), t)
    )
    if bbox is not None:
        stmt = stmt.where(intersects_bbox(col(CustodyEvent.location), bbox))
    return stmt.with_only_columns(
        col(CustodyEvent.id),
        col(CustodyEvent.occurred_at),
        col(CustodyEvent.site_id),
        col(CustodyEvent.organisation_id),
        col(CustodyEvent.district_code),
        col(CustodyEvent.usd_value),
        col(CustodyEvent.distance_to_site_m),
        col(CustodyEvent.location),
    )


def _purchase_feature(r: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": str(r.id),
        "geometry": _geometry(r.location),
        "properties": {
            "occurred_at": r.occurred_at,
            "site_id": r.site_id,
            "buyer_organisation_id": r.organisation_id,
            "district": r.district_code,
            "usd_value": r.usd_value,
            "distance_to_site_m": r.distance_to_site_m,
        },
    }


AGGREGATE_ROLES = frozenset(access.COVERAGE)

COLLECTIONS: dict[str, Collection] = {
    c.id: c
    for c in (
        Collection(
            "jurisdictions",
            "Jurisdictions",
            "The country, its regions and districts, with boundaries.",
            ALL,
            "MultiPolygon",
            "updated_at",
            _jurisdictions,
            lambda: [col(Jurisdiction.code)],
            _jurisdiction_feature,
            lambda raw: col(Jurisdiction.code) == raw,
        ),
        Collection(
            "sites",
            "Mining sites",
            "Mapped mining sites, licensed or not, in the reader's scope.",
            ALL,
            "MultiPolygon",
            "updated_at",
            _sites,
            lambda: [col(Site.id)],
            _site_feature,
            _uuid_clause(col(Site.id)),
        ),
        Collection(
            "licence-areas",
            "Licensed mining areas",
            "Areas of artisanal mining licences (no holder is named).",
            ALL,
            "MultiPolygon",
            "updated_at",
            _licence_areas,
            lambda: [col(Licence.id)],
            _licence_feature,
            _uuid_clause(col(Licence.id)),
        ),
        Collection(
            "production-by-site",
            "Purchases and production per site and quarter",
            "Sums from the insight aggregate (refreshed by POST /api/v1/insight/refresh).",
            AGGREGATE_ROLES,
            "MultiPolygon",
            "quarter",
            _site_production,
            lambda: [col(Q.key_id), col(Q.quarter)],
            _site_production_feature,
            _pair_clause(col(Q.key_id), col(Q.quarter), _as_uuid),
            _site_production_count,
        ),
        Collection(
            "production-by-district",
            "Purchases and production per district and quarter",
            "Sums from the insight aggregate (refreshed by POST /api/v1/insight/refresh).",
            AGGREGATE_ROLES,
            "MultiPolygon",
            "quarter",
            _district_production,
            lambda: [col(Q.district_code), col(Q.quarter)],
            _district_production_feature,
            _pair_clause(col(Q.district_code), col(Q.quarter), lambda raw: raw),
        ),
        Collection(
            "purchase-points",
            "Purchase points",
            "Where each purchase took place (no miner is named); not for donors.",
            frozenset(access.PURCHASE_POINTS),
            "Point",
            "occurred_at",
            _purchase_points,
            lambda: [col(CustodyEvent.id)],
            _purchase_feature,
            _uuid_clause(col(CustodyEvent.id)),
        ),
    )
}


def visible(principal: Principal) -> list[Collection]:
    return [c for c in COLLECTIONS.values() if principal.role in c.roles]
