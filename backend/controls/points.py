"""Whether a purchase's GPS point lies within the site it names, within the tolerance."""

from __future__ import annotations

from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from geodata import measure


def point_distance_m(point: Point, site: BaseGeometry) -> float:
    """Geodesic metres from the point to the site; 0 inside it."""
    return measure.distance_m(point, site)


def point_problem(distance_m: float, site_name: str, tolerance_m: float) -> str | None:
    """Why a point this far from its site is not accepted as being at it; None when it is."""
    if distance_m <= tolerance_m:
        return None
    return (
        f"the purchase point is {distance_m:.0f} m from site {site_name} "
        f"(tolerance {tolerance_m:.0f} m)"
    )
