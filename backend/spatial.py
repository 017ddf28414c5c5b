"""The database side of geometry: WKB in and out, and the few spatial SQL expressions we use.

Everything dialect-specific about spatial SQL lives here, so features never branch on PostGIS
versus SpatiaLite themselves.
"""

from __future__ import annotations

import struct
from typing import Any

import shapely
from geoalchemy2.elements import WKBElement
from geoalchemy2.shape import to_shape
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, func

SRID = 4326


# EWKB of a 2-D point with its SRID: byte order (little-endian), type (1, with the SRID flag),
# SRID, x, y. Packed directly: shapely's general writer costs ten times more for the commonest
# shape written (a visit's point).
_EWKB_POINT = struct.Struct("<BIIdd")
_WKB_SRID_FLAG = 0x20000000


def _ewkb(geom: BaseGeometry) -> bytes:
    """`geom` as EWKB carrying SRID 4326, the bytes PostGIS's own `ST_AsEWKB` gives."""
    if isinstance(geom, Point) and not geom.has_z and not geom.is_empty:
        return _EWKB_POINT.pack(1, 1 | _WKB_SRID_FLAG, SRID, geom.x, geom.y)
    return bytes(shapely.to_wkb(shapely.set_srid(geom, SRID), include_srid=True))


class _MadeWKB(WKBElement):
    """EWKB made here from a shape, which it keeps: `from_db` hands the shape back instead of
    parsing the WKB again (a new visit's point is read for its audit entry and its feed row).

    Extended (the SRID inside), so PostgreSQL is sent its hex as it is, exact to the last bit;
    plain WKB was sent as WKT, which GeoAlchemy2 makes by parsing the WKB again and which
    rounds the last digit of some coordinates. SpatiaLite is still sent WKT (GeoAlchemy2's
    only way there)."""

    __slots__ = ("shape",)

    def __init__(self, geom: BaseGeometry) -> None:
        super().__init__(_ewkb(geom), srid=SRID, extended=True)
        self.shape = geom


def to_db(geom: BaseGeometry) -> Any:
    return _MadeWKB(geom)


def from_db(value: Any) -> BaseGeometry | None:
    if value is None:
        return None
    if isinstance(value, _MadeWKB):
        return value.shape  # shapes are immutable: the one it was made from
    return to_shape(value)


def as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    raise TypeError(f"expected a polygon, got {geom.geom_type}")


def simplest(geom: BaseGeometry) -> BaseGeometry:
    """A one-part MultiPolygon leaves as the Polygon it was most likely sent as."""
    if isinstance(geom, MultiPolygon) and len(geom.geoms) == 1:
        return geom.geoms[0]
    return geom


def intersects_bbox(column: Any, bbox: tuple[float, float, float, float]) -> ColumnElement[bool]:
    """`column` intersects the lon/lat box (PostGIS answers a boolean, SpatiaLite 1/0: both
    work as a WHERE clause). PostGIS uses its GiST index for this; SpatiaLite scans, which is
    fine at district-office scale."""
    minx, miny, maxx, maxy = bbox
    envelope = func.ST_GeomFromText(
        f"POLYGON(({minx} {miny},{maxx} {miny},{maxx} {maxy},{minx} {maxy},{minx} {miny}))", SRID
    )
    return func.ST_Intersects(column, envelope)
