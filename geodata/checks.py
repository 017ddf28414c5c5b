"""Checks that a geometry lies where it claims to: inside a boundary, not lat/lon swapped."""

from __future__ import annotations

import shapely
from shapely.geometry import Point, box
from shapely.geometry.base import BaseGeometry

from geodata.area import geodesic_area_m2
from geodata.errors import OutsideBoundary, SwappedCoordinates
from geodata.measure import (
    distance_m,
    metres_to_degrees,
    overlap_ha,
    overlap_share,
    point_in_area,
)

__all__ = [
    "check_not_swapped",
    "check_within",
    "distance_m",
    "overlap_ha",
    "overlap_share",
    "point_in_area",
    "swap_xy",
    "within_tolerance",
]

DEFAULT_TOLERANCE_M = 50.0
# how many outside vertices are measured for the "up to N m outside" part of the message
_MAX_MEASURED_VERTICES = 200
# share of a swapped polygon that must fall inside the boundary to call it swapped
_SWAPPED_SHARE = 0.5


def swap_xy(geom: BaseGeometry) -> BaseGeometry:
    """The same geometry with x and y exchanged."""
    return shapely.transform(geom, lambda coords: coords[:, ::-1])


def within_tolerance(geom: BaseGeometry, boundary: BaseGeometry, tolerance_m: float) -> bool:
    """Whether geom lies inside boundary grown by tolerance_m metres (generously rounded)."""
    if boundary.covers(geom):
        return True
    if tolerance_m <= 0 or geom.is_empty:
        return False
    min_x, min_y, max_x, max_y = geom.bounds
    degrees = metres_to_degrees(tolerance_m, max(abs(min_y), abs(max_y)))
    # grow only the part of the boundary near geom: buffering a whole country is slow
    near = boundary.intersection(box(min_x, min_y, max_x, max_y).buffer(2 * degrees))
    return bool(near.buffer(degrees).covers(geom))


def check_within(
    geom: BaseGeometry,
    boundary: BaseGeometry,
    *,
    what: str,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    pointer: str = "/geometry",
) -> None:
    """Raise OutsideBoundary, saying how far and how much, unless geom lies inside boundary."""
    if within_tolerance(geom, boundary, tolerance_m):
        return
    outside = geom.difference(boundary)
    vertices = shapely.get_coordinates(outside)[:_MAX_MEASURED_VERTICES]
    farthest = max((distance_m(Point(x, y), boundary) for x, y in vertices), default=0.0)
    how_far = f"up to {_metres(farthest)} beyond it"
    if isinstance(geom, Point):
        detail = f"the point lies outside {what}, {_metres(farthest)} beyond its boundary"
    elif geodesic_area_m2(geom) > 0:
        share = geodesic_area_m2(outside) / geodesic_area_m2(geom)
        detail = f"the area lies outside {what}: {share:.0%} of it is outside, {how_far}"
    else:
        share = outside.length / geom.length if geom.length else 1.0
        detail = f"the geometry lies outside {what}: {share:.0%} of it is outside, {how_far}"
    raise OutsideBoundary(detail, pointer=pointer)


def check_not_swapped(
    geom: BaseGeometry,
    boundary: BaseGeometry,
    *,
    what: str,
    pointer: str = "/geometry",
    tolerance_m: float = DEFAULT_TOLERANCE_M,
) -> None:
    """Raise SwappedCoordinates if geom is outside boundary but its (y, x) copy is inside.

    Returns None in every other case: whether geom is outside is for check_within to say.
    """
    if within_tolerance(geom, boundary, tolerance_m):
        return
    swapped = swap_xy(geom)
    _, min_y, _, max_y = swapped.bounds
    if min_y < -90.0 or max_y > 90.0:
        return  # a longitude beyond ±90 cannot have been meant as a latitude
    if (
        within_tolerance(swapped, boundary, tolerance_m)
        or boundary.contains(swapped.centroid)
        or overlap_share(swapped, boundary) >= _SWAPPED_SHARE
    ):
        raise SwappedCoordinates(
            f"the coordinates look like (latitude, longitude): read as (longitude, latitude) "
            f"the geometry lies outside {what}, but swapped it lies inside; GeoJSON positions "
            f"are [longitude, latitude]",
            pointer=pointer,
        )


def _metres(metres: float) -> str:
    return f"{metres:.0f} m" if metres < 1000 else f"{metres / 1000:.1f} km"
