"""Within-boundary, swapped-coordinate, distance and overlap checks."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import pytest
from pyproj import Geod
from shapely.affinity import scale
from shapely.geometry import MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from geodata.area import geodesic_area_ha
from geodata.boundaries import demo_country
from geodata.checks import (
    check_not_swapped,
    check_within,
    distance_m,
    overlap_ha,
    overlap_share,
    point_in_area,
    swap_xy,
)
from geodata.errors import OutsideBoundary, SwappedCoordinates
from geodata.geojson import parse_geometry

GEOD = Geod(ellps="WGS84")
SITE = box(-10.98, 8.63, -10.97, 8.64)  # a 1 km square near Koidu, Kono


def moved(x: float, y: float, azimuth: float, metres: float) -> Point:
    lon, lat, _ = GEOD.fwd(x, y, azimuth, metres)
    return Point(lon, lat)


@pytest.fixture(scope="module")
def sierra_leone() -> Polygon:
    boundary: Polygon = demo_country()["boundary"]
    return boundary


def test_swap_xy_exchanges_longitude_and_latitude() -> None:
    assert swap_xy(Point(-10.97, 8.64)).equals(Point(8.64, -10.97))
    assert swap_xy(swap_xy(SITE)).equals(SITE)


def test_a_point_30_m_outside_is_within_50_m_but_not_10_m() -> None:
    outside = moved(-10.97, 8.635, 90, 30)  # due east of the east edge
    assert not SITE.covers(outside)
    assert point_in_area(outside, SITE, 50.0)
    assert not point_in_area(outside, SITE, 10.0)
    assert distance_m(outside, SITE) == pytest.approx(30.0, rel=0.02)


def test_distance_is_zero_inside_and_geodesic_outside() -> None:
    assert distance_m(Point(-10.975, 8.635), SITE) == 0.0
    north = moved(-10.975, 8.64, 0, 1000)
    assert distance_m(north, SITE) == pytest.approx(1000.0, rel=0.01)
    far_north = moved(20.0, 60.0, 45, 5000)  # away from the equator, diagonally
    assert distance_m(far_north, Point(20.0, 60.0)) == pytest.approx(5000.0, rel=0.01)


def test_geometry_inside_the_boundary_passes(sierra_leone: Polygon) -> None:
    check_within(SITE, sierra_leone, what="Sierra Leone")
    check_within(Point(-13.23, 8.48), sierra_leone, what="Sierra Leone")


def test_geometry_just_over_the_boundary_passes_within_tolerance() -> None:
    over = box(-10.98, 8.63, -10.97 + 0.0002, 8.64)  # ~22 m past the east edge
    check_within(over, SITE, what="the licence area", tolerance_m=50.0)
    with pytest.raises(OutsideBoundary):
        check_within(over, SITE, what="the licence area", tolerance_m=10.0)


def test_point_outside_is_refused_saying_how_far(sierra_leone: Polygon) -> None:
    conakry = Point(-13.68, 9.54)
    with pytest.raises(OutsideBoundary) as caught:
        check_within(conakry, sierra_leone, what="Sierra Leone", pointer="/location")
    error = caught.value
    assert error.pointer == "/location"
    assert error.code == "outside-boundary"
    assert "outside Sierra Leone" in error.detail and "km" in error.detail


def test_polygon_half_outside_is_refused_saying_what_share() -> None:
    half_out = box(-10.975, 8.63, -10.965, 8.64)
    with pytest.raises(OutsideBoundary) as caught:
        check_within(half_out, SITE, what="the licence area")
    assert "50% of it is outside" in caught.value.detail
    assert caught.value.pointer == "/geometry"


def test_sierra_leone_polygon_given_as_lat_lon_is_flagged_as_swapped(
    sierra_leone: Polygon,
) -> None:
    as_lat_lon = {
        "type": "Polygon",
        "coordinates": [[[y, x] for x, y in SITE.exterior.coords]],
    }
    geom = parse_geometry(as_lat_lon, allowed={"Polygon"})  # in range, so it parses
    with pytest.raises(SwappedCoordinates) as caught:
        check_not_swapped(geom, sierra_leone, what="Sierra Leone")
    assert caught.value.pointer == "/geometry"
    assert caught.value.code == "swapped-coordinates"


def test_swapped_point_is_flagged(sierra_leone: Polygon) -> None:
    with pytest.raises(SwappedCoordinates):
        check_not_swapped(Point(8.48, -13.23), sierra_leone, what="Sierra Leone")


def test_correct_polygon_is_not_flagged_as_swapped(sierra_leone: Polygon) -> None:
    check_not_swapped(SITE, sierra_leone, what="Sierra Leone")


def test_geometry_outside_either_way_is_not_called_swapped(sierra_leone: Polygon) -> None:
    # somewhere else entirely is for check_within to refuse, not a swap
    check_not_swapped(box(2.0, 48.0, 2.01, 48.01), sierra_leone, what="Sierra Leone")
    check_not_swapped(Point(150.0, 8.0), sierra_leone, what="Sierra Leone")


def test_overlap_of_two_half_overlapping_squares_is_half_a_square() -> None:
    a = box(-11.0, 8.0, -10.99, 8.01)
    b = box(-10.995, 8.0, -10.985, 8.01)
    half = geodesic_area_ha(a) / 2
    assert overlap_ha(a, b) == pytest.approx(half, abs=Decimal("0.01"))
    assert overlap_share(a, b) == pytest.approx(0.5, abs=1e-3)


def test_overlap_share_is_relative_to_the_smaller_area() -> None:
    big = box(-11.0, 8.0, -10.9, 8.1)
    assert overlap_share(big, SITE.intersection(big) or SITE) == pytest.approx(0.0)
    inner = box(-10.99, 8.01, -10.98, 8.02)
    assert overlap_share(big, inner) == pytest.approx(1.0)
    assert overlap_share(inner, big) == pytest.approx(1.0)


def test_squares_that_only_touch_do_not_overlap() -> None:
    a, b = box(0, 0, 0.01, 0.01), box(0.01, 0, 0.02, 0.01)
    assert overlap_ha(a, b) == Decimal("0.0000")
    assert overlap_share(a, b) == 0.0
    assert overlap_ha(a, box(5, 5, 6, 6)) == 0


def test_distance_m_is_what_the_scaled_plane_gave_bit_for_bit() -> None:
    """The stretch is made by multiplying coordinates, not by `shapely.affinity.scale`: the
    same numbers, so every stored distance stays the same."""

    def by_scale(point: Point, area: BaseGeometry) -> float:
        cos_lat = math.cos(math.radians(min(abs(point.y), 89.0)))
        stretched = scale(area, xfact=cos_lat, yfact=1.0, origin=(0, 0))
        _, near = nearest_points(Point(point.x * cos_lat, point.y), stretched)
        return float(GEOD.inv(point.x, point.y, near.x / cos_lat, near.y)[2])

    rng = random.Random(5)
    for _ in range(300):
        x, y = rng.uniform(-180, 179), rng.uniform(-85, 84)
        w, h = rng.uniform(1e-4, 0.5), rng.uniform(1e-4, 0.5)
        square = Polygon([(x, y), (x + w, y), (x + w, y + h), (x, y + h)])
        area = MultiPolygon([square, square.buffer(-w / 4)]) if rng.random() < 0.2 else square
        point = Point(x - rng.uniform(1e-5, 1), y + rng.uniform(-1, 1))
        if area.covers(point):
            continue
        assert distance_m(point, area) == by_scale(point, area)
