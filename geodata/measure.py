"""Geodesic distances and overlaps between geometries, in metres and hectares."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from geodata.area import GEOD, HA_QUANTUM, geodesic_area_ha, geodesic_area_m2

# metres in one degree of latitude, and of longitude at the equator (WGS 84, rounded down so
# conversions from metres to degrees err on the generous side)
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQUATOR = 111_320.0
_MAX_LAT_FOR_SCALE = 89.0


def metres_to_degrees(metres: float, lat: float) -> float:
    """Degrees that span at least `metres` in every direction at latitude `lat`."""
    cos_lat = math.cos(math.radians(min(abs(lat), _MAX_LAT_FOR_SCALE)))
    return metres / min(M_PER_DEG_LAT, M_PER_DEG_LON_EQUATOR * cos_lat)


def distance_m(point: Point, area: BaseGeometry) -> float:
    """Geodesic metres from point to the nearest part of area; 0 if the area covers it."""
    if area.is_empty:
        return math.inf
    if area.covers(point):
        return 0.0
    # find the nearest point in a plane stretched to be locally isotropic at the point's
    # latitude, then measure that pair on the ellipsoid: good to well under 1 % near the point
    cos_lat = math.cos(math.radians(min(abs(point.y), _MAX_LAT_FOR_SCALE)))
    # x times cos_lat, y as it is: what scale(area, xfact=cos_lat, origin=(0, 0)) gives, with
    # none of its matrix set-up (a third of the time for a visit's distance to its site)
    stretch = np.array([cos_lat, 1.0])
    stretched = shapely.transform(area, lambda xy: xy * stretch)
    _, near = nearest_points(Point(point.x * cos_lat, point.y), stretched)
    _az12, _az21, metres = GEOD.inv(point.x, point.y, near.x / cos_lat, near.y)
    return float(metres)


def point_in_area(point: Point, area: BaseGeometry, tolerance_m: float) -> bool:
    """Whether point lies inside area or within tolerance_m metres of it."""
    return bool(area.covers(point)) or distance_m(point, area) <= tolerance_m


def overlap_ha(a: BaseGeometry, b: BaseGeometry) -> Decimal:
    """Geodesic area of the intersection of a and b in hectares; 0 if they do not overlap."""
    inter = _areal(a.intersection(b))
    return geodesic_area_ha(inter) if not inter.is_empty else Decimal(0).quantize(HA_QUANTUM)


def overlap_share(a: BaseGeometry, b: BaseGeometry) -> float:
    """The overlap as a share (0 to 1) of the smaller of the two areas."""
    smaller = min(geodesic_area_m2(a), geodesic_area_m2(b))
    if smaller <= 0:
        return 0.0
    inter = _areal(a.intersection(b))
    return min(1.0, geodesic_area_m2(inter) / smaller) if not inter.is_empty else 0.0


def _areal(geom: BaseGeometry) -> BaseGeometry:
    """The polygonal part of an intersection result (which may carry touching lines/points)."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts)
