"""Optimistic concurrency over HTTP: a stale version is a 409 changing nothing; one racer wins."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Api
from tests.e2e.helpers import (
    assert_problem,
    create_miner,
    create_mining_licence,
    create_organisation,
    create_region,
    create_site,
    feature,
    free_spot,
    snapshot,
    unique,
    visit_feature,
)

API = "/api/v1"
Json = dict[str, Any]


@dataclass(frozen=True)
class Editable:
    """One editable record: where to read it, how to send a change, and a change from a version."""

    who: str
    read: str
    method: str
    write: str
    change: Callable[[int], Json]


def _jurisdiction(admin: httpx.Client) -> Editable:
    made = create_region(admin, *free_spot(admin))
    path = f"{API}/jurisdictions/{made['properties']['code']}"
    return Editable(
        "admin",
        path,
        "PATCH",
        path,
        lambda v: feature(None, {"version": v, "name": unique("Region")}),
    )


def _organisation(admin: httpx.Client) -> Editable:
    path = f"{API}/organisations/{create_organisation(admin)['id']}"
    return Editable(
        "admin", path, "PATCH", path, lambda v: {"version": v, "address": unique("Road")}
    )


def _miner(admin: httpx.Client) -> Editable:
    path = f"{API}/miners/{create_miner(admin)['id']}"
    return Editable(
        "officer", path, "PATCH", path, lambda v: {"version": v, "full_name": unique("Miner")}
    )


def _licence(admin: httpx.Client) -> Editable:
    path = f"{API}/licences/{create_mining_licence(admin, *free_spot(admin))['id']}"
    return Editable(
        "ministry",
        path,
        "PATCH",
        path,
        lambda v: feature(
            None, {"version": v, "valid_to": (date.today() + timedelta(days=400 + v)).isoformat()}
        ),
    )


def _licence_status(admin: httpx.Client) -> Editable:
    path = f"{API}/licences/{create_mining_licence(admin, *free_spot(admin))['id']}"
    return Editable(
        "ministry",
        path,
        "POST",
        path + "/status",
        lambda v: {
            "version": v,
            "status": "suspended" if v % 2 else "active",
            "reason": unique("reason"),
        },
    )


def _site(admin: httpx.Client) -> Editable:
    path = f"{API}/sites/{create_site(admin, *free_spot(admin))['id']}"
    return Editable(
        "officer",
        path,
        "PATCH",
        path,
        lambda v: feature(None, {"version": v, "notes": unique("note")}),
    )


def _site_visit(admin: httpx.Client) -> Editable:
    lon, lat = free_spot(admin)
    site = create_site(admin, lon, lat)
    r = admin.post(f"{API}/site-visits", json=visit_feature(site["id"], lon, lat))
    assert r.status_code == 201, r.text
    path = f"{API}/site-visits/{r.json()['id']}"
    return Editable(
        "officer",
        path,
        "PATCH",
        path,
        lambda v: feature(None, {"version": v, "notes": unique("note")}),
    )


EDITABLE: dict[str, Callable[[httpx.Client], Editable]] = {
    "jurisdiction": _jurisdiction,
    "organisation": _organisation,
    "miner": _miner,
    "licence": _licence,
    "licence-status": _licence_status,
    "site": _site,
    "site-visit": _site_visit,
}


@pytest.fixture
def admin(api: Api) -> Iterator[httpx.Client]:
    with api.client("admin") as c:
        yield c


def _version(body: Json) -> int:
    return int(body["properties"]["version"] if "properties" in body else body["version"])


def _send(client: httpx.Client, record: Editable, version: int) -> httpx.Response:
    return client.request(record.method, record.write, json=record.change(version))


@pytest.mark.parametrize("resource", EDITABLE)
def test_change_from_an_old_version_gets_409_and_leaves_the_record_unchanged(
    api: Api, admin: httpx.Client, resource: str
) -> None:
    record = EDITABLE[resource](admin)
    with api.client(record.who) as client:
        first = _send(client, record, 1)
        assert first.status_code == 200, first.text
        assert _version(first.json()) == 2
        before = snapshot(client, record.read)

        r = _send(client, record, 1)

        body = assert_problem(r, 409)
        assert body["type"].endswith("/stale-version")
        assert body["current_version"] == 2
        assert snapshot(client, record.read) == before


@pytest.mark.parametrize("resource", EDITABLE)
def test_two_concurrent_changes_from_the_same_version_one_wins_one_gets_409(
    api: Api, admin: httpx.Client, resource: str
) -> None:
    record = EDITABLE[resource](admin)
    start = threading.Barrier(2)
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def racer() -> None:
        with api.client(record.who) as client:
            start.wait(timeout=10)
            r = _send(client, record, 1)
        with lock:
            responses.append(r)

    threads = [threading.Thread(target=racer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert assert_problem(loser, 409)["current_version"] == 2
    winner = next(r for r in responses if r.status_code == 200)
    with api.client(record.who) as client:
        assert snapshot(client, record.read) == winner.json()
