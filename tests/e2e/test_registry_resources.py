"""Registry resources over HTTP: create, read, versioned update, lists, audit, no delete."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pyproj import Geod
from shapely.geometry import shape

from tests.e2e.conftest import Api
from tests.e2e.helpers import (
    BO,
    HOME_DISTRICT,
    OTHER_DISTRICT,
    assert_problem,
    bbox_around,
    create_miner,
    create_mining_licence,
    create_organisation,
    create_region,
    create_site,
    feature,
    free_spot,
    ids,
    licence_feature,
    snapshot,
    square,
    unique,
    visit_feature,
    walk,
)

API = "/api/v1"
GEOD = Geod(ellps="WGS84")
Json = dict[str, Any]


@pytest.fixture
def admin(api: Api) -> Iterator[httpx.Client]:
    with api.client("admin") as c:
        yield c


@pytest.fixture
def officer(api: Api) -> Iterator[httpx.Client]:
    with api.client("officer") as c:
        yield c


def geodesic_ha(geometry: Json) -> Decimal:
    area, _ = GEOD.geometry_area_perimeter(shape(geometry))
    return Decimal(abs(area)) / 10_000


def assert_area_close(area_ha: str, geometry: Json) -> None:
    assert isinstance(area_ha, str), "area_ha leaves as a decimal string"
    value = Decimal(area_ha)  # raises if not a decimal
    expected = geodesic_ha(geometry)
    assert abs(value - expected) <= expected * Decimal("0.001") + Decimal("0.0001"), (
        value,
        expected,
    )


def since(timestamp: str, seconds: float) -> str:
    """An RFC 3339 time `seconds` after (or before, if negative) a server timestamp."""
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    return moment.isoformat()


def listed(client: httpx.Client, path: str, **params: Any) -> list[str]:
    r = client.get(path, params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    return ids(r.json())


def assert_audited(admin: httpx.Client, entity_id: str, entity_type: str) -> None:
    """A create entry (no before) and an update entry whose before/after straddle a version."""
    r = admin.get(f"{API}/audit", params={"entity_id": entity_id})
    assert r.status_code == 200, r.text
    entries = r.json()["items"]
    assert all(e["entity_type"] == entity_type for e in entries)
    creates = [e for e in entries if e["action"] == "create"]
    updates = [e for e in entries if e["action"] == "update"]
    assert len(creates) == 1, entries
    assert creates[0]["before"] is None
    assert creates[0]["after"]["version"] == 1
    assert creates[0]["user_id"] is not None
    assert updates, entries
    first = updates[0]
    assert first["before"]["version"] == 1
    assert first["after"]["version"] == 2
    assert first["before"] != first["after"]


def assert_feature_collection(body: Json) -> None:
    assert body["type"] == "FeatureCollection"
    assert isinstance(body["features"], list)
    assert body["numberReturned"] == len(body["features"])
    assert "next_cursor" in body
    assert all(f["type"] == "Feature" for f in body["features"])


def assert_walk_matches_one_page(
    client: httpx.Client, path: str, params: Json, limit: int
) -> list[str]:
    """Walking small pages yields each record once: the same set as one big page."""
    walked = walk(client, path, {**params, "limit": limit})
    assert len(walked) == len(set(walked)), "a record appeared on two pages"
    assert set(walked) == set(listed(client, path, **params))
    return walked


# --- jurisdictions ---------------------------------------------------------------------------


def test_jurisdiction_is_created_read_renamed_with_a_new_version_and_audited(
    admin: httpx.Client,
) -> None:
    lon, lat = free_spot(admin)
    made = create_region(admin, lon, lat)
    code = made["properties"]["code"]
    assert made["type"] == "Feature"
    assert made["geometry"]["type"] == "Polygon"
    assert made["properties"]["version"] == 1

    read = snapshot(admin, f"{API}/jurisdictions/{code}")
    assert read["id"] == made["id"]
    assert read["properties"]["level"] == "region"
    assert read["properties"]["parent_code"] == "SL"

    new_name = unique("Renamed")
    r = admin.patch(
        f"{API}/jurisdictions/{code}", json=feature(None, {"version": 1, "name": new_name})
    )
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["version"] == 2
    assert r.json()["properties"]["name"] == new_name
    assert r.json()["geometry"] == read["geometry"], "a PATCH without geometry keeps the boundary"
    assert snapshot(admin, f"{API}/jurisdictions/{code}")["properties"]["name"] == new_name
    assert_audited(admin, made["id"], "jurisdiction")


def test_jurisdiction_list_filters_by_level_district_bbox_and_updated_since(
    admin: httpx.Client,
) -> None:
    lon, lat = free_spot(admin)
    parent = create_region(admin, lon, lat)
    child = create_region(admin, lon, lat, parent_code=parent["properties"]["code"])
    path = f"{API}/jurisdictions"
    code = parent["properties"]["code"]

    body = admin.get(path, params={"district": code}).json()
    assert_feature_collection(body)
    assert set(ids(body)) == {parent["id"], child["id"]}
    assert parent["id"] in listed(admin, path, level="region")
    assert parent["id"] not in listed(admin, path, level="district")
    districts = listed(admin, path, level="district")
    assert len(districts) >= 14
    assert parent["id"] in listed(admin, path, bbox=bbox_around(lon + 0.005, lat + 0.005))
    assert parent["id"] not in listed(admin, path, bbox=bbox_around(*BO, pad=0.001))
    stamp = parent["properties"]["updated_at"]
    assert parent["id"] in listed(admin, path, updated_since=since(stamp, -1))
    assert parent["id"] not in listed(admin, path, updated_since=since(stamp, 3600))
    no_geometry = admin.get(path, params={"district": code, "geometry": "false"}).json()
    assert [f["geometry"] for f in no_geometry["features"]] == [None, None]


def test_jurisdiction_pages_walk_every_record_once(admin: httpx.Client) -> None:
    walked = assert_walk_matches_one_page(
        admin, f"{API}/jurisdictions", {"geometry": "false"}, limit=4
    )
    assert len(walked) >= 19  # country, 4 regions, 14 districts


# --- organisations ---------------------------------------------------------------------------


def test_organisation_is_created_read_updated_with_a_new_version_and_audited(
    admin: httpx.Client,
) -> None:
    made = create_organisation(admin, registration_number=unique("REG"))
    assert made["version"] == 1
    assert made["active"] is True
    assert snapshot(admin, f"{API}/organisations/{made['id']}") == made

    r = admin.patch(
        f"{API}/organisations/{made['id']}",
        json={"version": 1, "address": "Main Road, Koidu", "active": False},
    )
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["version"] == 2
    assert updated["address"] == "Main Road, Koidu"
    assert updated["active"] is False
    assert updated["name"] == made["name"], "fields left out of a PATCH are kept"
    assert snapshot(admin, f"{API}/organisations/{made['id']}") == updated
    assert_audited(admin, made["id"], "organisation")


def test_organisation_list_filters_by_kind_district_and_updated_since(admin: httpx.Client) -> None:
    made = create_organisation(admin, kind="exporter", district=OTHER_DISTRICT)
    path = f"{API}/organisations"
    assert made["id"] in listed(admin, path, kind="exporter")
    assert made["id"] not in listed(admin, path, kind="buying_office")
    assert made["id"] in listed(admin, path, district=OTHER_DISTRICT)
    assert made["id"] not in listed(admin, path, district=HOME_DISTRICT)
    assert made["id"] in listed(admin, path, updated_since=since(made["updated_at"], -1))
    assert made["id"] not in listed(admin, path, updated_since=since(made["updated_at"], 3600))
    body = admin.get(path, params={"kind": "exporter"}).json()
    assert set(body) == {"items", "next_cursor"}
    assert all(o["kind"] == "exporter" for o in body["items"])


def test_organisation_pages_walk_every_record_once(admin: httpx.Client) -> None:
    create_organisation(admin)
    assert_walk_matches_one_page(admin, f"{API}/organisations", {}, limit=3)


# --- miners ----------------------------------------------------------------------------------


def test_miner_is_registered_by_a_field_officer_read_updated_and_audited(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    made = create_miner(officer, phone="+232 76 123456", national_id=unique("SL"))
    assert made["district"] == HOME_DISTRICT
    assert made["status"] == "active"
    assert made["version"] == 1
    assert made["licence_numbers"] == []
    assert snapshot(officer, f"{API}/miners/{made['id']}") == made

    r = officer.patch(f"{API}/miners/{made['id']}", json={"version": 1, "status": "inactive"})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    assert r.json()["status"] == "inactive"
    assert r.json()["phone"] == made["phone"]
    assert snapshot(admin, f"{API}/miners/{made['id']}") == r.json()
    assert_audited(admin, made["id"], "miner")


def test_miner_list_filters_by_district_status_and_updated_since(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    made = create_miner(officer, status="inactive")
    path = f"{API}/miners"
    assert made["id"] in listed(admin, path, district=HOME_DISTRICT)
    assert made["id"] not in listed(admin, path, district=OTHER_DISTRICT)
    assert made["id"] in listed(admin, path, status="inactive")
    assert made["id"] not in listed(admin, path, status="active")
    assert made["id"] in listed(admin, path, updated_since=since(made["updated_at"], -1))
    assert made["id"] not in listed(admin, path, updated_since=since(made["updated_at"], 3600))


def test_miner_pages_walk_every_record_once(officer: httpx.Client) -> None:
    # Bounded to this test's records: other suites may have put thousands of miners in Kono.
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    for _ in range(7):
        create_miner(officer)
    walked = assert_walk_matches_one_page(
        officer, f"{API}/miners", {"district": HOME_DISTRICT, "updated_since": since}, limit=2
    )
    assert len(walked) >= 7


# --- licences --------------------------------------------------------------------------------


def test_mining_licence_is_issued_as_a_polygon_feature_with_its_geodesic_area(
    admin: httpx.Client,
) -> None:
    lon, lat = free_spot(admin)
    area = square(lon, lat, 0.002)
    made = create_mining_licence(admin, lon, lat, size_deg=0.002)
    assert made["type"] == "Feature"
    assert made["geometry"]["type"] == "Polygon"
    assert shape(made["geometry"]).equals_exact(shape(area), 1e-7)
    props = made["properties"]
    assert props["kind"] == "artisanal_mining"
    assert props["status"] == props["effective_status"] == "active"
    assert props["version"] == 1
    assert_area_close(props["area_ha"], area)
    assert snapshot(admin, f"{API}/licences/{made['id']}") == made
    miner = snapshot(admin, f"{API}/miners/{props['holder_miner_id']}")
    assert miner["licence_numbers"] == [props["number"]]


def test_buyer_licence_has_no_area_and_is_held_by_an_organisation(
    api: Api, admin: httpx.Client
) -> None:
    org = str(api.organisations["buying_office"])
    body = licence_feature(kind="buyer", holder_organisation_id=org, fit_and_proper=True)
    r = admin.post(f"{API}/licences", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["geometry"] is None
    assert r.json()["properties"]["area_ha"] is None
    assert r.json()["properties"]["holder_organisation_id"] == org


def test_licence_amendment_bumps_the_version_and_is_audited(admin: httpx.Client) -> None:
    lon, lat = free_spot(admin)
    made = create_mining_licence(admin, lon, lat)
    new_end = (date.today() + timedelta(days=730)).isoformat()
    r = admin.patch(
        f"{API}/licences/{made['id']}", json=feature(None, {"version": 1, "valid_to": new_end})
    )
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["version"] == 2
    assert r.json()["properties"]["valid_to"] == new_end
    assert r.json()["geometry"] == made["geometry"]

    bigger = square(lon, lat, 0.003)
    r = admin.patch(f"{API}/licences/{made['id']}", json=feature(bigger, {"version": 2}))
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["version"] == 3
    assert_area_close(r.json()["properties"]["area_ha"], bigger)
    assert snapshot(admin, f"{API}/licences/{made['id']}") == r.json()
    assert_audited(admin, made["id"], "licence")


def test_licence_status_change_is_versioned_and_appears_in_the_history(admin: httpx.Client) -> None:
    lon, lat = free_spot(admin)
    made = create_mining_licence(admin, lon, lat)
    url = f"{API}/licences/{made['id']}"
    r = admin.post(
        url + "/status", json={"version": 1, "status": "suspended", "reason": "unpaid annual fee"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["status"] == "suspended"
    assert r.json()["properties"]["version"] == 2
    r = admin.post(url + "/status", json={"version": 2, "status": "active", "reason": "fee paid"})
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["version"] == 3

    history = snapshot(admin, url + "/history")["items"]
    steps = [(h["from_status"], h["to_status"], h["reason"]) for h in history]
    assert steps == [
        (None, "active", "issued"),
        ("active", "suspended", "unpaid annual fee"),
        ("suspended", "active", "fee paid"),
    ]
    assert all(h["changed_by"] is not None for h in history)
    audit = admin.get(f"{API}/audit", params={"entity_id": made["id"]}).json()["items"]
    assert [e["reason"] for e in audit if e["action"] == "update"] == [
        "unpaid annual fee",
        "fee paid",
    ]


def test_revoked_licence_cannot_be_reinstated(admin: httpx.Client) -> None:
    lon, lat = free_spot(admin)
    made = create_mining_licence(admin, lon, lat)
    url = f"{API}/licences/{made['id']}"
    assert (
        admin.post(
            url + "/status", json={"version": 1, "status": "revoked", "reason": "fraud"}
        ).status_code
        == 200
    )
    before = snapshot(admin, url)
    r = admin.post(url + "/status", json={"version": 2, "status": "active", "reason": "appeal"})
    assert_problem(r, 422, "status")
    assert snapshot(admin, url) == before


def test_licence_list_filters_by_kind_status_district_holder_bbox_and_updated_since(
    admin: httpx.Client,
) -> None:
    lon, lat = free_spot(admin)
    made = create_mining_licence(admin, lon, lat)
    path, lid = f"{API}/licences", made["id"]
    assert_feature_collection(admin.get(path, params={"limit": 5}).json())
    assert lid in listed(admin, path, kind="artisanal_mining")
    assert lid not in listed(admin, path, kind="buyer")
    assert lid in listed(admin, path, status="active")
    assert lid not in listed(admin, path, status="suspended")
    assert lid in listed(admin, path, district=HOME_DISTRICT)
    assert lid not in listed(admin, path, district=OTHER_DISTRICT)
    assert listed(admin, path, holder_miner_id=made["properties"]["holder_miner_id"]) == [lid]
    assert listed(admin, path, bbox=bbox_around(lon + 0.001, lat + 0.001)) == [lid]
    assert lid not in listed(admin, path, bbox=bbox_around(*BO))
    stamp = made["properties"]["updated_at"]
    assert lid in listed(admin, path, updated_since=since(stamp, -1))
    assert lid not in listed(admin, path, updated_since=since(stamp, 3600))


def test_licence_pages_walk_every_record_once(admin: httpx.Client) -> None:
    assert_walk_matches_one_page(admin, f"{API}/licences", {"district": HOME_DISTRICT}, limit=20)


# --- sites -----------------------------------------------------------------------------------


def test_site_is_mapped_as_a_polygon_feature_with_its_geodesic_area(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    lon, lat = free_spot(admin)
    made = create_site(officer, lon, lat, notes="pits along the stream")
    assert made["type"] == "Feature"
    assert made["geometry"]["type"] == "Polygon"
    assert shape(made["geometry"]).equals_exact(shape(square(lon, lat)), 1e-7)
    props = made["properties"]
    assert props["district"] == HOME_DISTRICT
    assert props["status"] == "active"
    assert props["version"] == 1
    assert_area_close(props["area_ha"], square(lon, lat))
    assert snapshot(officer, f"{API}/sites/{made['id']}") == made


def test_site_update_bumps_the_version_keeps_the_shape_unless_sent_and_is_audited(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    lon, lat = free_spot(admin)
    made = create_site(officer, lon, lat)
    url = f"{API}/sites/{made['id']}"
    r = officer.patch(
        url, json=feature(None, {"version": 1, "status": "inactive", "notes": "flooded"})
    )
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["version"] == 2
    assert r.json()["properties"]["status"] == "inactive"
    assert r.json()["geometry"] == made["geometry"]

    bigger = square(lon, lat, 0.002)
    r = officer.patch(url, json=feature(bigger, {"version": 2}))
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["version"] == 3
    assert_area_close(r.json()["properties"]["area_ha"], bigger)
    assert r.json()["properties"]["notes"] == "flooded"
    assert snapshot(officer, url) == r.json()
    assert_audited(admin, made["id"], "site")


def test_site_may_be_linked_to_a_mining_licence(officer: httpx.Client, admin: httpx.Client) -> None:
    lon, lat = free_spot(admin)
    lic = create_mining_licence(admin, lon, lat)
    made = create_site(officer, lon + 0.0005, lat + 0.0005, licence_id=lic["id"])
    assert made["properties"]["licence_id"] == lic["id"]


def test_site_list_filters_by_district_status_bbox_and_updated_since(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    lon, lat = free_spot(admin)
    made = create_site(officer, lon, lat, status="suspended")
    path, sid = f"{API}/sites", made["id"]
    assert_feature_collection(admin.get(path, params={"limit": 3}).json())
    assert sid in listed(admin, path, district=HOME_DISTRICT)
    assert sid not in listed(admin, path, district=OTHER_DISTRICT)
    assert sid in listed(admin, path, status="suspended")
    assert sid not in listed(admin, path, status="active")
    assert listed(admin, path, bbox=bbox_around(lon, lat)) == [sid]
    assert sid not in listed(admin, path, bbox=bbox_around(*BO))
    stamp = made["properties"]["updated_at"]
    assert sid in listed(admin, path, updated_since=since(stamp, -1))
    assert sid not in listed(admin, path, updated_since=since(stamp, 3600))


def test_site_pages_walk_every_record_once(officer: httpx.Client, admin: httpx.Client) -> None:
    lon, lat = free_spot(admin)
    mine = {create_site(officer, lon + i * 0.0015, lat)["id"] for i in range(5)}
    walked = assert_walk_matches_one_page(
        admin, f"{API}/sites", {"bbox": bbox_around(lon, lat, 0.01)}, limit=2
    )
    assert set(walked) == mine
    assert_walk_matches_one_page(admin, f"{API}/sites", {"district": HOME_DISTRICT}, limit=50)


# --- site visits ------------------------------------------------------------------------------


def test_site_visit_is_recorded_as_a_point_read_corrected_and_audited(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    lon, lat = free_spot(admin)
    site = create_site(officer, lon, lat)
    r = officer.post(
        f"{API}/site-visits",
        json=visit_feature(site["id"], lon + 0.0005, lat + 0.0005, notes="busy"),
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["type"] == "Feature"
    assert made["geometry"] == {
        "type": "Point",
        "coordinates": [round(lon + 0.0005, 7), round(lat + 0.0005, 7)],
    }
    props = made["properties"]
    assert props["site_id"] == site["id"]
    assert props["district"] == HOME_DISTRICT
    assert props["diggers_counted"] == 12
    assert Decimal(props["distance_to_site_m"]) == 0, "a visit inside the site is 0 m from it"
    assert props["version"] == 1
    url = f"{API}/site-visits/{made['id']}"
    assert snapshot(officer, url) == made

    r = officer.patch(url, json=feature(None, {"version": 1, "diggers_counted": 30}))
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["version"] == 2
    assert r.json()["properties"]["diggers_counted"] == 30
    assert r.json()["properties"]["notes"] == "busy"
    assert snapshot(admin, url) == r.json()
    assert_audited(admin, made["id"], "site_visit")


def test_site_visit_away_from_the_site_records_its_distance(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    lon, lat = free_spot(admin)
    site = create_site(officer, lon, lat)
    r = officer.post(
        f"{API}/site-visits", json=visit_feature(site["id"], lon + 0.011, lat + 0.0005)
    )
    assert r.status_code == 201, r.text
    metres = Decimal(r.json()["properties"]["distance_to_site_m"])
    assert 1050 < metres < 1150  # 0.01 degree of longitude at 8.6 N is about 1.1 km


def test_site_visit_list_filters_by_district_site_bbox_and_updated_since(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    lon, lat = free_spot(admin)
    site = create_site(officer, lon, lat)
    made = officer.post(f"{API}/site-visits", json=visit_feature(site["id"], lon, lat)).json()
    path, vid = f"{API}/site-visits", made["id"]
    assert_feature_collection(admin.get(path, params={"limit": 3}).json())
    assert vid in listed(admin, path, district=HOME_DISTRICT)
    assert vid not in listed(admin, path, district=OTHER_DISTRICT)
    assert listed(admin, path, site_id=site["id"]) == [vid]
    assert listed(admin, path, bbox=bbox_around(lon, lat)) == [vid]
    assert vid not in listed(admin, path, bbox=bbox_around(*BO))
    stamp = made["properties"]["updated_at"]
    assert vid in listed(admin, path, updated_since=since(stamp, -1))
    assert vid not in listed(admin, path, updated_since=since(stamp, 3600))


def test_site_visit_pages_walk_every_record_once(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    lon, lat = free_spot(admin)
    site = create_site(officer, lon, lat)
    mine = set()
    for n in range(5):
        r = officer.post(
            f"{API}/site-visits", json=visit_feature(site["id"], lon, lat, diggers_counted=n)
        )
        assert r.status_code == 201, r.text
        mine.add(r.json()["id"])
    walked = assert_walk_matches_one_page(
        admin, f"{API}/site-visits", {"site_id": site["id"]}, limit=2
    )
    assert set(walked) == mine


# --- no hard delete ---------------------------------------------------------------------------


def test_no_registry_record_can_be_hard_deleted(
    api: Api, officer: httpx.Client, admin: httpx.Client
) -> None:
    lon, lat = free_spot(admin)
    site = create_site(officer, lon, lat)
    visit = officer.post(f"{API}/site-visits", json=visit_feature(site["id"], lon, lat)).json()
    licence = create_mining_licence(admin, lon + 0.003, lat + 0.003)
    paths = [
        f"{API}/jurisdictions/{HOME_DISTRICT}",
        f"{API}/organisations/{api.organisations['buying_office']}",
        f"{API}/miners/{licence['properties']['holder_miner_id']}",
        f"{API}/licences/{licence['id']}",
        f"{API}/sites/{site['id']}",
        f"{API}/site-visits/{visit['id']}",
    ]
    undeletable = [
        p for p in paths if "/miners/" not in p and "/sites/" not in p and "/site-visits/" not in p
    ]
    tombstoned = [p for p in paths if p not in undeletable]
    for path in undeletable:  # no delete at all: licences change status, the rest stand
        before = snapshot(admin, path)
        assert_problem(admin.delete(path), 405)
        assert snapshot(admin, path) == before
    for path in tombstoned:  # a delete needs the version read, and leaves a tombstone
        before = snapshot(admin, path)
        assert_problem(admin.delete(path), 422, "query.version")
        assert snapshot(admin, path) == before


def test_delete_leaves_a_tombstone_that_leaves_lists_and_keeps_its_audit_trail(
    officer: httpx.Client, admin: httpx.Client
) -> None:
    lon, lat = free_spot(admin)
    site = create_site(officer, lon, lat)
    path = f"{API}/sites/{site['id']}"
    stale = officer.delete(path, params={"version": 99})
    assert stale.status_code == 409
    gone = officer.delete(path, params={"version": site["properties"]["version"]})
    assert gone.status_code == 200, gone.text
    assert gone.json()["version"] == site["properties"]["version"] + 1
    assert officer.get(path).status_code == 404
    listed = officer.get(
        f"{API}/sites", params={"bbox": f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}"}
    )
    assert site["id"] not in {f["id"] for f in listed.json()["features"]}
    trail = admin.get(f"{API}/audit", params={"entity_id": site["id"]}).json()["items"]
    assert [e["action"] for e in trail] == ["create", "delete"]
    assert trail[-1]["after"]["deleted_at"] is not None


def test_audit_entry_names_the_device_a_change_came_from(api: Api) -> None:
    device = f"tablet-{uuid.uuid4().hex[:8]}"
    with api.client("officer") as c:
        r = c.post(
            "/api/v1/miners",
            json={"full_name": f"Device Test {device}", "district": "SL-E-KO"},
            headers={"X-Device-Id": device},
        )
    assert r.status_code == 201, r.text
    with api.client("auditor") as c:
        entries = c.get("/api/v1/audit", params={"entity_id": r.json()["id"]}).json()["items"]
    assert [(e["action"], e["device_id"], e["username"]) for e in entries] == [
        ("create", device, api.users["officer"].username)
    ]
