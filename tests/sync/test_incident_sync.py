"""Field officers report incidents and follow them up offline; they reach district devices."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Api
from tests.sync.server_helpers import Device


@pytest.fixture
def officer(api: Api) -> Iterator[Device]:
    device = Device(api, "officer")
    yield device
    device.close()


def _fields(origin: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "armed_group_presence",
        "occurred_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        "summary": "armed men collecting a levy at the pits",
        "site_id": origin["site_id"],
    }


def test_incident_reported_offline_is_applied_followed_up_and_pulled(
    api: Api, officer: Device, origin: dict[str, Any]
) -> None:
    incident_id = uuid.uuid4()
    created = officer.results(officer.op("incident", "create", incident_id, _fields(origin)))[0]
    assert created["status"] == "applied", created
    follow = officer.results(
        officer.op(
            "incident",
            "update",
            incident_id,
            {"note": "army patrol cleared the site", "status": "closed"},
            base_version=1,
        )
    )[0]
    assert follow["status"] == "applied", follow
    with api.client("ministry") as c:
        incident = c.get(f"/api/v1/incidents/{incident_id}").json()
    assert incident["status"] == "closed"
    assert incident["device_id"] == officer.device_id
    assert incident["follow_ups"][0]["note"] == "army patrol cleared the site"
    pulled = [c for c in officer.pull_all() if c["record_id"] == str(incident_id)]
    assert pulled and pulled[-1]["data"]["status"] == "closed"


def test_incident_ops_break_the_same_rules_as_rest_and_cannot_be_deleted(
    officer: Device, origin: dict[str, Any]
) -> None:
    bad = officer.results(
        officer.op("incident", "create", uuid.uuid4(), {**_fields(origin), "site_id": None})
    )[0]
    assert bad["status"] == "rejected"
    incident_id = uuid.uuid4()
    officer.results(officer.op("incident", "create", incident_id, _fields(origin)))
    gone = officer.results(officer.op("incident", "delete", incident_id, base_version=1))[0]
    assert gone["status"] == "rejected" and gone["code"] == "append-only"
