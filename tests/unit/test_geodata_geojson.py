"""GeoJSON parsing errors with their pointers, and RFC 7946 output."""

from __future__ import annotations

import itertools
import random
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon

from geodata.errors import (
    CoordinateOutOfRange,
    GeoError,
    InvalidGeometry,
    MalformedGeoJSON,
    SelfIntersection,
    TooFewPoints,
    TooManyVertices,
    UnclosedRing,
    UnsupportedCRS,
    WrongGeometryType,
)
from geodata.geojson import (
    feature,
    feature_collection,
    parse_feature,
    parse_geometry,
    to_geojson,
)

AREAS = {"Polygon", "MultiPolygon"}
CCW_SQUARE = [[-11.0, 8.0], [-10.99, 8.0], [-10.99, 8.01], [-11.0, 8.01], [-11.0, 8.0]]
CW_SQUARE = list(reversed(CCW_SQUARE))


def polygon(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def refused(error: type[GeoError], obj: object, **kwargs: Any) -> GeoError:
    kwargs.setdefault("allowed", AREAS)
    with pytest.raises(error) as caught:
        parse_geometry(obj, **kwargs)
    assert type(caught.value) is error
    return caught.value


def signed_area(ring: list[list[float]]) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring)) / 2


def test_every_error_has_a_stable_code_detail_and_pointer() -> None:
    error = UnclosedRing("not closed", pointer="/geometry/coordinates/0")
    assert (error.code, error.detail, error.pointer) == (
        "unclosed-ring",
        "not closed",
        "/geometry/coordinates/0",
    )
    assert isinstance(error, ValueError)
    assert "/geometry/coordinates/0" in str(error)


@pytest.mark.parametrize("obj", [None, [], "Polygon", 3])
def test_a_non_object_is_malformed_at_the_geometry(obj: object) -> None:
    assert refused(MalformedGeoJSON, obj).pointer == "/geometry"


def test_missing_type_is_malformed_with_pointer_to_type() -> None:
    assert refused(MalformedGeoJSON, {"coordinates": []}).pointer == "/geometry/type"


def test_missing_coordinates_is_malformed_with_pointer_to_coordinates() -> None:
    error = refused(MalformedGeoJSON, {"type": "Polygon"})
    assert error.pointer == "/geometry/coordinates"
    assert error.code == "malformed-geojson"


def test_the_pointer_prefix_is_the_callers() -> None:
    error = refused(MalformedGeoJSON, {"type": "Polygon"}, pointer="/site/area")
    assert error.pointer == "/site/area/coordinates"


@pytest.mark.parametrize(
    "crs",
    [
        "EPSG:4326",
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "urn:ogc:def:crs:OGC::CRS84",
        "urn:ogc:def:crs:EPSG::4326",
        "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
        {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
    ],
)
def test_wgs84_crs_names_are_accepted(crs: object) -> None:
    geom = parse_geometry({**polygon(CCW_SQUARE), "crs": crs}, allowed=AREAS)
    assert isinstance(geom, Polygon)


@pytest.mark.parametrize(
    "crs", ["EPSG:32628", {"type": "name", "properties": {"name": "EPSG:3857"}}, 4326]
)
def test_other_crs_is_unsupported_with_pointer_to_crs(crs: object) -> None:
    error = refused(UnsupportedCRS, {**polygon(CCW_SQUARE), "crs": crs})
    assert error.pointer == "/geometry/crs"
    assert error.code == "unsupported-crs"


def test_wrong_geometry_type_lists_the_allowed_types() -> None:
    error = refused(WrongGeometryType, {"type": "Point", "coordinates": [-11.0, 8.0]})
    assert error.pointer == "/geometry/type"
    assert "MultiPolygon" in error.detail and "Polygon" in error.detail


def test_unknown_geometry_type_is_a_wrong_type() -> None:
    error = refused(WrongGeometryType, {"type": "Circle", "coordinates": [0, 0]})
    assert error.pointer == "/geometry/type"


@pytest.mark.parametrize(
    ("position", "pointer"),
    [
        ([-11.0], "/geometry/coordinates/0/2"),
        ([-11.0, 8.0, 1.0, 2.0], "/geometry/coordinates/0/2"),
        ("8.0,-11.0", "/geometry/coordinates/0/2"),
        ([-11.0, "8.0"], "/geometry/coordinates/0/2/1"),
        ([True, 8.0], "/geometry/coordinates/0/2/0"),
        ([-11.0, float("nan")], "/geometry/coordinates/0/2/1"),
        ([float("inf"), 8.0], "/geometry/coordinates/0/2/0"),
        ([-11.0, None], "/geometry/coordinates/0/2/1"),
    ],
)
def test_bad_position_is_malformed_with_the_exact_pointer(position: object, pointer: str) -> None:
    ring: list[Any] = [list(p) for p in CCW_SQUARE]
    ring[2] = position
    assert refused(MalformedGeoJSON, polygon(ring)).pointer == pointer


def test_a_ring_that_is_not_an_array_is_malformed() -> None:
    error = refused(MalformedGeoJSON, {"type": "Polygon", "coordinates": [{"x": 1}]})
    assert error.pointer == "/geometry/coordinates/0"


@pytest.mark.parametrize(
    ("position", "pointer"),
    [
        ([-181.0, 8.0], "/geometry/coordinates/0/1/0"),
        ([-11.0, 90.5], "/geometry/coordinates/0/1/1"),
    ],
)
def test_coordinate_out_of_range_points_at_the_offending_number(
    position: list[float], pointer: str
) -> None:
    ring = [list(p) for p in CCW_SQUARE]
    ring[1] = position
    error = refused(CoordinateOutOfRange, polygon(ring))
    assert error.pointer == pointer
    assert error.code == "coordinate-out-of-range"


def test_unclosed_ring_is_refused_with_pointer_to_the_ring() -> None:
    hole = [[-10.998, 8.002], [-10.998, 8.004], [-10.996, 8.004], [-10.996, 8.002]]
    error = refused(UnclosedRing, polygon(CCW_SQUARE, hole))
    assert error.pointer == "/geometry/coordinates/1"


def test_ring_with_three_positions_has_too_few_points() -> None:
    ring = [[-11.0, 8.0], [-10.99, 8.0], [-11.0, 8.0]]
    assert refused(TooFewPoints, polygon(ring)).pointer == "/geometry/coordinates/0"


def test_polygon_without_exterior_ring_has_too_few_points() -> None:
    error = refused(TooFewPoints, {"type": "Polygon", "coordinates": []})
    assert error.pointer == "/geometry/coordinates"


def test_multipolygon_pointer_names_the_polygon_and_the_ring() -> None:
    bad = [[-12.0, 8.0], [-11.99, 8.0], [-11.99, 8.01], [-12.0, 8.01]]
    error = refused(UnclosedRing, {"type": "MultiPolygon", "coordinates": [[CCW_SQUARE], [bad]]})
    assert error.pointer == "/geometry/coordinates/1/0"


def test_too_many_vertices_says_the_count_and_the_limit() -> None:
    error = refused(TooManyVertices, polygon(CCW_SQUARE), max_vertices=4)
    assert error.pointer == "/geometry/coordinates"
    assert "5" in error.detail and "4" in error.detail


def test_bowtie_is_a_self_intersection_located_at_the_crossing() -> None:
    bowtie = [[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    error = refused(SelfIntersection, polygon(bowtie))
    assert "(0.5, 0.5)" in error.detail
    assert error.pointer == "/geometry/coordinates/0"
    assert error.code == "self-intersection"


def test_hole_outside_its_shell_is_an_invalid_geometry() -> None:
    far_hole = [[-10.0, 8.0], [-10.0, 8.01], [-9.99, 8.01], [-9.99, 8.0], [-10.0, 8.0]]
    error = refused(InvalidGeometry, polygon(CCW_SQUARE, far_hole))
    assert "Hole lies outside shell" in error.detail


def test_both_windings_are_accepted_and_give_the_same_polygon() -> None:
    ccw = parse_geometry(polygon(CCW_SQUARE), allowed=AREAS)
    cw = parse_geometry(polygon(CW_SQUARE), allowed=AREAS)
    assert ccw.equals(cw)


def test_z_coordinate_is_dropped() -> None:
    ring = [[*p, 120.5] for p in CCW_SQUARE]
    geom = parse_geometry(polygon(ring), allowed=AREAS)
    assert not geom.has_z
    point = parse_geometry({"type": "Point", "coordinates": [-11.0, 8.0, 3]}, allowed={"Point"})
    assert point.equals(Point(-11.0, 8.0)) and not point.has_z


def test_points_lines_and_multipolygons_are_parsed() -> None:
    assert parse_geometry(
        {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, allowed={"LineString"}
    ).length == pytest.approx(2**0.5)
    assert (
        len(
            parse_geometry(
                {"type": "MultiPoint", "coordinates": [[0, 0], [1, 1]]}, allowed={"MultiPoint"}
            ).geoms
        )
        == 2
    )
    multi = parse_geometry({"type": "MultiPolygon", "coordinates": [[CW_SQUARE]]}, allowed=AREAS)
    assert isinstance(multi, MultiPolygon)


def test_output_winding_is_counter_clockwise_exterior_and_clockwise_holes() -> None:
    hole = [
        [-10.998, 8.002],
        [-10.996, 8.002],
        [-10.996, 8.004],
        [-10.998, 8.004],
        [-10.998, 8.002],
    ]
    geom = parse_geometry(polygon(CW_SQUARE, hole), allowed=AREAS)  # both wound the wrong way
    exterior, interior = to_geojson(geom)["coordinates"]
    assert signed_area(exterior) > 0
    assert signed_area(interior) < 0
    multi = to_geojson(MultiPolygon([Polygon(CW_SQUARE)]))
    assert signed_area(multi["coordinates"][0][0]) > 0


def test_output_uses_lists_and_seven_decimals() -> None:
    out = to_geojson(Point(-11.123456789, 8.000000049))
    assert out == {"type": "Point", "coordinates": [-11.1234568, 8.0]}
    ring = to_geojson(Polygon(CCW_SQUARE))["coordinates"][0]
    assert isinstance(ring, list) and all(isinstance(p, list) for p in ring)


def test_feature_and_collection_wrap_geometries() -> None:
    f = feature(Point(-11.0, 8.0), {"name": "pit 4"}, id="abc")
    assert f == {
        "type": "Feature",
        "id": "abc",
        "geometry": {"type": "Point", "coordinates": [-11.0, 8.0]},
        "properties": {"name": "pit 4"},
    }
    assert "id" not in feature(None, {})
    assert feature(None, {})["geometry"] is None
    fc = feature_collection([f], numberMatched=1)
    assert fc == {"type": "FeatureCollection", "features": [f], "numberMatched": 1}


def test_parse_feature_returns_geometry_and_properties() -> None:
    geom, props = parse_feature(
        {"type": "Feature", "geometry": polygon(CCW_SQUARE), "properties": {"a": 1}},
        allowed=AREAS,
    )
    assert isinstance(geom, Polygon) and props == {"a": 1}


def test_parse_feature_geometry_errors_point_into_the_geometry() -> None:
    with pytest.raises(UnclosedRing) as caught:
        parse_feature(
            {"type": "Feature", "geometry": polygon(CCW_SQUARE[:-1]), "properties": None},
            allowed=AREAS,
        )
    assert caught.value.pointer == "/geometry/coordinates/0"


@pytest.mark.parametrize(
    ("obj", "pointer"),
    [
        ([], ""),
        ({"type": "Polygon", "coordinates": []}, "/type"),
        ({"type": "Feature", "geometry": None, "properties": []}, "/properties"),
        ({"type": "Feature", "geometry": None, "properties": {}}, "/geometry"),
    ],
)
def test_parse_feature_refuses_malformed_features(obj: object, pointer: str) -> None:
    with pytest.raises(MalformedGeoJSON) as caught:
        parse_feature(obj, allowed=AREAS)
    assert caught.value.pointer == pointer


def test_parse_feature_without_required_geometry_returns_none() -> None:
    geom, props = parse_feature(
        {"type": "Feature", "geometry": None, "properties": None},
        allowed=AREAS,
        geometry_required=False,
    )
    assert geom is None and props == {}


def test_parse_feature_refuses_a_legacy_crs_other_than_wgs84() -> None:
    obj = {
        "type": "Feature",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32628"}},
        "geometry": polygon(CCW_SQUARE),
        "properties": {},
    }
    with pytest.raises(UnsupportedCRS) as caught:
        parse_feature(obj, allowed=AREAS)
    assert caught.value.pointer == "/crs"


lon = st.floats(-179.0, 179.0, allow_nan=False)
lat = st.floats(-89.0, 89.0, allow_nan=False)
size = st.floats(1e-4, 0.5)


@given(lon, lat, size, size, st.booleans())
def test_rectangles_survive_a_round_trip_through_geojson(
    x: float, y: float, w: float, h: float, clockwise: bool
) -> None:
    ring = [[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]]
    if clockwise:
        ring.reverse()
    geom = parse_geometry(polygon(ring), allowed=AREAS)
    out = to_geojson(geom)
    assert signed_area(out["coordinates"][0]) > 0
    again = parse_geometry(out, allowed=AREAS)
    # rounding to 7 decimals moves each edge by at most 5e-8 degrees
    assert again.symmetric_difference(geom).area <= geom.length * 1e-7
    assert to_geojson(again) == out


def test_ring_touching_itself_is_a_self_intersection() -> None:
    ring = [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [1.0, 0.0], [0.0, 2.0], [0.0, 0.0]]
    error = refused(SelfIntersection, polygon(ring))
    assert "(1, 0)" in error.detail


def test_ring_of_one_repeated_position_has_too_few_points() -> None:
    error = refused(TooFewPoints, polygon([[-11.0, 8.0]] * 4))
    assert error.pointer == "/geometry/coordinates/0"


def test_a_points_geojson_rounds_as_numpy_rounds_bit_for_bit() -> None:
    rng = random.Random(2026)
    values = [0.0, -0.0, 1e-8, -1e-8, 4.9e-8, -4.9e-8, 5e-8, -5e-8, 1.5e-7, 2.5e-7, 180.0]
    values += [rng.uniform(-180, 180) for _ in range(20000)]
    values += [rng.randrange(-1800000000, 1800000000) / 1e7 + 0.5e-7 for _ in range(5000)]
    values += [rng.uniform(-1e-6, 1e-6) for _ in range(2000)] + [1e300, -1e300, 2.0**60]
    for x in values:
        y = rng.choice(values)
        got = to_geojson(Point(x, y))["coordinates"]
        want = np.round(np.asarray(Point(x, y).coords), 7).tolist()[0]
        assert [struct.pack("<d", v) for v in got] == [struct.pack("<d", v) for v in want], (x, y)
