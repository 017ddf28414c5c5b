"""Boundaries shipped with the package: the world's countries and the demo country."""

from __future__ import annotations

from importlib import resources

import pytest
import shapely
from shapely.geometry import Point

from geodata.area import geodesic_area_ha
from geodata.boundaries import countries, country_boundary, country_name, demo_country

FREETOWN = Point(-13.23, 8.48)
KOIDU = Point(-10.97, 8.64)


def district_of(point: Point) -> tuple[str, str]:
    hits = [
        (district["name"], region["name"])
        for region in demo_country()["regions"]
        for district in region["districts"]
        if district["boundary"].covers(point)
    ]
    assert len(hits) == 1, hits
    return hits[0]


def test_freetown_lies_in_western_area_urban() -> None:
    assert district_of(FREETOWN) == ("Western Area Urban", "Western Area")


def test_koidu_lies_in_kono_in_the_eastern_region() -> None:
    assert district_of(KOIDU) == ("Kono", "Eastern")


def test_demo_country_is_sierra_leone_with_four_regions_and_fourteen_districts() -> None:
    sl = demo_country()
    assert (sl["code"], sl["name"]) == ("SL", "Sierra Leone")
    assert sorted(r["code"] for r in sl["regions"]) == ["SL-E", "SL-N", "SL-S", "SL-W"]
    districts = [d for r in sl["regions"] for d in r["districts"]]
    assert len(districts) == 14
    assert len({d["code"] for d in districts}) == 14
    assert all(d["code"].startswith(r["code"] + "-") for r in sl["regions"] for d in r["districts"])


def test_districts_tile_their_region_and_regions_tile_the_country() -> None:
    sl = demo_country()
    country_ha = geodesic_area_ha(sl["boundary"])
    assert 70_000 < country_ha / 100 < 73_000  # Sierra Leone is about 71,740 km2
    regions_ha = sum(geodesic_area_ha(r["boundary"]) for r in sl["regions"])
    assert float(regions_ha) == pytest.approx(float(country_ha), rel=0.001)
    for region in sl["regions"]:
        assert shapely.is_valid(region["boundary"])
        districts_ha = sum(geodesic_area_ha(d["boundary"]) for d in region["districts"])
        assert float(districts_ha) == pytest.approx(
            float(geodesic_area_ha(region["boundary"])), rel=0.001
        )
        for district in region["districts"]:
            assert shapely.is_valid(district["boundary"])
            # both outlines were rounded to 4 decimals on their own
            assert region["boundary"].buffer(1e-4).covers(district["boundary"])


def test_district_outlines_are_marked_approximate() -> None:
    assert all(d["approximate"] for r in demo_country()["regions"] for d in r["districts"])


def test_demo_country_returns_a_fresh_structure_each_call() -> None:
    first = demo_country()
    first["regions"][0]["districts"].clear()
    assert demo_country()["regions"][0]["districts"]


def test_countries_include_the_region_and_natural_earths_minus_99_cases() -> None:
    codes = countries()
    assert codes == sorted(codes)
    assert {"SL", "GN", "LR", "CI", "CD", "AO", "FR", "NO"} <= set(codes)
    assert "-99" not in codes
    assert country_name("SL") == "Sierra Leone"


def test_country_boundary_is_cached_case_insensitive_and_none_when_unknown() -> None:
    assert country_boundary("sl") is country_boundary("SL")
    assert country_boundary("ZZ") is None
    assert country_name("ZZ") is None


def test_world_sierra_leone_contains_its_towns_and_excludes_conakry() -> None:
    sl = country_boundary("SL")
    assert sl is not None
    assert sl.covers(FREETOWN) and sl.covers(KOIDU)
    assert not sl.covers(Point(-13.68, 9.54))
    guinea = country_boundary("GN")
    assert guinea is not None and guinea.covers(Point(-13.68, 9.54))


def test_every_country_boundary_is_a_valid_polygon() -> None:
    for code in countries():
        geom = country_boundary(code)
        assert geom is not None
        assert geom.geom_type in ("Polygon", "MultiPolygon"), code
        assert shapely.is_valid(geom), code


def test_boundary_files_ship_as_package_data_with_their_source_note() -> None:
    data = resources.files("geodata").joinpath("data")
    assert data.joinpath("countries.geojson").is_file()
    assert data.joinpath("SL.geojson").is_file()
    assert "public domain" in data.joinpath("SOURCE.md").read_text(encoding="utf-8")
