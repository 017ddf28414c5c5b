"""GeoJSON (RFC 7946) in and out: parsing with pointed errors, writing with RFC winding."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import numpy as np
from shapely.geometry import (
    GeometryCollection,
    LineString,
    MultiLineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
    mapping,
)
from shapely.geometry.base import BaseGeometry

from geodata.errors import (
    CoordinateOutOfRange,
    MalformedGeoJSON,
    TooFewPoints,
    TooManyVertices,
    UnclosedRing,
    UnsupportedCRS,
    WrongGeometryType,
)
from geodata.validity import check_valid

DECIMALS = 7
WGS84_NAMES = frozenset(
    name.lower()
    for name in (
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "urn:ogc:def:crs:OGC::CRS84",
        "EPSG:4326",
        "urn:ogc:def:crs:EPSG::4326",
        "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
        "http://www.opengis.net/def/crs/EPSG/0/4326",
    )
)
# how many array levels lie above a position, per geometry type
_DEPTH = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}

Position = tuple[float, float]


def parse_geometry(
    obj: object,
    *,
    allowed: Collection[str],
    max_vertices: int = 5000,
    pointer: str = "/geometry",
) -> BaseGeometry:
    """A 2D shapely geometry from a GeoJSON geometry object, or a GeoError saying where not."""
    if not isinstance(obj, dict):
        raise MalformedGeoJSON("a GeoJSON geometry must be an object", pointer=pointer)
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise MalformedGeoJSON("a geometry needs a string 'type'", pointer=f"{pointer}/type")
    if kind in _DEPTH and "coordinates" not in obj:
        raise MalformedGeoJSON(f"a {kind} needs 'coordinates'", pointer=f"{pointer}/coordinates")
    if "crs" in obj:
        check_crs(obj["crs"], pointer=f"{pointer}/crs")
    if kind not in allowed or kind not in _DEPTH:
        expected = ", ".join(sorted(t for t in allowed if t in _DEPTH)) or "none"
        raise WrongGeometryType(
            f"geometry type {kind!r} is not accepted here; expected one of: {expected}",
            pointer=f"{pointer}/type",
        )
    where = f"{pointer}/coordinates"
    coords = _arrays(obj["coordinates"], _DEPTH[kind], where)
    _check_ranges(coords, _DEPTH[kind], where)
    _check_shape(kind, coords, where)
    vertices = _count(coords, _DEPTH[kind])
    if vertices > max_vertices:
        raise TooManyVertices(
            f"the geometry has {vertices} vertices; at most {max_vertices} are allowed",
            pointer=where,
        )
    geom = _build(kind, coords)
    check_valid(geom, pointer=pointer)
    return geom


def parse_feature(
    obj: object,
    *,
    allowed: Collection[str],
    max_vertices: int = 5000,
    geometry_required: bool = True,
) -> tuple[BaseGeometry | None, dict[str, object]]:
    """The geometry and properties of a GeoJSON Feature; a missing "properties" reads as {}."""
    if not isinstance(obj, dict):
        raise MalformedGeoJSON("a GeoJSON Feature must be an object", pointer="")
    if obj.get("type") != "Feature":
        raise MalformedGeoJSON('expected an object with "type": "Feature"', pointer="/type")
    if "crs" in obj:
        check_crs(obj["crs"], pointer="/crs")
    properties = obj.get("properties")
    if properties is None:
        properties = {}
    elif not isinstance(properties, dict):
        raise MalformedGeoJSON("'properties' must be an object or null", pointer="/properties")
    raw = obj.get("geometry")
    if raw is None:
        if geometry_required:
            raise MalformedGeoJSON("this feature needs a geometry", pointer="/geometry")
        return None, properties
    geom = parse_geometry(raw, allowed=allowed, max_vertices=max_vertices, pointer="/geometry")
    return geom, properties


def check_crs(crs: object, *, pointer: str) -> None:
    """Accept a named WGS 84 CRS (a string or the 2008 {"type": "name"} object) or null."""
    if crs is None:
        return
    name: object = crs
    if isinstance(crs, dict):
        props = crs.get("properties")
        name = props.get("name") if crs.get("type") == "name" and isinstance(props, dict) else None
    if not isinstance(name, str) or name.strip().lower() not in WGS84_NAMES:
        raise UnsupportedCRS(
            f"only WGS 84 longitude/latitude (CRS84, EPSG:4326) is accepted, not {crs!r}",
            pointer=pointer,
        )


def to_geojson(geom: BaseGeometry) -> dict[str, Any]:
    """An RFC 7946 geometry: exterior rings counter-clockwise, holes clockwise, 7 decimals."""
    if isinstance(geom, GeometryCollection) and not isinstance(
        geom, MultiPoint | MultiLineString | MultiPolygon
    ):
        return {"type": "GeometryCollection", "geometries": [to_geojson(g) for g in geom.geoms]}
    if geom.is_empty:
        raw = mapping(geom)
        return {"type": raw["type"], "coordinates": _rounded(raw["coordinates"])}
    # Pages of sites are mostly this: rings rounded as arrays, not coordinate by coordinate.
    return {"type": geom.geom_type, "coordinates": _coordinates(geom)}


def _coordinates(geom: BaseGeometry) -> Any:
    if isinstance(geom, Point):
        x, y = geom.x, geom.y
        if not geom.has_z and math.isfinite(x) and math.isfinite(y):
            return [_round(x), _round(y)]  # a visit's point: what `_array` gives, 4x faster
        return _array(geom.coords)[0]
    if isinstance(geom, LineString):
        return _array(geom.coords)
    if isinstance(geom, Polygon):
        return [_ring(geom.exterior, ccw=True), *(_ring(r, ccw=False) for r in geom.interiors)]
    return [_coordinates(g) for g in geom.geoms]


def _ring(ring: Any, *, ccw: bool) -> Any:
    """A ring's positions, turned if its winding is not the one RFC 7946 asks for."""
    xy = np.asarray(ring.coords)
    x, y = xy[:, 0], xy[:, 1]
    # shapely's signed_area (the shoelace formula), so the winding test is orient()'s own
    area = float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))
    if (area < 0) if ccw else (area > 0):
        xy = xy[::-1]
    return np.round(xy, DECIMALS).tolist()


def _array(coords: Any) -> Any:
    return np.round(np.asarray(coords), DECIMALS).tolist()


_SCALE = 10.0**DECIMALS


def _round(value: float) -> float:
    """`np.round(value, DECIMALS)` of one finite float, bit for bit, without numpy's per-call
    cost: numpy scales by 10**DECIMALS, rounds half to even, and scales back; so does this
    (keeping the sign of a zero, as numpy does)."""
    scaled = value * _SCALE
    whole = round(scaled)
    return whole / _SCALE if whole else math.copysign(0.0, scaled)


def feature(
    geom: BaseGeometry | None, properties: Mapping[str, Any], *, id: str | None = None
) -> dict[str, Any]:
    """A GeoJSON Feature; the id member is left out when id is None."""
    out: dict[str, Any] = {"type": "Feature"}
    if id is not None:
        out["id"] = id
    out["geometry"] = None if geom is None else to_geojson(geom)
    out["properties"] = dict(properties)
    return out


def feature_collection(features: Iterable[dict[str, Any]], **members: Any) -> dict[str, Any]:
    """A GeoJSON FeatureCollection; extra members (links, numberMatched, ...) follow features."""
    return {"type": "FeatureCollection", "features": list(features), **members}


def _rounded(value: Any) -> Any:
    if isinstance(value, float | int):
        return round(float(value), DECIMALS)
    return [_rounded(v) for v in value]


def _arrays(value: object, depth: int, pointer: str) -> Any:
    """Check the nesting and the positions; return the same nesting of 2D (x, y) tuples."""
    if depth == 0:
        return _position(value, pointer)
    if not isinstance(value, list):
        raise MalformedGeoJSON("expected an array", pointer=pointer)
    return [_arrays(v, depth - 1, f"{pointer}/{i}") for i, v in enumerate(value)]


def _position(value: object, pointer: str) -> Position:
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise MalformedGeoJSON(
            "a position is an array of 2 or 3 numbers [longitude, latitude(, height)]",
            pointer=pointer,
        )
    for i, number in enumerate(value):
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise MalformedGeoJSON("a coordinate must be a number", pointer=f"{pointer}/{i}")
        if not math.isfinite(number):
            raise MalformedGeoJSON("a coordinate must be finite", pointer=f"{pointer}/{i}")
    return float(value[0]), float(value[1])


def _check_ranges(coords: Any, depth: int, pointer: str) -> None:
    if depth:
        for i, inner in enumerate(coords):
            _check_ranges(inner, depth - 1, f"{pointer}/{i}")
        return
    lon, lat = coords
    if not -180.0 <= lon <= 180.0:
        raise CoordinateOutOfRange(
            f"longitude {lon} is outside [-180, 180]", pointer=f"{pointer}/0"
        )
    if not -90.0 <= lat <= 90.0:
        raise CoordinateOutOfRange(f"latitude {lat} is outside [-90, 90]", pointer=f"{pointer}/1")


def _check_shape(kind: str, coords: Any, pointer: str) -> None:
    """Ring closure and the minimum number of positions per part."""
    if kind == "Polygon":
        _check_polygon(coords, pointer)
    elif kind == "MultiPolygon":
        if not coords:
            raise TooFewPoints("a MultiPolygon needs at least one polygon", pointer=pointer)
        for i, polygon in enumerate(coords):
            _check_polygon(polygon, f"{pointer}/{i}")
    elif kind == "LineString" and len(coords) < 2:
        raise TooFewPoints("a LineString needs at least 2 positions", pointer=pointer)
    elif kind == "MultiLineString":
        for i, line in enumerate(coords):
            if len(line) < 2:
                raise TooFewPoints("a line needs at least 2 positions", pointer=f"{pointer}/{i}")
    elif kind == "MultiPoint" and not coords:
        raise TooFewPoints("a MultiPoint needs at least one position", pointer=pointer)


def _check_polygon(rings: list[list[Position]], pointer: str) -> None:
    if not rings:
        raise TooFewPoints("a polygon needs an exterior ring", pointer=pointer)
    for i, ring in enumerate(rings):
        where = f"{pointer}/{i}"
        if len(ring) >= 2 and ring[0] != ring[-1]:
            raise UnclosedRing(
                f"the ring is not closed: its last position {list(ring[-1])} "
                f"differs from its first {list(ring[0])}",
                pointer=where,
            )
        if len(ring) < 4:
            raise TooFewPoints(
                f"a ring needs at least 4 positions (first repeated last), it has {len(ring)}",
                pointer=where,
            )


def _count(coords: Any, depth: int) -> int:
    if depth == 0:
        return 1
    if depth == 1:
        return len(coords)
    return sum(_count(c, depth - 1) for c in coords)


def _build(kind: str, coords: Any) -> BaseGeometry:
    if kind == "Point":
        return Point(coords)
    if kind == "MultiPoint":
        return MultiPoint(coords)
    if kind == "LineString":
        return LineString(coords)
    if kind == "MultiLineString":
        return MultiLineString(coords)
    if kind == "Polygon":
        return Polygon(coords[0], coords[1:])
    return MultiPolygon([Polygon(p[0], p[1:]) for p in coords])
