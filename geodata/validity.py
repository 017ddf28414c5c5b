"""Shapely validity of parsed geometries, turned into errors that say where the fault is."""

from __future__ import annotations

import re

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from geodata.errors import GeoError, InvalidGeometry, SelfIntersection, TooFewPoints

_REASON = re.compile(r"^(?P<what>[^\[]+)\[(?P<x>\S+) (?P<y>\S+)\]")
_NEAR = 1e-9


def check_valid(geom: BaseGeometry, *, pointer: str = "/geometry") -> None:
    """Raise a GeoError naming the fault and its location if shapely finds geom invalid."""
    if shapely.is_valid(geom):
        return
    reason = str(shapely.is_valid_reason(geom))
    match = _REASON.match(reason)
    if match is None:
        raise InvalidGeometry(f"invalid geometry: {reason}", pointer=f"{pointer}/coordinates")
    what = match["what"].strip()
    x, y = float(match["x"]), float(match["y"])
    where = f"{pointer}/coordinates{_ring_at(geom, Point(x, y))}"
    at = f"at ({x:.7g}, {y:.7g})"
    error: type[GeoError]
    if what in ("Self-intersection", "Ring Self-intersection"):
        error, detail = SelfIntersection, f"the outline crosses itself {at}"
    elif what.startswith("Too few points"):
        error, detail = TooFewPoints, f"a ring has too few distinct points {at}"
    else:
        error, detail = InvalidGeometry, f"invalid geometry: {what} {at}"
    raise error(detail, pointer=where)


def _ring_at(geom: BaseGeometry, point: Point) -> str:
    """The pointer suffix of the first ring passing through point, or "" if none does."""
    polygons: list[Polygon]
    if isinstance(geom, Polygon):
        polygons, prefix = [geom], False
    elif isinstance(geom, MultiPolygon):
        polygons, prefix = list(geom.geoms), True
    else:
        return ""
    for p, polygon in enumerate(polygons):
        rings = [polygon.exterior, *polygon.interiors]
        for r, ring in enumerate(rings):
            if ring.distance(point) <= _NEAR:
                return f"/{p}/{r}" if prefix else f"/{r}"
    return ""
