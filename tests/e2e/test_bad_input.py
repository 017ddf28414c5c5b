"""Bad input is refused as a problem naming the field, and nothing is stored or changed."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Api
from tests.e2e.helpers import (
    BO,
    HOME_DISTRICT,
    assert_problem,
    bbox_around,
    create_miner,
    create_mining_licence,
    create_site,
    feature,
    free_spot,
    ids,
    licence_feature,
    miner_body,
    point,
    site_feature,
    snapshot,
    square,
    visit_feature,
)

API = "/api/v1"
Json = dict[str, Any]
GUINEA = (-10.60, 9.30)  # ~8 km north of the border, beyond Kono
LIBERIA = (-10.30, 7.60)


@pytest.fixture
def admin(api: Api) -> Iterator[httpx.Client]:
    with api.client("admin") as c:
        yield c


@pytest.fixture
def officer(api: Api) -> Iterator[httpx.Client]:
    with api.client("officer") as c:
        yield c


def sites_near(client: httpx.Client, lon: float, lat: float) -> list[str]:
    r = client.get(f"{API}/sites", params={"bbox": bbox_around(lon, lat, 0.01), "limit": 1000})
    assert r.status_code == 200, r.text
    return ids(r.json())


def assert_not_stored(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404, f"{path} was stored: {r.text}"


# --- geometry of a new site ------------------------------------------------------------------


def _ring(lon: float, lat: float, n: int, radius: float = 0.002) -> list[list[float]]:
    ring = [
        [
            round(lon + radius * math.cos(2 * math.pi * i / n), 7),
            round(lat + radius * math.sin(2 * math.pi * i / n), 7),
        ]
        for i in range(n)
    ]
    return [*ring, ring[0]]


def _polygon(ring: list[list[float]]) -> Json:
    return {"type": "Polygon", "coordinates": [ring]}


def _bow_tie(lon: float, lat: float) -> Json:
    s = 0.001
    return _polygon([[lon, lat], [lon + s, lat + s], [lon + s, lat], [lon, lat + s], [lon, lat]])


def _unclosed(lon: float, lat: float) -> Json:
    return _polygon(square(lon, lat)["coordinates"][0][:-1])


def _too_few(lon: float, lat: float) -> Json:
    return _polygon([[lon, lat], [lon + 0.001, lat], [lon, lat]])


def _longitude_200(lon: float, lat: float) -> Json:
    ring = square(lon, lat)["coordinates"][0]
    ring[1] = [200.0, lat]
    return _polygon(ring)


def _latitude_95(lon: float, lat: float) -> Json:
    ring = square(lon, lat)["coordinates"][0]
    ring[2] = [lon + 0.001, 95.0]
    return _polygon(ring)


def _swapped(lon: float, lat: float) -> Json:
    return _polygon([[y, x] for x, y in square(lon, lat)["coordinates"][0]])


def _too_many_vertices(lon: float, lat: float) -> Json:
    return _polygon(_ring(lon, lat, 5001))


def _point(lon: float, lat: float) -> Json:
    return point(lon, lat)


def _line(lon: float, lat: float) -> Json:
    return {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.001, lat + 0.001]]}


def _geometry_crs(lon: float, lat: float) -> Json:
    return {**square(lon, lat), "crs": {"type": "name", "properties": {"name": "EPSG:3857"}}}


BAD_SITE_GEOMETRY: dict[str, tuple[Callable[[float, float], Json], str]] = {
    "self-intersecting bow-tie": (_bow_tie, "geometry"),
    "unclosed ring": (_unclosed, "geometry.coordinates.0"),
    "ring of three positions": (_too_few, "geometry.coordinates.0"),
    "longitude 200": (_longitude_200, "geometry.coordinates.0.1.0"),
    "latitude 95": (_latitude_95, "geometry.coordinates.0.2.1"),
    "latitude and longitude swapped": (_swapped, "geometry"),
    "5001 vertices": (_too_many_vertices, "geometry.coordinates"),
    "a Point": (_point, "geometry.type"),
    "a LineString": (_line, "geometry.type"),
    "crs EPSG:3857 on the geometry": (_geometry_crs, "geometry.crs"),
}


@pytest.mark.parametrize("case", BAD_SITE_GEOMETRY)
def test_site_with_bad_geometry_is_refused_and_nothing_is_stored(
    officer: httpx.Client, admin: httpx.Client, case: str
) -> None:
    build, field = BAD_SITE_GEOMETRY[case]
    lon, lat = free_spot(admin)
    site_id = str(uuid.uuid4())
    r = officer.post(f"{API}/sites", json=site_feature(id=site_id, geometry=build(lon, lat)))
    assert_problem(r, 422, field)
    assert_not_stored(admin, f"{API}/sites/{site_id}")
    assert sites_near(admin, lon, lat) == []


def test_site_with_swapped_coordinates_is_refused_as_swapped_and_nothing_is_stored(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    lon, lat = free_spot(admin)
    site_id = str(uuid.uuid4())
    r = officer.post(f"{API}/sites", json=site_feature(id=site_id, geometry=_swapped(lon, lat)))
    body = assert_problem(r, 422, "geometry")
    assert body["type"].endswith("/swapped-coordinates")
    assert_not_stored(admin, f"{API}/sites/{site_id}")
    assert sites_near(admin, lon, lat) == []


def test_site_feature_naming_a_projected_crs_is_refused_and_nothing_is_stored(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    lon, lat = free_spot(admin)
    site_id = str(uuid.uuid4())
    body = {
        **site_feature(lon, lat, id=site_id),
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
    }
    problem = assert_problem(officer.post(f"{API}/sites", json=body), 422, "crs")
    assert problem["type"].endswith("/unsupported-crs")
    assert_not_stored(admin, f"{API}/sites/{site_id}")
    assert sites_near(admin, lon, lat) == []


@pytest.mark.parametrize("where", [GUINEA, LIBERIA], ids=["guinea", "liberia"])
def test_site_outside_the_country_is_refused_and_nothing_is_stored(
    admin: httpx.Client, where: tuple[float, float]
) -> None:
    lon, lat = where
    site_id = str(uuid.uuid4())
    r = admin.post(
        f"{API}/sites",
        json=site_feature(lon, lat, id=site_id, district="SL-E-KL" if lat < 8 else HOME_DISTRICT),
    )
    body = assert_problem(r, 422, "geometry")
    assert body["type"].endswith("/outside-boundary")
    assert_not_stored(admin, f"{API}/sites/{site_id}")
    assert sites_near(admin, lon, lat) == []


def test_site_in_the_country_but_outside_its_district_is_refused_and_nothing_is_stored(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    lon, lat = free_spot(admin, "SL-S-BO")
    site_id = str(uuid.uuid4())
    r = officer.post(
        f"{API}/sites", json=site_feature(lon, lat, id=site_id, district=HOME_DISTRICT)
    )
    body = assert_problem(r, 422, "geometry")
    assert body["type"].endswith("/outside-boundary")
    assert "SL-E-KO" in body["detail"]
    assert_not_stored(admin, f"{API}/sites/{site_id}")
    assert sites_near(admin, lon, lat) == []


# --- properties of a new site -----------------------------------------------------------------


BAD_SITE_PROPERTIES: dict[str, tuple[Json, str]] = {
    "unknown property": ({"colour": "red"}, "properties.colour"),
    "bad status": ({"status": "abandoned"}, "properties.status"),
    "unknown district": ({"district": "SL-X-ZZ"}, "properties.district"),
    "malformed district": ({"district": "kono"}, "properties.district"),
    "empty name": ({"name": ""}, "properties.name"),
    "licence id not a uuid": ({"licence_id": "AML-1"}, "properties.licence_id"),
}


@pytest.mark.parametrize("case", BAD_SITE_PROPERTIES)
def test_site_with_bad_properties_is_refused_and_nothing_is_stored(
    officer: httpx.Client, admin: httpx.Client, case: str
) -> None:
    props, field = BAD_SITE_PROPERTIES[case]
    lon, lat = free_spot(admin)
    site_id = str(uuid.uuid4())
    r = officer.post(f"{API}/sites", json=site_feature(lon, lat, id=site_id, **props))
    assert_problem(r, 422, field)
    assert_not_stored(admin, f"{API}/sites/{site_id}")
    assert sites_near(admin, lon, lat) == []


def test_site_without_a_name_is_refused_and_nothing_is_stored(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    lon, lat = free_spot(admin)
    site_id = str(uuid.uuid4())
    body = site_feature(lon, lat, id=site_id)
    del body["properties"]["name"]
    assert_problem(officer.post(f"{API}/sites", json=body), 422, "properties.name")
    assert_not_stored(admin, f"{API}/sites/{site_id}")
    assert sites_near(admin, lon, lat) == []


def test_site_without_a_geometry_is_refused_and_nothing_is_stored(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    site_id = str(uuid.uuid4())
    body = site_feature(id=site_id)
    body["geometry"] = None
    assert_problem(officer.post(f"{API}/sites", json=body), 422, "geometry")
    assert_not_stored(admin, f"{API}/sites/{site_id}")


# --- bad changes to an existing site ----------------------------------------------------------


BAD_SITE_PATCH: dict[str, tuple[Callable[[float, float], Json], str]] = {
    "bow-tie": (lambda lon, lat: feature(_bow_tie(lon, lat), {"version": 1}), "geometry"),
    "swapped": (lambda lon, lat: feature(_swapped(lon, lat), {"version": 1}), "geometry"),
    "moved to Bo": (lambda lon, lat: feature(square(*BO), {"version": 1}), "geometry"),
    "a Point": (lambda lon, lat: feature(point(lon, lat), {"version": 1}), "geometry.type"),
    "no version": (lambda lon, lat: feature(None, {"notes": "x"}), "properties.version"),
    "version 0": (
        lambda lon, lat: feature(None, {"version": 0, "notes": "x"}),
        "properties.version",
    ),
    "district is not editable": (
        lambda lon, lat: feature(None, {"version": 1, "district": "SL-S-BO"}),
        "properties.district",
    ),
    "name removed": (
        lambda lon, lat: feature(None, {"version": 1, "name": None}),
        "properties.name",
    ),
    "bad status": (
        lambda lon, lat: feature(None, {"version": 1, "status": "gone"}),
        "properties.status",
    ),
    "notes too long": (
        lambda lon, lat: feature(None, {"version": 1, "notes": "x" * 2001}),
        "properties.notes",
    ),
}


@pytest.mark.parametrize("case", BAD_SITE_PATCH)
def test_bad_site_change_is_refused_and_the_site_is_unchanged(
    officer: httpx.Client, admin: httpx.Client, case: str
) -> None:
    build, field = BAD_SITE_PATCH[case]
    lon, lat = free_spot(admin)
    url = f"{API}/sites/{create_site(officer, lon, lat)['id']}"
    before = snapshot(admin, url)
    assert_problem(officer.patch(url, json=build(lon, lat)), 422, field)
    assert snapshot(admin, url) == before


# --- site visits -------------------------------------------------------------------------------


def _visit_cases(site_id: str, lon: float, lat: float) -> dict[str, tuple[Json, str]]:
    future = (date.today() + timedelta(days=3)).isoformat() + "T08:00:00Z"
    return {
        "polygon instead of a point": (
            feature(square(lon, lat), visit_feature(site_id, lon, lat)["properties"]),
            "geometry.type",
        ),
        "linestring instead of a point": (
            feature(_line(lon, lat), visit_feature(site_id, lon, lat)["properties"]),
            "geometry.type",
        ),
        "point in Bo for a Kono site": (visit_feature(site_id, *BO), "geometry"),
        "time without zone": (
            visit_feature(site_id, lon, lat, visited_at="2025-06-01T09:30:00"),
            "properties.visited_at",
        ),
        "in the future": (
            visit_feature(site_id, lon, lat, visited_at=future),
            "properties.visited_at",
        ),
        "negative diggers": (
            visit_feature(site_id, lon, lat, diggers_counted=-1),
            "properties.diggers_counted",
        ),
        "unknown site": (visit_feature(str(uuid.uuid4()), lon, lat), "properties.site_id"),
    }


VISIT_CASES = list(_visit_cases("x", 0, 0))


@pytest.mark.parametrize("case", VISIT_CASES)
def test_bad_site_visit_is_refused_and_nothing_is_stored(
    officer: httpx.Client, admin: httpx.Client, case: str
) -> None:
    lon, lat = free_spot(admin)
    site = create_site(officer, lon, lat)
    body, field = _visit_cases(site["id"], lon, lat)[case]
    visit_id = str(uuid.uuid4())
    body["properties"]["id"] = visit_id
    assert_problem(officer.post(f"{API}/site-visits", json=body), 422, field)
    assert_not_stored(admin, f"{API}/site-visits/{visit_id}")
    r = admin.get(f"{API}/site-visits", params={"site_id": site["id"]})
    assert r.json()["features"] == []


# --- miners (plain JSON) ------------------------------------------------------------------------


BAD_MINER: dict[str, tuple[Json, str]] = {
    "unknown property": ({"nickname": "Sahr"}, "nickname"),
    "bad status": ({"status": "retired"}, "status"),
    "unknown district": ({"district": "SL-X-ZZ"}, "district"),
    "bad phone": ({"phone": "call me"}, "phone"),
    "photo ref not a sha-256": ({"photo_ref": "abc"}, "photo_ref"),
    "name not a string": ({"full_name": 42}, "full_name"),
}


@pytest.mark.parametrize("case", BAD_MINER)
def test_bad_miner_is_refused_and_nothing_is_stored(
    officer: httpx.Client, admin: httpx.Client, case: str
) -> None:
    props, field = BAD_MINER[case]
    miner_id = str(uuid.uuid4())
    assert_problem(officer.post(f"{API}/miners", json=miner_body(id=miner_id, **props)), 422, field)
    assert_not_stored(admin, f"{API}/miners/{miner_id}")


def test_miner_without_a_name_is_refused_and_nothing_is_stored(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    miner_id = str(uuid.uuid4())
    body = miner_body(id=miner_id)
    del body["full_name"]
    assert_problem(officer.post(f"{API}/miners", json=body), 422, "full_name")
    assert_not_stored(admin, f"{API}/miners/{miner_id}")


def test_bad_miner_change_is_refused_and_the_miner_is_unchanged(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    url = f"{API}/miners/{create_miner(officer)['id']}"
    before = snapshot(admin, url)
    for body, field in [
        ({"version": 1, "status": "retired"}, "status"),
        ({"version": 1, "full_name": None}, "full_name"),
        ({"version": 1, "district": None}, "district"),
        ({"version": 1, "district": "SL-X-ZZ"}, "district"),
        ({"version": 1, "colour": "red"}, "colour"),
        ({"full_name": "No Version"}, "version"),
    ]:
        assert_problem(officer.patch(url, json=body), 422, field)
        assert snapshot(admin, url) == before


# --- licences ----------------------------------------------------------------------------------


def test_licence_with_end_before_start_is_refused_and_nothing_is_stored(
    admin: httpx.Client,
) -> None:
    miner = create_miner(admin)
    lon, lat = free_spot(admin)
    licence_id = str(uuid.uuid4())
    body = licence_feature(
        id=licence_id,
        geometry=square(lon, lat),
        holder_miner_id=miner["id"],
        district=HOME_DISTRICT,
        valid_from=date(2026, 3, 1),
        valid_to=date(2026, 2, 1),
    )
    assert_problem(admin.post(f"{API}/licences", json=body), 422, "properties.valid_to")
    assert_not_stored(admin, f"{API}/licences/{licence_id}")
    assert snapshot(admin, f"{API}/miners/{miner['id']}")["licence_numbers"] == []


BAD_LICENCE: dict[str, tuple[Json, str]] = {
    "bad kind": ({"kind": "digging"}, "properties.kind"),
    "unknown property": ({"colour": "red"}, "properties.colour"),
    "unknown district": ({"district": "SL-X-ZZ"}, "properties.district"),
    "missing district": ({"district": None}, "properties.district"),
    "fit-and-proper on a mining licence": ({"fit_and_proper": True}, "properties.fit_and_proper"),
    "unknown holder": (
        {"holder_miner_id": "00000000-0000-7000-8000-000000000000"},
        "properties.holder_miner_id",
    ),
    "date not a date": ({"valid_from": "1st of May"}, "properties.valid_from"),
    "short override reason": (
        {"overlap_override_reason": "ok"},
        "properties.overlap_override_reason",
    ),
}


@pytest.mark.parametrize("case", BAD_LICENCE)
def test_bad_licence_is_refused_and_nothing_is_stored(admin: httpx.Client, case: str) -> None:
    props, field = BAD_LICENCE[case]
    miner = create_miner(admin)
    lon, lat = free_spot(admin)
    licence_id = str(uuid.uuid4())
    body = licence_feature(
        id=licence_id,
        geometry=square(lon, lat),
        holder_miner_id=miner["id"],
        district=HOME_DISTRICT,
    )
    body["properties"].update(props)
    assert_problem(admin.post(f"{API}/licences", json=body), 422, field)
    assert_not_stored(admin, f"{API}/licences/{licence_id}")
    assert snapshot(admin, f"{API}/miners/{miner['id']}")["licence_numbers"] == []


def test_licence_change_with_end_before_start_is_refused_and_the_licence_is_unchanged(
    admin: httpx.Client,
) -> None:
    made = create_mining_licence(admin, *free_spot(admin))
    url = f"{API}/licences/{made['id']}"
    before = snapshot(admin, url)
    day_before = (
        date.fromisoformat(made["properties"]["valid_from"]) - timedelta(days=1)
    ).isoformat()
    r = admin.patch(url, json=feature(None, {"version": 1, "valid_to": day_before}))
    assert_problem(r, 422, "properties.valid_to")
    assert snapshot(admin, url) == before


def test_mining_licence_over_an_active_licence_is_refused_naming_it_and_nothing_is_stored(
    admin: httpx.Client,
) -> None:
    lon, lat = free_spot(admin)
    first = create_mining_licence(admin, lon, lat)
    miner = create_miner(admin)
    licence_id = str(uuid.uuid4())
    body = licence_feature(
        id=licence_id,
        geometry=square(lon + 0.0005, lat + 0.0005, 0.002),
        holder_miner_id=miner["id"],
        district=HOME_DISTRICT,
    )
    problem = assert_problem(admin.post(f"{API}/licences", json=body), 422, "geometry")
    assert problem["type"].endswith("/licence-overlap")
    assert [o["number"] for o in problem["overlaps"]] == [first["properties"]["number"]]
    assert problem["overlaps"][0]["licence_id"] == first["id"]
    assert float(problem["overlaps"][0]["overlap_ha"]) > 0
    assert_not_stored(admin, f"{API}/licences/{licence_id}")
    r = admin.get(f"{API}/licences", params={"bbox": bbox_around(lon, lat, 0.01)})
    assert ids(r.json()) == [first["id"]]


def test_ministry_may_override_an_overlap_with_a_reason_and_the_reason_is_recorded(
    api: Api, admin: httpx.Client
) -> None:
    lon, lat = free_spot(admin)
    first = create_mining_licence(admin, lon, lat)
    miner = create_miner(admin)
    reason = "community agreement signed at the chiefdom office"
    body = licence_feature(
        geometry=square(lon + 0.0005, lat + 0.0005, 0.002),
        holder_miner_id=miner["id"],
        district=HOME_DISTRICT,
        overlap_override_reason=reason,
    )
    with api.client("ministry") as ministry:
        r = ministry.post(f"{API}/licences", json=body)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["properties"]["overlap_override_reason"] == reason
    assert (
        snapshot(admin, f"{API}/licences/{made['id']}")["properties"]["overlap_override_reason"]
        == reason
    )
    audit = admin.get(f"{API}/audit", params={"entity_id": made["id"]}).json()["items"]
    assert [(e["action"], e["reason"]) for e in audit] == [("create", reason)]
    assert audit[0]["after"]["overlap_override_reason"] == reason
    assert set(
        ids(admin.get(f"{API}/licences", params={"bbox": bbox_around(lon, lat, 0.01)}).json())
    ) == {first["id"], made["id"]}


@pytest.mark.parametrize("who", ["officer", "buyer", "exporter", "donor"])
def test_only_admin_and_ministry_may_issue_licences_even_with_an_override_reason(
    api: Api, admin: httpx.Client, who: str
) -> None:
    lon, lat = free_spot(admin)
    first = create_mining_licence(admin, lon, lat)
    miner = create_miner(admin)
    licence_id = str(uuid.uuid4())
    body = licence_feature(
        id=licence_id,
        geometry=square(lon + 0.0005, lat + 0.0005, 0.002),
        holder_miner_id=miner["id"],
        district=HOME_DISTRICT,
        overlap_override_reason="I say it is fine to overlap",
    )
    with api.client(who) as client:
        assert_problem(client.post(f"{API}/licences", json=body), 403)
    assert_not_stored(admin, f"{API}/licences/{licence_id}")
    assert ids(
        admin.get(f"{API}/licences", params={"bbox": bbox_around(lon, lat, 0.01)}).json()
    ) == [first["id"]]


def test_field_officer_may_not_change_a_licence_status(api: Api, admin: httpx.Client) -> None:
    made = create_mining_licence(admin, *free_spot(admin))
    url = f"{API}/licences/{made['id']}"
    before = snapshot(admin, url)
    with api.client("officer") as officer:
        assert_problem(
            officer.post(
                url + "/status", json={"version": 1, "status": "revoked", "reason": "because"}
            ),
            403,
        )
    assert snapshot(admin, url) == before


# --- the body itself ------------------------------------------------------------------------------


def test_malformed_json_is_a_400_and_nothing_is_stored(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    miner_id = str(uuid.uuid4())
    text = json.dumps(miner_body(id=miner_id))[:-5]
    r = officer.post(f"{API}/miners", content=text, headers={"content-type": "application/json"})
    assert_problem(r, 400)
    assert_not_stored(admin, f"{API}/miners/{miner_id}")


def test_empty_body_is_a_400(officer: httpx.Client) -> None:
    assert_problem(
        officer.post(f"{API}/miners", content=b"", headers={"content-type": "application/json"}),
        400,
    )


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_wrong_content_type_is_a_415_and_nothing_is_stored(
    officer: httpx.Client, admin: httpx.Client, content_type: str
) -> None:
    miner_id = str(uuid.uuid4())
    r = officer.post(
        f"{API}/miners",
        content=json.dumps(miner_body(id=miner_id)),
        headers={"content-type": content_type},
    )
    assert_problem(r, 415)
    assert_not_stored(admin, f"{API}/miners/{miner_id}")


def test_body_over_the_size_limit_is_a_413_and_nothing_is_stored(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    miner_id = str(uuid.uuid4())
    body = json.dumps(miner_body(id=miner_id, national_id="x" * (3 * 1024 * 1024)))
    r = officer.post(f"{API}/miners", content=body, headers={"content-type": "application/json"})
    assert_problem(r, 413)
    assert_not_stored(admin, f"{API}/miners/{miner_id}")


@pytest.mark.parametrize(
    "body", [[1, 2], "a string", 42, None], ids=["array", "string", "number", "null"]
)
def test_json_that_is_not_an_object_is_refused(officer: httpx.Client, body: Any) -> None:
    r = officer.post(
        f"{API}/miners", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert_problem(r, 422)


def test_feature_body_that_is_not_a_feature_is_refused(officer: httpx.Client) -> None:
    body = {**site_feature(), "type": "FeatureCollection"}
    assert_problem(officer.post(f"{API}/sites", json=body), 422, "type")


# --- query parameters -----------------------------------------------------------------------------


LISTS = ["jurisdictions", "organisations", "miners", "licences", "sites", "site-visits"]
BAD_QUERY: dict[str, tuple[Json, str]] = {
    "limit 0": ({"limit": "0"}, "query.limit"),
    "limit not a number": ({"limit": "ten"}, "query.limit"),
    "limit over the maximum": ({"limit": "1001"}, "query.limit"),
    "unknown filter": ({"colour": "red"}, "query.colour"),
    "bad cursor": ({"cursor": "not-a-cursor!"}, "query.cursor"),
    "updated_since without a time zone": (
        {"updated_since": "2026-01-31T12:00:00"},
        "query.updated_since",
    ),
    "updated_since not a time": ({"updated_since": "yesterday"}, "query.updated_since"),
}
BBOX_LISTS = ["jurisdictions", "licences", "sites", "site-visits"]
BAD_BBOX = {
    "three numbers": "1,2,3",
    "not numbers": "a,b,c,d",
    "inverted": "10,10,0,0",
    "out of range": "-200,0,0,10",
}


@pytest.mark.parametrize("case", BAD_QUERY)
@pytest.mark.parametrize("resource", LISTS)
def test_bad_query_parameter_is_a_422_naming_it(
    admin: httpx.Client, resource: str, case: str
) -> None:
    params, field = BAD_QUERY[case]
    assert_problem(admin.get(f"{API}/{resource}", params=params), 422, field)


@pytest.mark.parametrize("case", BAD_BBOX)
@pytest.mark.parametrize("resource", BBOX_LISTS)
def test_bad_bbox_is_a_422_naming_it(admin: httpx.Client, resource: str, case: str) -> None:
    assert_problem(
        admin.get(f"{API}/{resource}", params={"bbox": BAD_BBOX[case]}), 422, "query.bbox"
    )


@pytest.mark.parametrize(
    ("resource", "name", "value"),
    [
        ("licences", "kind", "digging"),
        ("licences", "status", "pending"),
        ("sites", "status", "gone"),
        ("miners", "status", "retired"),
        ("organisations", "kind", "bank"),
        ("jurisdictions", "level", "village"),
        ("site-visits", "site_id", "not-a-uuid"),
        ("licences", "holder_miner_id", "42"),
    ],
)
def test_bad_filter_value_is_a_422_naming_it(
    admin: httpx.Client, resource: str, name: str, value: str
) -> None:
    assert_problem(admin.get(f"{API}/{resource}", params={name: value}), 422, f"query.{name}")
