"""Geodesic area in hectares."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from geodata.area import geodesic_area_ha

WGS84_A = 6_378_137.0
WGS84_E2 = 0.00669437999014


def test_square_of_a_hundredth_degree_at_the_equator_matches_a_hand_value() -> None:
    # at the equator a degree of longitude is a*pi/180 and a degree of latitude is
    # M*pi/180 with M = a(1 - e2) the meridional radius of curvature
    side_lon_m = WGS84_A * math.radians(0.01)
    side_lat_m = WGS84_A * (1 - WGS84_E2) * math.radians(0.01)
    hand_ha = side_lon_m * side_lat_m / 10_000  # about 123.1 ha
    area = geodesic_area_ha(box(0.0, -0.005, 0.01, 0.005))
    assert float(area) == pytest.approx(hand_ha, rel=0.005)
    assert float(area) == pytest.approx(123.6, rel=0.006)  # the spherical rule of thumb


def test_area_is_a_decimal_quantized_to_a_ten_thousandth_of_a_hectare() -> None:
    area = geodesic_area_ha(box(-11.0, 8.0, -10.99, 8.01))
    assert isinstance(area, Decimal)
    assert area.as_tuple().exponent == -4


def test_area_does_not_depend_on_winding() -> None:
    ring = [(-11.0, 8.0), (-10.99, 8.0), (-10.99, 8.01), (-11.0, 8.01)]
    assert geodesic_area_ha(Polygon(ring)) == geodesic_area_ha(Polygon(ring[::-1]))
    assert geodesic_area_ha(Polygon(ring)) > 0


def test_holes_are_subtracted_and_multipolygon_parts_added() -> None:
    outer, hole = box(0, 0, 0.02, 0.02), box(0.005, 0.005, 0.015, 0.015)
    with_hole = Polygon(outer.exterior.coords, [hole.exterior.coords])
    assert geodesic_area_ha(with_hole) == pytest.approx(
        geodesic_area_ha(outer) - geodesic_area_ha(hole), abs=Decimal("0.001")
    )
    two = MultiPolygon([box(0, 0, 0.01, 0.01), box(1, 0, 1.01, 0.01)])
    assert geodesic_area_ha(two) == pytest.approx(
        2 * geodesic_area_ha(box(0, 0, 0.01, 0.01)), abs=Decimal("0.001")
    )


def test_points_and_lines_have_no_area() -> None:
    assert geodesic_area_ha(Point(-11.0, 8.0)) == 0
    assert geodesic_area_ha(LineString([(-11.0, 8.0), (-10.0, 8.0)])) == 0
    assert geodesic_area_ha(Polygon()) == 0


def test_a_square_shrinks_in_area_towards_the_pole() -> None:
    equator = geodesic_area_ha(box(0, 0, 0.01, 0.01))
    sixty = geodesic_area_ha(box(0, 60, 0.01, 60.01))
    assert float(sixty / equator) == pytest.approx(0.5, rel=0.01)
