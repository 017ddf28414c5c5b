"""Builders for end-to-end requests: GeoJSON shapes, registry bodies, problem checks, free spots."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from functools import cache
from typing import Any

import httpx
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from geodata.boundaries import demo_country

HOME_DISTRICT = "SL-E-KO"  # Kono: the field officer's district
OTHER_DISTRICT = "SL-S-BO"  # Bo
KONO = (-10.97, 8.64)  # Koidu
BO = (-11.74, 7.96)  # Bo town
PROBLEM = "application/problem+json"

Json = dict[str, Any]


def unique(prefix: str) -> str:
    """A name no other test (or earlier run on the same database) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def square(lon: float, lat: float, size_deg: float = 0.001) -> Json:
    """A closed counter-clockwise GeoJSON Polygon, side `size_deg`, SW corner at lon, lat."""
    s = size_deg
    ring = [[lon, lat], [lon + s, lat], [lon + s, lat + s], [lon, lat + s], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def point(lon: float, lat: float) -> Json:
    return {"type": "Point", "coordinates": [lon, lat]}


def feature(geometry: Json | None, properties: Json) -> Json:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def site_feature(
    lon: float = KONO[0],
    lat: float = KONO[1],
    *,
    name: str | None = None,
    district: str = HOME_DISTRICT,
    size_deg: float = 0.001,
    geometry: Json | None = None,
    **properties: Any,
) -> Json:
    props = {"name": unique("site") if name is None else name, "district": district, **properties}
    return feature(geometry if geometry is not None else square(lon, lat, size_deg), props)


def licence_feature(
    *,
    kind: str = "artisanal_mining",
    number: str | None = None,
    geometry: Json | None = None,
    valid_from: date | None = None,
    valid_to: date | None = None,
    **properties: Any,
) -> Json:
    """A licence Feature; a mining licence needs holder_miner_id, district and a geometry."""
    start = valid_from or date.today() - timedelta(days=10)
    props: Json = {
        "kind": kind,
        "number": number or unique("E2E-LIC"),
        "valid_from": start.isoformat(),
        "valid_to": (valid_to or start + timedelta(days=365)).isoformat(),
    }
    props.update(properties)
    return feature(geometry, props)


def miner_body(*, district: str = HOME_DISTRICT, **properties: Any) -> Json:
    return {"full_name": unique("Miner"), "district": district, **properties}


def visit_feature(site_id: str, lon: float, lat: float, **properties: Any) -> Json:
    props = {
        "site_id": site_id,
        "visited_at": "2025-06-01T09:30:00Z",
        "diggers_counted": 12,
        **properties,
    }
    return feature(point(lon, lat), props)


def snapshot(client: httpx.Client, path: str) -> Json:
    """The resource as the API shows it now (asserting it is there)."""
    r = client.get(path)
    assert r.status_code == 200, r.text
    body: Json = r.json()
    return body


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> Json:
    """An RFC 9457 problem with this status whose `errors` name `field` (dotted name or pointer)."""
    assert response.status_code == status, (
        f"expected {status}, got {response.status_code}: {response.text}"
    )
    assert response.headers["content-type"].split(";")[0] == PROBLEM, response.headers[
        "content-type"
    ]
    body: Json = response.json()
    for member in ("type", "title", "status", "detail", "instance"):
        assert member in body, f"problem lacks {member}: {body}"
    assert body["status"] == status
    if field is not None:
        pointer = "#/" + field.replace(".", "/").lstrip("/")
        named = [(e.get("field"), e.get("pointer")) for e in body.get("errors", [])]
        # a pointer deeper into the field (a ring, a coordinate) still names it
        assert any(
            f == field or str(f).startswith(field + ".") or p in (pointer, field) for f, p in named
        ), f"{field} not named in {named}: {body['detail']}"
    return body


def ids(collection: Json) -> list[str]:
    if "features" in collection:
        return [f["id"] for f in collection["features"]]
    return [item["id"] for item in collection["items"]]


def walk(client: httpx.Client, path: str, params: Json) -> list[str]:
    """Every id of a list, page by page through next_cursor."""
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(1000):
        r = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        page = ids(body)
        assert len(page) <= int(params.get("limit", 100))
        seen.extend(page)
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


@cache
def district_boundary(code: str) -> BaseGeometry:
    for region in demo_country()["regions"]:
        for d in region["districts"]:
            if d["code"] == code:
                return d["boundary"]
    raise KeyError(code)


def free_spot(
    admin: httpx.Client, district: str = HOME_DISTRICT, margin_deg: float = 0.02
) -> tuple[float, float]:
    """A random point well inside `district` with no licensed area or site within ~1 km.

    Licences persist across tests, and a new mining licence over an older one is refused, so
    every test that maps an area takes a spot of its own.
    """
    inner = district_boundary(district).buffer(-margin_deg)
    minx, miny, maxx, maxy = inner.bounds
    rng = random.Random(uuid.uuid4().int)
    for _ in range(200):
        lon, lat = round(rng.uniform(minx, maxx), 5), round(rng.uniform(miny, maxy), 5)
        if not inner.contains(Point(lon, lat)):
            continue
        bbox = f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}"
        if all(
            _empty(admin.get(path, params={"bbox": bbox, "limit": 1}))
            for path in ("/api/v1/licences", "/api/v1/sites")
        ):
            return lon, lat
    raise AssertionError(f"no free spot found in {district}")


def _empty(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.json()["features"] == []


def bbox_around(lon: float, lat: float, pad: float = 0.005) -> str:
    return f"{lon - pad},{lat - pad},{lon + pad},{lat + pad}"


# --- creating records through the API ---------------------------------------------------------


def created(response: httpx.Response) -> Json:
    assert response.status_code == 201, response.text
    body: Json = response.json()
    return body


def create_miner(client: httpx.Client, **properties: Any) -> Json:
    return created(client.post("/api/v1/miners", json=miner_body(**properties)))


def create_site(client: httpx.Client, lon: float, lat: float, **properties: Any) -> Json:
    return created(client.post("/api/v1/sites", json=site_feature(lon, lat, **properties)))


def create_mining_licence(
    admin: httpx.Client,
    lon: float,
    lat: float,
    *,
    district: str = HOME_DISTRICT,
    size_deg: float = 0.002,
    **properties: Any,
) -> Json:
    """A miner of `district` and an artisanal mining licence over a square at lon, lat."""
    miner = create_miner(admin, district=district)
    body = licence_feature(
        geometry=square(lon, lat, size_deg),
        holder_miner_id=miner["id"],
        district=district,
        **properties,
    )
    return created(admin.post("/api/v1/licences", json=body))


def create_organisation(admin: httpx.Client, **properties: Any) -> Json:
    body = {
        "name": unique("E2E Org"),
        "kind": "buying_office",
        "country_code": "SL",
        "district": HOME_DISTRICT,
        **properties,
    }
    return created(admin.post("/api/v1/organisations", json=body))


def create_region(admin: httpx.Client, lon: float, lat: float, **properties: Any) -> Json:
    """A test jurisdiction of level region: never a district, so no placement depends on it."""
    code = "SL-" + uuid.uuid4().hex[:6].upper()
    props = {
        "code": code,
        "name": unique("Region"),
        "level": "region",
        "country_code": "SL",
        "parent_code": "SL",
        **properties,
    }
    return created(admin.post("/api/v1/jurisdictions", json=feature(square(lon, lat, 0.01), props)))
