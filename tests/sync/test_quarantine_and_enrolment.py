"""Quarantine (one entry per op, bounded, paged, reviewed) and idempotent enrolment, over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from offline_sync.client import DeviceClient, RetryPolicy
from offline_sync.client.errors import ClientError
from tests.e2e.conftest import PASSWORD, Api
from tests.e2e.helpers import assert_problem
from tests.sync.server_helpers import Device, miner_fields


@pytest.fixture
def revoked(api: Api) -> Iterator[Device]:
    tablet = Device(api, "officer")
    with api.client("ministry") as c:
        assert c.post(f"/sync/v1/devices/{tablet.device_id}/revoke").status_code == 200
    yield tablet
    tablet.close()


def _entries(api: Api, device_id: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    with api.client("ministry") as c:
        while True:
            query = {"device_id": device_id, "limit": 2, **params}
            if cursor:
                query["cursor"] = cursor
            r = c.get("/sync/v1/quarantine", params=query)
            assert r.status_code == 200, r.text
            assert len(r.json()["items"]) <= 2
            items.extend(r.json()["items"])
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return items


def test_a_retried_push_of_a_revoked_device_keeps_one_entry_per_op(
    api: Api, revoked: Device
) -> None:
    ops = [revoked.op("miner", "create", uuid.uuid4(), miner_fields()) for _ in range(3)]
    first = revoked.push(*ops)
    assert first.status_code == 403 and len(first.json()["quarantined"]) == 3
    again = revoked.push(*ops)
    assert again.json()["quarantined"] == [] and len(again.json()["already_quarantined"]) == 3
    entries = _entries(api, revoked.device_id)  # pages of two: the cursor is followed
    assert sorted(e["op_id"] for e in entries) == sorted(o["op_id"] for o in ops)
    assert {e["status"] for e in entries} == {"unreviewed"}


def test_quarantine_is_bounded_per_device_and_the_rest_is_refused_by_name(
    api: Api, revoked: Device
) -> None:
    ops = [revoked.op("miner", "create", uuid.uuid4(), miner_fields()) for _ in range(1001)]
    r = revoked.push(*ops)
    body = assert_problem(r, 403)
    assert len(body["quarantined"]) == 1000
    assert body["refused"] == [ops[-1]["op_id"]] and "full" in body["detail"]
    with api.client("ministry") as c:
        page = c.get("/sync/v1/quarantine", params={"device_id": revoked.device_id}).json()
    assert len(page["items"]) == 100 and page["next_cursor"] is not None


def test_quarantine_list_is_for_supervisors_and_checks_its_filters(api: Api) -> None:
    with api.client("officer") as c:
        assert_problem(c.get("/sync/v1/quarantine"), 403)
    with api.client("ministry") as c:
        assert_problem(c.get("/sync/v1/quarantine", params={"status": "nope"}), 422, "query.status")
        assert_problem(c.get("/sync/v1/quarantine", params={"cursor": "x" * 30}), 422)


def _review(api: Api, entry_id: str, who: str = "ministry", **body: Any) -> httpx.Response:
    with api.client(who) as c:
        return c.post(f"/sync/v1/quarantine/{entry_id}/review", json=body)


def test_supervisors_release_or_discard_entries_and_each_review_is_audited(
    api: Api, revoked: Device
) -> None:
    keep, drop = uuid.uuid4(), uuid.uuid4()
    revoked.push(
        revoked.op("miner", "create", keep, miner_fields()),
        revoked.op("miner", "create", drop, miner_fields()),
    )
    entries = {e["payload"]["ops"][0]["record_id"]: e for e in _entries(api, revoked.device_id)}
    kept, dropped = entries[str(keep)], entries[str(drop)]
    assert_problem(_review(api, kept["id"], who="officer", decision="released"), 403)
    assert_problem(_review(api, dropped["id"], decision="discarded"), 422, "reason")
    assert_problem(_review(api, kept["id"], decision="applied"), 422, "decision")

    released = _review(api, kept["id"], decision="released", reason="tablet found again")
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "released"
    assert released.json()["result"]["status"] == "applied"
    discarded = _review(api, dropped["id"], decision="discarded", reason="test record")
    assert discarded.json()["status"] == "discarded"
    assert_problem(_review(api, dropped["id"], decision="released"), 409)

    with api.client("ministry") as c:
        assert c.get(f"/api/v1/miners/{keep}").status_code == 200
        assert c.get(f"/api/v1/miners/{drop}").status_code == 404
    with api.client("auditor") as c:
        for entry, reason in ((kept, "tablet found again"), (dropped, "test record")):
            audit = c.get("/api/v1/audit", params={"entity_id": entry["id"]}).json()["items"]
            assert [(a["action"], a["reason"]) for a in audit] == [("quarantine-review", reason)]


def test_ops_applied_after_re_enrolment_mark_their_entries_applied(
    api: Api, revoked: Device
) -> None:
    op = revoked.op("miner", "create", uuid.uuid4(), miner_fields())
    revoked.push(op)
    fresh = Device(api, "officer")
    try:
        assert fresh.results({**op, "seq": 1})[0]["status"] == "applied"
    finally:
        fresh.close()
    [entry] = _entries(api, revoked.device_id)
    assert entry["status"] == "applied"
    assert_problem(_review(api, entry["id"], decision="discarded", reason="late"), 409)


# --- enrolment -----------------------------------------------------------------------------------


def _devices_named(api: Api, who: str, name: str) -> list[dict[str, Any]]:
    with api.client(who) as c:
        return [d for d in c.get("/sync/v1/devices").json()["items"] if d["name"] == name]


def test_a_resent_enrolment_returns_the_same_device_and_revokes_the_lost_credential(
    api: Api,
) -> None:
    name, key = f"tablet-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    with api.client("officer") as c:
        first = c.post("/sync/v1/devices", json={"name": name, "enrolment_key": key})
        second = c.post("/sync/v1/devices", json={"name": name, "enrolment_key": key})
        other = c.post("/sync/v1/devices", json={"name": "renamed", "enrolment_key": key})
    assert first.status_code == second.status_code == 201
    assert first.json()["device_id"] == second.json()["device_id"]
    assert_problem(other, 422, "enrolment_key")
    assert len(_devices_named(api, "officer", name)) == 1
    pull = "/sync/v1/pull"
    lost = {"Authorization": f"Bearer {first.json()['device_token']}"}
    kept = {"Authorization": f"Bearer {second.json()['device_token']}"}
    assert httpx.get(api.base_url + pull, headers=lost, params={"limit": 1}).status_code == 401
    assert httpx.get(api.base_url + pull, headers=kept, params={"limit": 1}).status_code == 200


class LoseFirstEnrolAnswer(httpx.BaseTransport):
    """Real HTTP; the first enrolment reaches the server and commits, then its answer is lost."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.lost = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path == "/sync/v1/devices" and not self.lost:
            self.lost = True
            response.read()
            raise httpx.ReadError("connection reset after the server committed", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def test_the_reference_client_resends_its_enrolment_key_and_gets_one_device(
    api: Api, tmp_path: Path
) -> None:
    name = f"lossy-{uuid.uuid4().hex[:6]}"
    retry = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
    with DeviceClient.open(
        tmp_path / "t.sqlite", retry=retry, transport=LoseFirstEnrolAnswer()
    ) as tablet:
        try:
            tablet.enrol(api.base_url, api.users["officer"].username, PASSWORD, name)
        except (ClientError, httpx.HTTPError):
            tablet.enrol(api.base_url, api.users["officer"].username, PASSWORD, name)
        [device] = _devices_named(api, "officer", name)
        assert str(tablet.device_id) == device["id"]
        assert tablet.store.get("enrolment_key") is None  # answered: the next is a new one
        tablet.create("miner", miner_fields())
        assert tablet.push().results[0].status == "applied"
