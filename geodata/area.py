"""Geodesic area on the WGS 84 ellipsoid, in hectares."""

from __future__ import annotations

from decimal import Decimal

import shapely
from pyproj import Geod
from shapely.geometry import GeometryCollection, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

GEOD = Geod(ellps="WGS84")
M2_PER_HA = 10_000
HA_QUANTUM = Decimal("0.0001")


def geodesic_area_m2(geom: BaseGeometry) -> float:
    """Area in square metres, whatever the winding; 0 for points and lines."""
    total = 0.0
    for part in shapely.get_parts(geom):
        if isinstance(part, Polygon) and not part.is_empty:
            # pyproj sums signed ring areas: a hole wound like its shell would be added
            area, _perimeter = GEOD.geometry_area_perimeter(orient(part, sign=1.0))
            total += float(area)
        elif isinstance(part, MultiPolygon | GeometryCollection):
            total += geodesic_area_m2(part)
    return abs(total)


def geodesic_area_ha(geom: BaseGeometry) -> Decimal:
    """Area in hectares, quantized to 0.0001 ha (one square metre)."""
    return Decimal(repr(geodesic_area_m2(geom) / M2_PER_HA)).quantize(HA_QUANTUM)
