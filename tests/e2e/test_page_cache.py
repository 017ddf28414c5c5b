"""List pages served from a process's page cache are never stale and never another reader's.

The writer is the session's `python -m backend serve` (its own processes); the reader is a
second instance of the application, in this process, with its own cache, on the same database.
A third instance, with no cache, gives the answer every cached one must equal byte for byte.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from backend.api.pagecache import PageCache
from backend.app import create_app
from backend.clock import utcnow
from backend.settings import Settings
from tests.e2e.conftest import PASSWORD, Api, free_port
from tests.e2e.helpers import (
    HOME_DISTRICT,
    bbox_around,
    create_mining_licence,
    create_organisation,
    create_site,
    feature,
    free_spot,
    licence_feature,
    square,
    unique,
)
from tests.e2e.test_http_framing import serving
from tests.sync.server_helpers import Device

API = "/api/v1"
MIX = (f"{API}/sites?limit=100", f"{API}/lots?limit=100", f"{API}/miners?limit=100")
READERS = ("ministry", "officer", "officer_bo", "buyer", "exporter", "donor", "auditor")
Json = dict[str, Any]


@dataclass
class Instance:
    url: str
    cache: PageCache | None


def _instance(settings: Settings) -> Iterator[Instance]:
    app = create_app(settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), log_level="error", lifespan="off"
    )
    try:
        with serving(config):
            yield Instance(f"http://127.0.0.1:{config.port}", app.state.page_cache)
    finally:
        app.state.engine.dispose()  # lifespan is off: nobody else closes its pool


@pytest.fixture(scope="module")
def reader(engine: Engine, settings: Settings) -> Iterator[Instance]:
    """The application with its page cache (on by default), in this process."""
    yield from _instance(settings)


@pytest.fixture(scope="module")
def uncached(engine: Engine, settings: Settings) -> Iterator[Instance]:
    yield from _instance(dataclasses.replace(settings, page_cache_bytes=0))


@dataclass
class Answer:
    """An answer as sent: the body's bytes before any decoding, and every header."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def text(self) -> str:
        return self.json_bytes().decode(errors="replace")

    def json_bytes(self) -> bytes:
        if self.headers.get("content-encoding") == "gzip":
            return gzip.decompress(self.content)
        return self.content

    def json(self) -> Any:
        return json.loads(self.json_bytes())


def _get(api: Api, base: str, who: str, path: str, *, compressed: bool = True) -> Answer:
    headers = {
        # Pages link to themselves: one Host for every instance, so their answers can be equal.
        "Host": "api.example.org",
        "Authorization": f"Bearer {api.tokens[who]}",
        "Accept-Encoding": "gzip" if compressed else "identity",
    }
    with (
        httpx.Client(base_url=base, timeout=30) as client,
        client.stream("GET", path, headers=headers) as r,
    ):
        return Answer(r.status_code, r.headers, b"".join(r.iter_raw()))


def _cached(api: Api, reader: Instance, who: str, path: str) -> Json:
    """A page read twice through the reader: the second answer must come from its cache."""
    cache = reader.cache
    assert cache is not None
    first = _get(api, reader.url, who, path, compressed=False)
    assert first.status_code == 200, first.text
    hits = cache.hits
    again = _get(api, reader.url, who, path, compressed=False)
    assert cache.hits == hits + 1, "the second read of an unchanged page is a cache hit"
    assert again.content == first.content
    body: Json = again.json()
    return body


def _fresh(api: Api, reader: Instance, who: str, path: str) -> Json:
    r = _get(api, reader.url, who, path, compressed=False)
    assert r.status_code == 200, r.text
    body: Json = r.json()
    return body


def _headers(r: Answer) -> dict[str, str]:
    return {k: v for k, v in r.headers.items() if k not in ("date", "server")}


def _purchase(api: Api, origin: Json, tag: str) -> Json:
    body = {
        "kind": "purchase",
        "occurred_at": (utcnow() - timedelta(minutes=90)).isoformat(),
        "site_id": origin["site_id"],
        "miner_id": origin["miner_id"],
        "output": {"tag": tag, "carats": "1.000", "stone_count": 2},
        "price": "450.00",
        "currency": "USD",
        "usd_value": "450.00",
        "receipt_number": f"PC-{uuid.uuid4().hex[:10]}",
        "location": origin["location"],
    }
    with api.client("buyer") as c:
        r = c.post(f"{API}/custody-events", json=body)
    assert r.status_code == 201, r.text
    created: Json = r.json()
    return created


@pytest.fixture(scope="module")
def lots_of_two_parties(api: Api, origin: Json) -> None:
    """A buyer's purchase and a field officer's production: each reader sees other lots."""
    _purchase(api, origin, f"PC-{uuid.uuid4().hex[:8]}")
    produce = {
        "kind": "produce",
        "occurred_at": (utcnow() - timedelta(minutes=90)).isoformat(),
        "site_id": origin["site_id"],
        "miner_id": origin["miner_id"],
        "outputs": [{"tag": f"PC-{uuid.uuid4().hex[:8]}", "carats": "0.500", "stone_count": 1}],
    }
    with api.client("officer") as c:
        r = c.post(f"{API}/lots", json=produce)
    assert r.status_code == 201, r.text


# --- the cache changes no byte -------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "identity"])
def test_a_cached_page_is_byte_identical_to_an_uncached_answer_for_every_reader(
    api: Api, reader: Instance, uncached: Instance, compressed: bool, lots_of_two_parties: None
) -> None:
    """Every reader asks the same URLs of one warm cache, in turn: each gets its own answer."""
    assert reader.cache is not None and uncached.cache is None
    answers: dict[str, set[bytes]] = {path: set() for path in MIX}
    hits, pages = reader.cache.hits, 0
    for path in MIX:
        for who in READERS:
            cached = [_get(api, reader.url, who, path, compressed=compressed) for _ in range(2)]
            plain = _get(api, uncached.url, who, path, compressed=compressed)
            for r in cached:
                assert r.status_code == plain.status_code, (who, path, r.text)
                assert r.content == plain.content, (who, path)
                assert _headers(r) == _headers(plain), (who, path)
            if plain.status_code == 200:
                pages += 1
                answers[path].add(plain.content)
                if compressed and len(plain.content) > 1024:
                    assert plain.headers["content-encoding"] == "gzip"
    # The readers' scopes differ on every list, so a shared answer would show here.
    assert all(len(distinct) >= 3 for distinct in answers.values()), {
        p: len(d) for p, d in answers.items()
    }
    assert reader.cache.hits - hits >= pages, "each page's second read came from the cache"


def test_field_officers_of_two_districts_never_get_each_others_sites(
    api: Api, reader: Instance
) -> None:
    path = f"{API}/sites?limit=1000"
    for _ in range(2):
        for who, district in (("officer", HOME_DISTRICT), ("officer_bo", "SL-S-BO")):
            page = _cached(api, reader, who, path)
            seen = {f["properties"]["district"] for f in page["features"]}
            assert seen == {district}, (who, seen)


def test_a_buyer_never_gets_the_ministry_view_of_miners(api: Api, reader: Instance) -> None:
    path = f"{API}/miners?limit=20"
    for _ in range(2):
        full = _cached(api, reader, "ministry", path)["items"]
        reduced = _cached(api, reader, "buyer", path)["items"]
        assert all("national_id" in m for m in full)
        assert reduced and all(set(m) == {"id", "full_name", "licence_numbers"} for m in reduced)


# --- a write in another process is seen by the next read ----------------------------------------


def _before_and_after(
    api: Api, reader: Instance, who: str, path: str, write: Callable[[], None]
) -> tuple[Json, Json]:
    """The page before (served warm from the cache) and after a write by the other server."""
    before = _cached(api, reader, who, path)
    write()
    return before, _fresh(api, reader, who, path)


def test_a_site_renamed_through_rest_elsewhere_is_seen_through_a_warm_cache(
    api: Api, reader: Instance
) -> None:
    with api.client("admin") as admin, api.client("officer") as officer:
        lon, lat = free_spot(admin)
        site = create_site(officer, lon, lat)
        path = f"{API}/sites?bbox={bbox_around(lon, lat)}"
        new_name = f"renamed-{uuid.uuid4().hex[:8]}"

        def rename() -> None:
            body = feature(None, {"version": 1, "name": new_name})
            r = officer.patch(f"{API}/sites/{site['id']}", json=body)
            assert r.status_code == 200, r.text

        before, after = _before_and_after(api, reader, "officer", path, rename)
    names = {f["id"]: f["properties"]["name"] for f in after["features"]}
    assert before["features"][0]["properties"]["name"] == site["properties"]["name"]
    assert names[site["id"]] == new_name


def test_a_site_deleted_elsewhere_leaves_a_warm_page(api: Api, reader: Instance) -> None:
    with api.client("admin") as admin, api.client("officer") as officer:
        lon, lat = free_spot(admin)
        site = create_site(officer, lon, lat)
        path = f"{API}/sites?bbox={bbox_around(lon, lat)}"

        def delete() -> None:
            r = officer.delete(f"{API}/sites/{site['id']}", params={"version": 1})
            assert r.status_code == 200, r.text

        before, after = _before_and_after(api, reader, "officer", path, delete)
    assert [f["id"] for f in before["features"]] == [site["id"]]
    assert after["features"] == []


def test_a_licence_issued_elsewhere_shows_on_its_holders_warm_miners_page(
    api: Api, reader: Instance
) -> None:
    """The miner's row does not change; only the licence numbers shown beside it do."""
    with api.client("admin") as admin:
        lon, lat = free_spot(admin)
        first = create_mining_licence(admin, lon, lat)
        miner_id = first["properties"]["holder_miner_id"]
        number = first["properties"]["number"]
        path = f"{API}/miners?licence_number={number}"

        def issue_another() -> None:
            lon2, lat2 = free_spot(admin)
            body = licence_feature(
                geometry=square(lon2, lat2, 0.002),
                holder_miner_id=miner_id,
                district=HOME_DISTRICT,
            )
            r = admin.post(f"{API}/licences", json=body)
            assert r.status_code == 201, r.text
            issued.append(r.json()["properties"]["number"])

        issued: list[str] = []
        before, after = _before_and_after(api, reader, "ministry", path, issue_another)
    assert [m["licence_numbers"] for m in before["items"]] == [[number]]
    assert [m["licence_numbers"] for m in after["items"]] == [sorted([number, *issued])]


def test_lots_opened_and_consumed_elsewhere_are_seen_through_a_warm_cache(
    api: Api, reader: Instance, origin: Json
) -> None:
    tag = f"PC-{uuid.uuid4().hex[:8]}"
    path = f"{API}/lots?tag={tag}"

    opened: list[Json] = []
    before, after = _before_and_after(
        api, reader, "ministry", path, lambda: opened.append(_purchase(api, origin, tag))
    )
    assert before["items"] == []
    assert [lot["status"] for lot in after["items"]] == ["active"]

    other = _purchase(api, origin, f"PC-{uuid.uuid4().hex[:8]}")

    def consolidate() -> None:
        inputs = [str(e["outputs"][0]["lot_id"]) for e in (opened[0], other)]
        body = {
            "kind": "consolidate",
            "occurred_at": (utcnow() - timedelta(minutes=30)).isoformat(),
            "output": {"tag": f"PC-{uuid.uuid4().hex[:8]}", "carats": "2.000", "stone_count": 4},
            "inputs": inputs,
        }
        with api.client("buyer") as c:
            r = c.post(f"{API}/custody-events", json=body)
        assert r.status_code == 201, r.text

    before, after = _before_and_after(api, reader, "ministry", path, consolidate)
    assert [lot["status"] for lot in before["items"]] == ["active"]
    assert [lot["status"] for lot in after["items"]] != ["active"]


def test_a_miner_changed_through_a_sync_push_is_seen_through_a_warm_cache(
    api: Api, reader: Instance
) -> None:
    with api.client("officer") as officer:
        made = officer.post(
            f"{API}/miners", json={"full_name": unique("Miner"), "district": HOME_DISTRICT}
        )
    assert made.status_code == 201, made.text
    miner = made.json()
    since = (datetime.fromisoformat(miner["updated_at"]) - timedelta(seconds=1)).isoformat()
    path = f"{API}/miners?district={HOME_DISTRICT}&updated_since={quote(since)}"
    device = Device(api, "officer")
    new_name = unique("Renamed on a tablet")

    def push() -> None:
        op = device.op("miner", "update", miner["id"], {"full_name": new_name}, base_version=1)
        assert [r["status"] for r in device.results(op)] == ["applied"]

    try:
        before, after = _before_and_after(api, reader, "ministry", path, push)
    finally:
        device.close()
    names = {m["id"]: m["full_name"] for m in after["items"]}
    assert {m["id"]: m["full_name"] for m in before["items"]}[miner["id"]] == miner["full_name"]
    assert names[miner["id"]] == new_name


def test_buyers_of_two_organisations_never_get_each_others_lots(
    api: Api, reader: Instance, origin: Json
) -> None:
    """Same role, same URL: only the organisation tells the two pages apart."""
    with api.client("admin") as admin:
        office = create_organisation(admin)
        name = unique("buyer").lower()
        r = admin.post(
            f"{API}/users",
            json={
                "username": name,
                "password": PASSWORD,
                "role": "buyer",
                "organisation_id": office["id"],
            },
        )
        assert r.status_code == 201, r.text
    with httpx.Client(base_url=api.base_url) as c:
        login = c.post(f"{API}/auth/token", json={"username": name, "password": PASSWORD})
    assert login.status_code == 200, login.text
    api.tokens["other_buyer"] = login.json()["access_token"]
    _purchase(api, origin, f"PC-{uuid.uuid4().hex[:8]}")  # a lot of the first buyer's office
    path = f"{API}/lots?limit=1000"
    for _ in range(2):
        mine = _cached(api, reader, "buyer", path)["items"]
        theirs = _cached(api, reader, "other_buyer", path)["items"]
        assert mine and theirs == []
