"""Buyers log purchases offline: custody events sync with the same rules as the REST API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Api
from tests.e2e.test_custody_api import _purchase
from tests.sync.server_helpers import Device


@pytest.fixture
def buyer(api: Api) -> Iterator[Device]:
    device = Device(api, "buyer")
    yield device
    device.close()


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "id"}


def test_purchase_logged_offline_is_applied_and_reaches_the_buyers_devices(
    api: Api,
    buyer: Device,
    origin: dict[str, Any],
) -> None:
    event_id = uuid.uuid4()
    result = buyer.results(
        buyer.op("custody_event", "create", event_id, _fields(_purchase(origin)))
    )[0]
    assert result["status"] == "applied", result
    with api.client("ministry") as c:
        event = c.get(f"/api/v1/custody-events/{event_id}").json()
    assert event["device_id"] == buyer.device_id
    lot_id = event["outputs"][0]["lot_id"]
    changes = {(c["entity"], c["record_id"]) for c in buyer.pull_all()}
    assert ("custody_event", str(event_id)) in changes
    assert ("lot", lot_id) in changes


def test_a_synced_event_breaking_a_custody_rule_is_rejected_in_the_rest_form(
    buyer: Device,
    origin: dict[str, Any],
) -> None:
    body = _purchase(origin, carats="1.0001")
    result = buyer.results(buyer.op("custody_event", "create", uuid.uuid4(), _fields(body)))[0]
    assert result["status"] == "rejected"
    assert result["errors"][0]["pointer"].startswith("#/fields/output")


def test_custody_events_are_append_only_on_devices(buyer: Device, origin: dict[str, Any]) -> None:
    event_id = uuid.uuid4()
    buyer.results(buyer.op("custody_event", "create", event_id, _fields(_purchase(origin))))
    result = buyer.results(
        buyer.op("custody_event", "update", event_id, {"price": "1.00"}, base_version=1)
    )[0]
    assert result["status"] == "rejected" and result["code"] == "append-only"
    result = buyer.results(
        buyer.op("lot", "update", uuid.uuid4(), {"carats": "1.00"}, base_version=1)
    )[0]
    assert result["status"] == "rejected" and result["code"] == "pull-only"


def test_a_replayed_purchase_is_not_bought_twice(
    api: Api, buyer: Device, origin: dict[str, Any]
) -> None:
    op = buyer.op("custody_event", "create", uuid.uuid4(), _fields(_purchase(origin)))
    assert buyer.results(op)[0]["status"] == "applied"
    assert buyer.results(op)[0]["status"] == "duplicate"
    with api.client("ministry") as c:
        events = c.get("/api/v1/custody-events", params={"limit": 1000}).json()
    items = events["items"] if isinstance(events, dict) else events
    assert sum(1 for e in items if e["receipt_number"] == op["fields"]["receipt_number"]) == 1
