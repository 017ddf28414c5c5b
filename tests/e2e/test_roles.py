"""Each role's scope over real HTTP: what it may read and write, what it is refused, and tokens.

Records persist between tests here, so every test makes its own with unique names and reads
them back by id; no test counts what the whole database holds.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from backend.auth.models import Token
from backend.clock import utcnow
from tests.e2e.conftest import HOME_DISTRICT, OTHER_DISTRICT, PASSWORD, Api

API = "/api/v1"
KOIDU = (-10.97, 8.64)  # in Kono, the field officer's district
BO_TOWN = (-11.74, 7.96)  # in Bo, outside it
PROBLEM = "application/problem+json"

EVERY_ROLE = [
    "admin",
    "ministry",
    "officer",
    "officer_bo",
    "buyer",
    "exporter",
    "export_office",
    "donor",
    "auditor",
]
READ_ONLY = ["buyer", "exporter", "export_office", "donor", "auditor"]


# --- helpers ---------------------------------------------------------------------------------


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _square(
    centre: tuple[float, float], *, jitter: float = 0.0, half: float = 0.0003
) -> dict[str, Any]:
    """A small GeoJSON square (about 65 m a side) near centre, moved by up to `jitter` degrees."""
    rng = random.Random()
    lon = centre[0] + rng.uniform(-jitter, jitter)
    lat = centre[1] + rng.uniform(-jitter, jitter)
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def _centre(polygon: dict[str, Any]) -> dict[str, Any]:
    ring = polygon["coordinates"][0]
    return {
        "type": "Point",
        "coordinates": [(ring[0][0] + ring[2][0]) / 2, (ring[0][1] + ring[2][1]) / 2],
    }


def _feature(geometry: dict[str, Any] | None, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (
        f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text}"
    )
    return r.json()


def _refused(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, (
        f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text}"
    )
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


def _all(c: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a listing, following next_cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 1000, **params} | ({"cursor": cursor} if cursor else {})
        body = _ok(c.get(path, params=query))
        items += body["features"] if "features" in body else body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items


def _district(item: dict[str, Any]) -> str:
    return str(item["properties"]["district"] if "properties" in item else item["district"])


def _today() -> date:
    return utcnow().date()


def _miner_body(district: str, tag: str) -> dict[str, Any]:
    return {
        "full_name": f"Tamba Lahai {tag}",
        "national_id": f"SLT{tag}",
        "phone": f"+232 76 {int(tag, 16) % 10**6:06d}",
        "district": district,
    }


def _site_body(district: str, centre: tuple[float, float], tag: str) -> dict[str, Any]:
    return _feature(_square(centre, jitter=0.01), name=f"test pit {tag}", district=district)


def _visit_body(
    site: dict[str, Any], notes: str | None = "two pits flooded; talked to the gang leader"
) -> dict[str, Any]:
    visited = (utcnow() - timedelta(hours=3)).isoformat().replace("+00:00", "Z")
    return _feature(
        _centre(site["geometry"]),
        site_id=site["id"],
        visited_at=visited,
        diggers_counted=23,
        notes=notes,
    )


def _mining_licence_body(
    miner: dict[str, Any], district: str, area: dict[str, Any] | None = None
) -> dict[str, Any]:
    return _feature(
        area,
        kind="artisanal_mining",
        number=f"AML-E2E-{_tag()}",
        holder_miner_id=miner["id"],
        district=district,
        valid_from=str(_today() - timedelta(days=10)),
        valid_to=str(_today() + timedelta(days=355)),
    )


def _trade_licence_body(organisation_id: uuid.UUID, kind: str = "buyer") -> dict[str, Any]:
    return _feature(
        None,
        kind=kind,
        number=f"{kind.upper()[:3]}-E2E-{_tag()}",
        holder_organisation_id=str(organisation_id),
        valid_from=str(_today() - timedelta(days=10)),
        valid_to=str(_today() + timedelta(days=355)),
        fit_and_proper=True,
    )


# --- the records every test reads ------------------------------------------------------------


@dataclass
class World:
    """Records in Kono (by the Kono officer) and in Bo (by the Bo officer and the ministry)."""

    miner_ko: dict[str, Any]
    miner_bo: dict[str, Any]
    miner_bo_ministry: dict[str, Any]
    site_ko: dict[str, Any]
    site_bo: dict[str, Any]
    site_bo_ministry: dict[str, Any]
    visit_ko: dict[str, Any]
    visit_bo: dict[str, Any]
    licence_ko: dict[str, Any]
    licence_bo: dict[str, Any]
    buyer_licence: dict[str, Any]
    exporter_licence: dict[str, Any]


@pytest.fixture(scope="module")
def world(api: Api) -> World:
    with api.client("officer") as ko, api.client("officer_bo") as bo, api.client("ministry") as m:
        miner_ko = _ok(ko.post(f"{API}/miners", json=_miner_body(HOME_DISTRICT, _tag())), 201)
        miner_bo = _ok(bo.post(f"{API}/miners", json=_miner_body(OTHER_DISTRICT, _tag())), 201)
        miner_bo_ministry = _ok(
            m.post(f"{API}/miners", json=_miner_body(OTHER_DISTRICT, _tag())), 201
        )
        site_ko = _ok(ko.post(f"{API}/sites", json=_site_body(HOME_DISTRICT, KOIDU, _tag())), 201)
        site_bo = _ok(
            bo.post(f"{API}/sites", json=_site_body(OTHER_DISTRICT, BO_TOWN, _tag())), 201
        )
        site_bo_ministry = _ok(
            m.post(f"{API}/sites", json=_site_body(OTHER_DISTRICT, BO_TOWN, _tag())), 201
        )
        visit_ko = _ok(ko.post(f"{API}/site-visits", json=_visit_body(site_ko)), 201)
        visit_bo = _ok(bo.post(f"{API}/site-visits", json=_visit_body(site_bo)), 201)
        licence_ko = _ok(
            m.post(f"{API}/licences", json=_mining_licence_body(miner_ko, HOME_DISTRICT)), 201
        )
        licence_bo = _ok(
            m.post(f"{API}/licences", json=_mining_licence_body(miner_bo, OTHER_DISTRICT)), 201
        )
        buyer_licence = _ok(
            m.post(f"{API}/licences", json=_trade_licence_body(api.organisations["buying_office"])),
            201,
        )
        exporter_licence = _ok(
            m.post(
                f"{API}/licences",
                json=_trade_licence_body(api.organisations["exporter"], "exporter"),
            ),
            201,
        )
    return World(
        miner_ko,
        miner_bo,
        miner_bo_ministry,
        site_ko,
        site_bo,
        site_bo_ministry,
        visit_ko,
        visit_bo,
        licence_ko,
        licence_bo,
        buyer_licence,
        exporter_licence,
    )


# --- writes: who is refused -----------------------------------------------------------------

Request = tuple[str, str, dict[str, Any]]


def _write_requests(api: Api, w: World) -> dict[str, Request]:
    """One valid write of each kind on the Kono records of the world (scope is not the reason)."""
    org = api.organisations["buying_office"]
    return {
        "create-miner": ("POST", "/miners", _miner_body(HOME_DISTRICT, _tag())),
        "update-miner": (
            "PATCH",
            f"/miners/{w.miner_ko['id']}",
            {"version": 1, "phone": "+232 76 111111"},
        ),
        "create-site": ("POST", "/sites", _site_body(HOME_DISTRICT, KOIDU, _tag())),
        "update-site": (
            "PATCH",
            f"/sites/{w.site_ko['id']}",
            _feature(None, version=1, notes="refused"),
        ),
        "create-visit": ("POST", "/site-visits", _visit_body(w.site_ko)),
        "update-visit": (
            "PATCH",
            f"/site-visits/{w.visit_ko['id']}",
            _feature(None, version=1, diggers_counted=1),
        ),
        "create-licence": ("POST", "/licences", _trade_licence_body(org)),
        "update-licence": (
            "PATCH",
            f"/licences/{w.licence_ko['id']}",
            _feature(None, version=1, valid_to=str(_today())),
        ),
        "licence-status": (
            "POST",
            f"/licences/{w.licence_ko['id']}/status",
            {"version": 1, "status": "suspended", "reason": "refused"},
        ),
        "create-organisation": (
            "POST",
            "/organisations",
            {"name": f"Refused Ltd {_tag()}", "kind": "buying_office", "country_code": "SL"},
        ),
        "update-organisation": (
            "PATCH",
            f"/organisations/{org}",
            {"version": 1, "address": "refused"},
        ),
        "create-jurisdiction": (
            "POST",
            "/jurisdictions",
            _feature(
                None,
                code=f"SL-R{_tag()[:5].upper()}",
                name="Refused",
                level="region",
                country_code="SL",
                parent_code="SL",
            ),
        ),
        "update-jurisdiction": (
            "PATCH",
            f"/jurisdictions/{HOME_DISTRICT}",
            _feature(None, version=1, name="Refused"),
        ),
        "create-user": (
            "POST",
            "/users",
            {"username": f"refused-{_tag()}", "password": PASSWORD, "role": "auditor"},
        ),
        "update-user": (
            "PATCH",
            f"/users/{api.users['auditor'].id}",
            {"version": 1, "active": False},
        ),
    }


REGISTRY_WRITES = [
    "create-miner",
    "update-miner",
    "create-site",
    "update-site",
    "create-visit",
    "update-visit",
    "create-licence",
    "update-licence",
    "licence-status",
    "create-organisation",
    "update-organisation",
    "create-jurisdiction",
    "update-jurisdiction",
]
USER_WRITES = ["create-user", "update-user"]
ADMINISTRATION = [
    "create-licence",
    "update-licence",
    "licence-status",
    "create-organisation",
    "update-organisation",
    "create-jurisdiction",
    "update-jurisdiction",
    *USER_WRITES,
]

REFUSED_WRITES = (
    [(who, action) for who in READ_ONLY for action in REGISTRY_WRITES + USER_WRITES]
    + [("officer", action) for action in ADMINISTRATION]
    + [("ministry", action) for action in USER_WRITES]
)


@pytest.mark.parametrize(
    ("who", "action"), REFUSED_WRITES, ids=[f"{w}-{a}" for w, a in REFUSED_WRITES]
)
def test_role_is_refused_a_write_with_403_and_nothing_changes(
    api: Api, world: World, who: str, action: str
) -> None:
    method, path, body = _write_requests(api, world)[action]
    with api.client(who) as c:
        problem = _refused(c.request(method, API + path, json=body), 403)
    assert problem["type"].endswith("/forbidden")
    with api.client("admin") as admin:
        assert _ok(admin.get(f"{API}/miners/{world.miner_ko['id']}"))["version"] == 1
        assert (
            _ok(admin.get(f"{API}/licences/{world.licence_ko['id']}"))["properties"]["status"]
            == "active"
        )
        assert _ok(admin.get(f"{API}/sites/{world.site_ko['id']}"))["properties"]["version"] == 1


# --- writes: who is allowed ------------------------------------------------------------------


def _create_miner(c: httpx.Client, api: Api) -> None:
    body = _ok(c.post(f"{API}/miners", json=_miner_body(OTHER_DISTRICT, _tag())), 201)
    assert body["district"] == OTHER_DISTRICT and body["version"] == 1


def _update_miner(c: httpx.Client, api: Api) -> None:
    miner = _ok(c.post(f"{API}/miners", json=_miner_body(OTHER_DISTRICT, _tag())), 201)
    body = _ok(c.patch(f"{API}/miners/{miner['id']}", json={"version": 1, "status": "inactive"}))
    assert (body["status"], body["version"]) == ("inactive", 2)


def _create_site(c: httpx.Client, api: Api) -> None:
    body = _ok(c.post(f"{API}/sites", json=_site_body(OTHER_DISTRICT, BO_TOWN, _tag())), 201)
    assert float(body["properties"]["area_ha"]) > 0


def _update_site(c: httpx.Client, api: Api) -> None:
    site = _ok(c.post(f"{API}/sites", json=_site_body(OTHER_DISTRICT, BO_TOWN, _tag())), 201)
    body = _ok(
        c.patch(f"{API}/sites/{site['id']}", json=_feature(None, version=1, status="closed"))
    )
    assert (body["properties"]["status"], body["properties"]["version"]) == ("closed", 2)


def _create_visit(c: httpx.Client, api: Api) -> None:
    site = _ok(c.post(f"{API}/sites", json=_site_body(OTHER_DISTRICT, BO_TOWN, _tag())), 201)
    body = _ok(c.post(f"{API}/site-visits", json=_visit_body(site)), 201)
    assert body["properties"]["distance_to_site_m"] == "0.0"


def _update_visit(c: httpx.Client, api: Api) -> None:
    site = _ok(c.post(f"{API}/sites", json=_site_body(OTHER_DISTRICT, BO_TOWN, _tag())), 201)
    visit = _ok(c.post(f"{API}/site-visits", json=_visit_body(site)), 201)
    body = _ok(
        c.patch(
            f"{API}/site-visits/{visit['id']}", json=_feature(None, version=1, diggers_counted=3)
        )
    )
    assert body["properties"]["diggers_counted"] == 3


def _create_licence(c: httpx.Client, api: Api) -> None:
    miner = _ok(c.post(f"{API}/miners", json=_miner_body(OTHER_DISTRICT, _tag())), 201)
    area = _square(BO_TOWN, jitter=0.03, half=0.0002)
    body = _ok(
        c.post(f"{API}/licences", json=_mining_licence_body(miner, OTHER_DISTRICT, area)), 201
    )
    assert body["properties"]["holder_miner_id"] == miner["id"]
    assert float(body["properties"]["area_ha"]) > 0


def _update_licence(c: httpx.Client, api: Api) -> None:
    lic = _ok(
        c.post(f"{API}/licences", json=_trade_licence_body(api.organisations["buying_office"])), 201
    )
    body = _ok(
        c.patch(f"{API}/licences/{lic['id']}", json=_feature(None, version=1, fit_and_proper=False))
    )
    assert body["properties"]["fit_and_proper"] is False


def _licence_status(c: httpx.Client, api: Api) -> None:
    lic = _ok(
        c.post(
            f"{API}/licences", json=_trade_licence_body(api.organisations["exporter"], "exporter")
        ),
        201,
    )
    body = _ok(
        c.post(
            f"{API}/licences/{lic['id']}/status",
            json={"version": 1, "status": "suspended", "reason": "audit"},
        )
    )
    assert body["properties"]["status"] == "suspended"
    history = _ok(c.get(f"{API}/licences/{lic['id']}/history"))["items"]
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "active"),
        ("active", "suspended"),
    ]


def _create_organisation(c: httpx.Client, api: Api) -> None:
    body = _ok(
        c.post(
            f"{API}/organisations",
            json={"name": f"Test Exports {_tag()}", "kind": "exporter", "country_code": "SL"},
        ),
        201,
    )
    assert body["kind"] == "exporter"


def _update_organisation(c: httpx.Client, api: Api) -> None:
    org = _ok(
        c.post(
            f"{API}/organisations",
            json={"name": f"Test Buying {_tag()}", "kind": "buying_office", "country_code": "SL"},
        ),
        201,
    )
    body = _ok(c.patch(f"{API}/organisations/{org['id']}", json={"version": 1, "active": False}))
    assert body["active"] is False


def _jurisdiction(c: httpx.Client) -> dict[str, Any]:
    code = f"SL-T{_tag()[:5].upper()}"
    return _ok(
        c.post(
            f"{API}/jurisdictions",
            json=_feature(
                None,
                code=code,
                name=f"Test region {code}",
                level="region",
                country_code="SL",
                parent_code="SL",
            ),
        ),
        201,
    )


def _create_jurisdiction(c: httpx.Client, api: Api) -> None:
    assert _jurisdiction(c)["properties"]["level"] == "region"


def _update_jurisdiction(c: httpx.Client, api: Api) -> None:
    code = _jurisdiction(c)["properties"]["code"]
    body = _ok(
        c.patch(
            f"{API}/jurisdictions/{code}", json=_feature(None, version=1, name="Renamed region")
        )
    )
    assert body["properties"]["name"] == "Renamed region"


NATIONAL_WRITES: dict[str, Callable[[httpx.Client, Api], None]] = {
    "create-miner": _create_miner,
    "update-miner": _update_miner,
    "create-site": _create_site,
    "update-site": _update_site,
    "create-visit": _create_visit,
    "update-visit": _update_visit,
    "create-licence": _create_licence,
    "update-licence": _update_licence,
    "licence-status": _licence_status,
    "create-organisation": _create_organisation,
    "update-organisation": _update_organisation,
    "create-jurisdiction": _create_jurisdiction,
    "update-jurisdiction": _update_jurisdiction,
}
ALLOWED_WRITES = [(who, action) for who in ("admin", "ministry") for action in NATIONAL_WRITES]


@pytest.mark.parametrize(
    ("who", "action"), ALLOWED_WRITES, ids=[f"{w}-{a}" for w, a in ALLOWED_WRITES]
)
def test_ministry_and_admin_write_every_registry_record_in_any_district(
    api: Api, who: str, action: str
) -> None:
    with api.client(who) as c:
        NATIONAL_WRITES[action](c, api)


def test_only_admin_creates_users(api: Api) -> None:
    with api.client("admin") as c:
        body = _ok(
            c.post(
                f"{API}/users",
                json={
                    "username": f"new-officer-{_tag()}",
                    "password": PASSWORD,
                    "role": "field_officer",
                    "districts": [HOME_DISTRICT],
                },
            ),
            201,
        )
    assert body["role"] == "field_officer" and body["districts"] == [HOME_DISTRICT]


@pytest.mark.parametrize("who", EVERY_ROLE)
def test_only_admin_lists_users(api: Api, who: str) -> None:
    with api.client(who) as c:
        r = c.get(f"{API}/users")
    if who == "admin":
        assert _ok(r)["items"]
    else:
        _refused(r, 403)


# --- field officer scope -----------------------------------------------------------------------

SCOPED = {
    "miners": ("miner_ko", "miner_bo", "miner_bo_ministry"),
    "sites": ("site_ko", "site_bo", "site_bo_ministry"),
    "site-visits": ("visit_ko", "visit_bo", None),
}


@pytest.mark.parametrize("resource", list(SCOPED))
def test_field_officer_lists_only_their_district(api: Api, world: World, resource: str) -> None:
    own, other, other_by_ministry = SCOPED[resource]
    with api.client("officer") as c:
        items = _all(c, f"{API}/{resource}")
    assert items and {_district(i) for i in items} == {HOME_DISTRICT}
    ids = {i["id"] for i in items}
    assert getattr(world, own)["id"] in ids
    assert getattr(world, other)["id"] not in ids
    if other_by_ministry:
        assert getattr(world, other_by_ministry)["id"] not in ids


@pytest.mark.parametrize("resource", list(SCOPED))
def test_field_officer_cannot_widen_a_listing_with_a_district_filter(
    api: Api, world: World, resource: str
) -> None:
    with api.client("officer") as c:
        assert _all(c, f"{API}/{resource}", district=OTHER_DISTRICT) == []


OUT_OF_DISTRICT = [
    ("miners", "miner_bo"),
    ("miners", "miner_bo_ministry"),
    ("sites", "site_bo"),
    ("sites", "site_bo_ministry"),
    ("site-visits", "visit_bo"),
    ("licences", "licence_bo"),
]


@pytest.mark.parametrize(
    ("resource", "record"), OUT_OF_DISTRICT, ids=[r for _, r in OUT_OF_DISTRICT]
)
def test_field_officer_gets_404_reading_a_record_of_another_district(
    api: Api, world: World, resource: str, record: str
) -> None:
    with api.client("officer") as c:
        _refused(c.get(f"{API}/{resource}/{getattr(world, record)['id']}"), 404)


def test_field_officer_gets_404_reading_the_history_of_another_district_licence(
    api: Api, world: World
) -> None:
    with api.client("officer") as c:
        _refused(c.get(f"{API}/licences/{world.licence_bo['id']}/history"), 404)


PATCHES = {
    "miners": {"version": 1, "phone": "+232 76 999999"},
    "sites": _feature(None, version=1, notes="edited from Kono"),
    "site-visits": _feature(None, version=1, diggers_counted=0),
}


@pytest.mark.parametrize(
    ("resource", "record"), OUT_OF_DISTRICT[:5], ids=[r for _, r in OUT_OF_DISTRICT[:5]]
)
def test_field_officer_gets_404_patching_a_record_of_another_district(
    api: Api, world: World, resource: str, record: str
) -> None:
    record_id = getattr(world, record)["id"]
    with api.client("officer") as c:
        _refused(c.patch(f"{API}/{resource}/{record_id}", json=PATCHES[resource]), 404)
    with api.client("ministry") as m:
        after = _ok(m.get(f"{API}/{resource}/{record_id}"))
    assert (after.get("properties") or after)["version"] == 1


def test_field_officer_gets_403_naming_district_creating_a_miner_in_another_district(
    api: Api,
) -> None:
    with api.client("officer") as c:
        problem = _refused(c.post(f"{API}/miners", json=_miner_body(OTHER_DISTRICT, _tag())), 403)
    assert [e["field"] for e in problem["errors"]] == ["district"]


def test_field_officer_gets_403_naming_district_mapping_a_site_in_another_district(
    api: Api,
) -> None:
    with api.client("officer") as c:
        problem = _refused(
            c.post(f"{API}/sites", json=_site_body(OTHER_DISTRICT, BO_TOWN, _tag())), 403
        )
    assert [e["field"] for e in problem["errors"]] == ["properties.district"]


def test_field_officer_cannot_record_a_visit_to_a_site_of_another_district(
    api: Api, world: World
) -> None:
    with api.client("officer") as c:
        problem = _refused(c.post(f"{API}/site-visits", json=_visit_body(world.site_bo)), 422)
    assert [e["field"] for e in problem["errors"]] == ["properties.site_id"]


def test_field_officer_cannot_link_a_site_to_a_licence_of_another_district(
    api: Api, world: World
) -> None:
    body = _site_body(HOME_DISTRICT, KOIDU, _tag())
    body["properties"]["licence_id"] = world.licence_bo["id"]
    with api.client("officer") as c:
        problem = _refused(c.post(f"{API}/sites", json=body), 422)
    assert [e["field"] for e in problem["errors"]] == ["properties.licence_id"]


def test_field_officer_registers_maps_and_visits_in_their_district(api: Api) -> None:
    with api.client("officer") as c:
        miner = _ok(c.post(f"{API}/miners", json=_miner_body(HOME_DISTRICT, _tag())), 201)
        site = _ok(c.post(f"{API}/sites", json=_site_body(HOME_DISTRICT, KOIDU, _tag())), 201)
        visit = _ok(c.post(f"{API}/site-visits", json=_visit_body(site)), 201)
        _ok(c.patch(f"{API}/miners/{miner['id']}", json={"version": 1, "phone": "+232 76 222222"}))
    assert (
        miner["district"]
        == site["properties"]["district"]
        == visit["properties"]["district"]
        == HOME_DISTRICT
    )
    assert visit["properties"]["officer_id"] == str(api.users["officer"].id)


def test_field_officer_sees_mining_licences_of_their_district_and_every_trade_licence(
    api: Api, world: World
) -> None:
    with api.client("officer") as c:
        items = _all(c, f"{API}/licences")
    ids = {i["id"] for i in items}
    assert {world.licence_ko["id"], world.buyer_licence["id"], world.exporter_licence["id"]} <= ids
    assert world.licence_bo["id"] not in ids
    mining = {
        i["properties"]["district"] for i in items if i["properties"]["kind"] == "artisanal_mining"
    }
    assert mining == {HOME_DISTRICT}
    assert {i["properties"]["kind"] for i in items} == {"artisanal_mining", "buyer", "exporter"}


# --- buyers and exporters ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["buyer", "exporter"])
def test_buyer_and_exporter_see_only_name_and_licence_numbers_of_miners(
    api: Api, world: World, who: str
) -> None:
    with api.client(who) as c:
        listing = c.get(f"{API}/miners", params={"limit": 1000})
        items = _ok(listing)["items"]
        one = _ok(c.get(f"{API}/miners/{world.miner_ko['id']}"))
    assert items
    assert all(set(i) == {"id", "full_name", "licence_numbers"} for i in items)
    assert set(one) == {"id", "full_name", "licence_numbers"}
    assert one["full_name"] == world.miner_ko["full_name"]
    assert one["licence_numbers"] == [world.licence_ko["properties"]["number"]]
    for secret in (world.miner_ko["national_id"], world.miner_ko["phone"]):
        assert secret not in listing.text and secret not in json.dumps(one)


@pytest.mark.parametrize("who", ["buyer", "exporter"])
@pytest.mark.parametrize("path", ["/site-visits", "/site-visits/{visit}"], ids=["list", "one"])
def test_buyer_and_exporter_cannot_read_site_visits(
    api: Api, world: World, who: str, path: str
) -> None:
    with api.client(who) as c:
        _refused(c.get(API + path.format(visit=world.visit_ko["id"])), 403)


@pytest.mark.parametrize("who", ["buyer", "exporter"])
def test_buyer_and_exporter_read_sites_and_licences(api: Api, world: World, who: str) -> None:
    with api.client(who) as c:
        _ok(c.get(f"{API}/sites/{world.site_bo['id']}"))
        _ok(c.get(f"{API}/licences/{world.licence_bo['id']}"))


# --- donor ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/miners", "/miners/{miner}"], ids=["list", "one"])
def test_donor_cannot_read_miners(api: Api, world: World, path: str) -> None:
    with api.client("donor") as c:
        _refused(c.get(API + path.format(miner=world.miner_ko["id"])), 403)


def test_donor_sees_site_visits_without_notes_or_officer(api: Api, world: World) -> None:
    with api.client("donor") as c:
        one = _ok(c.get(f"{API}/site-visits/{world.visit_ko['id']}"))["properties"]
        listed = [v for v in _all(c, f"{API}/site-visits") if v["id"] == world.visit_ko["id"]]
    assert world.visit_ko["properties"]["notes"] and world.visit_ko["properties"]["officer_id"]
    for props in (one, listed[0]["properties"]):
        assert props["notes"] is None and props["officer_id"] is None
        assert props["diggers_counted"] == 23


def test_donor_sees_licences_of_miners_without_holder(api: Api, world: World) -> None:
    with api.client("donor") as c:
        mining = _ok(c.get(f"{API}/licences/{world.licence_ko['id']}"))["properties"]
        buyer = _ok(c.get(f"{API}/licences/{world.buyer_licence['id']}"))["properties"]
    assert mining["holder_name"] is None and mining["holder_miner_id"] is None
    assert mining["number"] == world.licence_ko["properties"]["number"]
    assert buyer["holder_name"] == world.buyer_licence["properties"]["holder_name"] is not None


def test_donor_finds_no_personal_data_of_a_miner_in_licences_sites_or_visits(
    api: Api, world: World
) -> None:
    miner = world.miner_ko
    with api.client("donor") as c:
        texts = [
            json.dumps(_all(c, f"{API}/{resource}"))
            for resource in ("licences", "sites", "site-visits")
        ]
        for lic in (world.licence_ko, world.licence_bo):
            texts.append(c.get(f"{API}/licences/{lic['id']}").text)
            texts.append(c.get(f"{API}/licences/{lic['id']}/history").text)
        texts.append(c.get(f"{API}/sites/{world.site_ko['id']}").text)
    for secret in (miner["national_id"], miner["phone"], miner["full_name"], miner["id"]):
        assert not [t for t in texts if secret in t], secret


# --- export office and auditor -------------------------------------------------------------------

READABLE = {
    "miner": "/miners/{miner}",
    "site": "/sites/{site}",
    "visit": "/site-visits/{visit}",
    "licence": "/licences/{licence}",
    "licence-history": "/licences/{licence}/history",
    "organisation": "/organisations/{org}",
    "jurisdiction": "/jurisdictions/SL-S-BO",
    "miners": "/miners?limit=5",
    "sites": "/sites?limit=5",
    "visits": "/site-visits?limit=5",
    "licences": "/licences?limit=5",
    "organisations": "/organisations?limit=5",
    "jurisdictions": "/jurisdictions?limit=5&geometry=false",
}


@pytest.mark.parametrize("who", ["export_office", "auditor", "ministry", "admin"])
@pytest.mark.parametrize("what", list(READABLE))
def test_national_reader_reads_every_registry_record_in_any_district(
    api: Api, world: World, who: str, what: str
) -> None:
    url = API + READABLE[what].format(
        miner=world.miner_bo["id"],
        site=world.site_bo["id"],
        visit=world.visit_bo["id"],
        licence=world.licence_bo["id"],
        org=api.organisations["exporter"],
    )
    with api.client(who) as c:
        body = _ok(c.get(url))
    assert body.get("features", body.get("items", [body]))


@pytest.mark.parametrize("who", ["export_office", "auditor"])
def test_export_office_and_auditor_see_the_full_miner_and_visit(
    api: Api, world: World, who: str
) -> None:
    with api.client(who) as c:
        miner = _ok(c.get(f"{API}/miners/{world.miner_bo['id']}"))
        visit = _ok(c.get(f"{API}/site-visits/{world.visit_bo['id']}"))["properties"]
    assert miner["national_id"] == world.miner_bo["national_id"]
    assert visit["notes"] == world.visit_bo["properties"]["notes"]


# --- audit trail ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "ministry", "auditor"])
def test_audit_trail_is_readable_by_admin_ministry_and_auditor(
    api: Api, world: World, who: str
) -> None:
    with api.client(who) as c:
        items = _ok(c.get(f"{API}/audit", params={"entity_id": world.miner_ko["id"]}))["items"]
    assert [(e["action"], e["entity_type"]) for e in items] == [("create", "miner")]
    assert items[0]["user_id"] == str(api.users["officer"].id)


@pytest.mark.parametrize(
    "who", ["officer", "officer_bo", "buyer", "exporter", "export_office", "donor"]
)
def test_audit_trail_is_refused_to_other_roles(api: Api, who: str) -> None:
    with api.client(who) as c:
        _refused(c.get(f"{API}/audit"), 403)


# --- tokens --------------------------------------------------------------------------------------


def _new_user(api: Api, role: str = "auditor") -> tuple[str, str]:
    """A fresh user made by the admin over HTTP; (username, user id)."""
    username = f"tok-{_tag()}"
    with api.client("admin") as c:
        user = _ok(
            c.post(f"{API}/users", json={"username": username, "password": PASSWORD, "role": role}),
            201,
        )
    return username, str(user["id"])


def _login(api: Api, username: str, password: str = PASSWORD) -> httpx.Response:
    with api.client() as c:
        return c.post(f"{API}/auth/token", json={"username": username, "password": password})


def _me(api: Api, token: str) -> httpx.Response:
    with httpx.Client(base_url=api.base_url, headers={"Authorization": f"Bearer {token}"}) as c:
        return c.get(f"{API}/auth/me")


def _unauthenticated(r: httpx.Response) -> dict[str, Any]:
    problem = _refused(r, 401)
    assert r.headers["www-authenticate"].lower().startswith("bearer")
    return problem


def test_no_token_is_401_problem_with_www_authenticate(api: Api) -> None:
    with api.client() as c:
        problem = _unauthenticated(c.get(f"{API}/miners"))
    assert problem["type"].endswith("/unauthenticated")


@pytest.mark.parametrize(
    "header",
    ["Bearer at_not-a-token", "Bearer", "Basic YWRtaW46YWRtaW4=", "at_abc"],
    ids=["unknown-bearer", "empty-bearer", "basic", "no-scheme"],
)
def test_garbage_authorization_is_401(api: Api, header: str) -> None:
    with httpx.Client(base_url=api.base_url, headers={"Authorization": header}) as c:
        _unauthenticated(c.get(f"{API}/sites"))


def test_revoked_token_is_401_afterwards_and_other_tokens_still_work(api: Api) -> None:
    username, _ = _new_user(api)
    revoked, other = (_ok(_login(api, username))["access_token"] for _ in range(2))
    _ok(_me(api, revoked))
    with httpx.Client(base_url=api.base_url, headers={"Authorization": f"Bearer {revoked}"}) as c:
        assert _ok(c.post(f"{API}/auth/revoke", json={})) == {"revoked": 1}
    _unauthenticated(_me(api, revoked))
    assert _ok(_me(api, other))["username"] == username


def test_revoke_needs_no_request_body(api: Api) -> None:
    username, _ = _new_user(api)
    token = _ok(_login(api, username))["access_token"]
    with httpx.Client(base_url=api.base_url, headers={"Authorization": f"Bearer {token}"}) as c:
        assert _ok(c.post(f"{API}/auth/revoke")) == {"revoked": 1}
    _unauthenticated(_me(api, token))


def test_expired_token_is_401(api: Api) -> None:
    username, _ = _new_user(api)
    issued = _ok(_login(api, username))
    _ok(_me(api, issued["access_token"]))
    with api.engine.begin() as conn:
        conn.execute(
            update(Token)
            .where(Token.id == uuid.UUID(issued["token_id"]))  # type: ignore[arg-type]
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    problem = _unauthenticated(_me(api, issued["access_token"]))
    assert "expired" in problem["detail"]


def test_disabled_user_tokens_stop_working_and_no_new_one_is_issued(api: Api) -> None:
    username, user_id = _new_user(api)
    token = _ok(_login(api, username))["access_token"]
    _ok(_me(api, token))
    with api.client("admin") as c:
        assert (
            _ok(c.patch(f"{API}/users/{user_id}", json={"version": 1, "active": False}))["active"]
            is False
        )
    _unauthenticated(_me(api, token))
    _unauthenticated(_login(api, username))


def test_ministry_cannot_disable_a_user(api: Api) -> None:
    username, user_id = _new_user(api)
    with api.client("ministry") as c:
        _refused(c.patch(f"{API}/users/{user_id}", json={"version": 1, "active": False}), 403)
    _ok(_login(api, username))


def test_wrong_password_is_401_without_saying_which_credential_was_wrong(api: Api) -> None:
    username, _ = _new_user(api)
    wrong_password = _unauthenticated(_login(api, username, "not-the-password-at-all"))
    unknown_user = _unauthenticated(_login(api, f"nobody-{_tag()}", PASSWORD))
    assert wrong_password["detail"] == unknown_user["detail"]
    assert wrong_password.get("errors") == unknown_user.get("errors")
    assert username not in json.dumps(wrong_password)


@pytest.mark.parametrize("who", ["buyer", "exporter"])
def test_buyer_finds_a_seller_by_licence_number_but_cannot_filter_by_district(
    api: Api, who: str
) -> None:
    with api.client("ministry") as c:
        lic = c.get("/api/v1/licences", params={"kind": "artisanal_mining", "limit": 1}).json()[
            "features"
        ][0]
    number = lic["properties"]["number"]
    with api.client(who) as c:
        found = c.get("/api/v1/miners", params={"licence_number": number})
        refused = c.get("/api/v1/miners", params={"district": "SL-E-KO"})
    assert found.status_code == 200
    assert [m["licence_numbers"] for m in found.json()["items"]] == [[number]]
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "query.district"
