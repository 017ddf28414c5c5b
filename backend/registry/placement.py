"""Where a geometry may lie: inside its country and district, not swapped, not over a neighbour."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.errors import AppError, FieldError, OverlapRefused, field_error, from_geo_error
from backend.registry import lookups, queries
from backend.registry.models import Jurisdiction, JurisdictionLevel
from backend.settings import Settings
from backend.spatial import from_db
from geodata import boundaries, checks, measure
from geodata.errors import GeoError

DISTRICT_POINTER = "/properties/district"


def jurisdiction(session: Session, code: str) -> Jurisdiction | None:
    """A jurisdiction by code, looked up once per session (a request, or a sync batch)."""
    known = lookups.of(session).jurisdictions
    if code not in known:
        known[code] = queries.jurisdiction_by_code(session, code)
    return known[code]


def district_or_422(session: Session, code: str, pointer: str = DISTRICT_POINTER) -> Jurisdiction:
    district = jurisdiction(session, code)
    if district is None or district.level != JurisdictionLevel.district:
        raise field_error(pointer, f"{code} is not a known district code")
    return district


_PREPARED_MAX = 32


class _PreparedBoundaries(threading.local):
    """Per thread, so no lock is needed and no prepared geometry is shared between threads.

    GEOS builds a prepared geometry's indexes lazily on first use, which is not safe to race;
    a thread of its own gets one copy per boundary (a country and a few districts in practice).
    """

    def __init__(self) -> None:
        self.shapes: OrderedDict[tuple[uuid.UUID, int], BaseGeometry | None] = OrderedDict()


_PREPARED = _PreparedBoundaries()


def boundary_of(session: Session, j: Jurisdiction) -> BaseGeometry | None:
    """A jurisdiction's boundary, parsed and prepared once per (id, version) per thread.

    A changed boundary gets a new version, so every thread of every API process reloads it:
    the cache can never disagree with the database. The boundary column is only read on a miss.
    """
    cache = _PREPARED.shapes
    key = (j.id, j.version)
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    shape = from_db(
        session.scalar(select(col(Jurisdiction.boundary)).where(col(Jurisdiction.id) == j.id))
    )
    if shape is not None:
        shapely.prepare(shape)
    cache[key] = shape
    if len(cache) > _PREPARED_MAX:
        cache.popitem(last=False)
    return shape


def country_boundary(session: Session, district: Jurisdiction) -> tuple[str, BaseGeometry | None]:
    country = jurisdiction(session, district.country_code)
    if country is not None and country.level != JurisdictionLevel.country:
        country = None
    shape = boundary_of(session, country) if country is not None else None
    if country is not None and shape is not None:
        return country.name, shape
    return district.country_code, boundaries.country_boundary(district.country_code)


def check_placement(
    session: Session, settings: Settings, geom: BaseGeometry, district: Jurisdiction
) -> None:
    """Refuse swapped coordinates, and anything outside the country or the district."""
    country_name, country = country_boundary(session, district)
    try:
        if country is not None:
            checks.check_not_swapped(geom, country, what=country_name)
            checks.check_within(
                geom, country, what=country_name, tolerance_m=settings.boundary_tolerance_m
            )
        district_shape = boundary_of(session, district)
        if district_shape is not None:
            checks.check_within(
                geom,
                district_shape,
                what=f"district {district.name} ({district.code})",
                tolerance_m=settings.boundary_tolerance_m,
            )
    except GeoError as err:
        raise from_geo_error(err) from err


def placement_problem(
    session: Session, settings: Settings, geom: BaseGeometry, district_code: str
) -> str | None:
    """Why a geometry may not lie where it is (the refusal `check_placement` would make)."""
    district = jurisdiction(session, district_code)
    if district is None or district.level != JurisdictionLevel.district:
        return f"{district_code} is not a known district"
    try:
        check_placement(session, settings, geom, district)
    except AppError as err:
        details = [e.detail for e in getattr(err, "errors", [])]
        return "; ".join(details) or str(err)
    return None


@dataclass(frozen=True)
class Overlap:
    licence_id: uuid.UUID
    number: str
    overlap_ha: Decimal


def overlaps(
    session: Session, settings: Settings, area: BaseGeometry, *, exclude: uuid.UUID | None = None
) -> list[Overlap]:
    """Active mining licences whose area this one overlaps beyond the tolerance."""
    found: list[Overlap] = []
    tolerance_ha = Decimal(settings.overlap_tolerance_ha)
    for other in queries.active_mining_licences_near(session, area.bounds, exclude=exclude):
        other_area = from_db(other.area)
        assert other_area is not None
        ha = measure.overlap_ha(area, other_area)
        share = measure.overlap_share(area, other_area)
        if ha > tolerance_ha and share > settings.overlap_tolerance_share:
            found.append(Overlap(other.id, other.number, ha))
    return found


def refuse_overlaps(found: list[Overlap]) -> None:
    if not found:
        return
    listing = ", ".join(f"{o.number} ({o.overlap_ha} ha)" for o in found)
    raise OverlapRefused(
        f"the licensed area overlaps active licence(s) {listing}; a ministry user may override "
        "with properties.overlap_override_reason",
        errors=[FieldError("/geometry", f"overlaps {listing}")],
        extra={
            "overlaps": [
                {
                    "licence_id": str(o.licence_id),
                    "number": o.number,
                    "overlap_ha": str(o.overlap_ha),
                }
                for o in found
            ]
        },
    )
