"""Incidents over real HTTP: who may report, read and follow up, in which scope; bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import HOME_DISTRICT, OTHER_DISTRICT, Api
from tests.e2e.helpers import assert_problem, created

NOW = datetime.now(UTC)


def _seizure(origin: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "kind": "seizure",
        "occurred_at": (NOW - timedelta(hours=2)).isoformat(),
        "summary": "42 stones found hidden in a fuel can at a checkpoint",
        "site_id": origin["site_id"],
        "location": origin["location"],
        **extra,
    }


def _report(api: Api, who: str, body: dict[str, Any]) -> httpx.Response:
    with api.client(who) as c:
        return c.post("/api/v1/incidents", json=body)


def test_officer_reports_an_incident_in_her_district_and_it_takes_the_sites_district(
    api: Api, origin: dict[str, Any]
) -> None:
    incident = created(_report(api, "officer", _seizure(origin)))
    assert incident["district"] == HOME_DISTRICT
    assert incident["status"] == "open"
    assert incident["follow_ups"] == []
    with api.client("auditor") as c:
        trail = c.get("/api/v1/audit", params={"entity_type": "incident"}).json()
    assert incident["id"] in {e["entity_id"] for e in trail["items"]}


def test_officer_of_another_district_neither_sees_nor_reports_there(
    api: Api, origin: dict[str, Any]
) -> None:
    incident = created(_report(api, "officer", _seizure(origin)))
    assert_problem(_report(api, "officer_bo", _seizure(origin)), 422, "site_id")
    with api.client("officer_bo") as c:
        assert c.get(f"/api/v1/incidents/{incident['id']}").status_code == 404
        listed = c.get("/api/v1/incidents", params={"site_id": origin["site_id"]}).json()
    assert listed["items"] == []
    body = _seizure(origin, site_id=None, organisation_id=str(api.organisations["exporter"]))
    body.update(district=HOME_DISTRICT)
    assert_problem(_report(api, "officer_bo", body), 403, "district")


@pytest.mark.parametrize("who", ["buyer", "exporter", "donor"])
def test_traders_and_donors_can_neither_read_nor_report_incidents(
    api: Api, origin: dict[str, Any], who: str
) -> None:
    with api.client(who) as c:
        assert_problem(c.get("/api/v1/incidents"), 403)
    assert_problem(_report(api, who, _seizure(origin)), 403)


def test_auditor_reads_every_incident_but_reports_none(api: Api, origin: dict[str, Any]) -> None:
    incident = created(_report(api, "ministry", _seizure(origin)))
    with api.client("auditor") as c:
        assert c.get(f"/api/v1/incidents/{incident['id']}").status_code == 200
    assert_problem(_report(api, "auditor", _seizure(origin)), 403)


def test_follow_ups_close_and_reopen_with_a_history_and_a_stale_version_is_refused(
    api: Api, origin: dict[str, Any]
) -> None:
    incident = created(_report(api, "officer", _seizure(origin)))
    path = f"/api/v1/incidents/{incident['id']}/follow-ups"
    with api.client("ministry") as c:
        closed = created(
            c.post(path, json={"version": 1, "note": "stones returned", "status": "closed"})
        )
        assert closed["status"] == "closed" and closed["closed_at"] is not None
        stale = c.post(path, json={"version": 1, "note": "late note"})
        assert_problem(stale, 409)
        reopened = created(
            c.post(path, json={"version": closed["version"], "note": "new lead", "status": "open"})
        )
    assert reopened["status"] == "open" and reopened["closed_at"] is None
    assert [(f["status_before"], f["status_after"]) for f in reopened["follow_ups"]] == [
        ("open", "closed"),
        ("closed", "open"),
    ]
    with api.client("officer") as c:
        listed = c.get("/api/v1/incidents", params={"status": "open", "kind": "seizure"}).json()
    assert incident["id"] in {i["id"] for i in listed["items"]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "rumour"}, "kind"),
        ({"summary": ""}, "summary"),
        ({"occurred_at": "2026-01-01T00:00:00"}, "occurred_at"),
        ({"occurred_at": (NOW + timedelta(days=2)).isoformat()}, "occurred_at"),
        ({"site_id": str(uuid.uuid4())}, "site_id"),
        ({"attachments": ["not-a-hash"]}, "attachments.0"),
        ({"location": {"type": "Point", "coordinates": [200, 8]}}, "location.coordinates.0"),
        ({"district": OTHER_DISTRICT}, "district"),
        ({"site_id": None, "kind": "armed_group_presence"}, "body"),
    ],
)
def test_bad_incident_reports_name_the_field_and_store_nothing(
    api: Api, origin: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    incident_id = str(uuid.uuid4())
    body = {**_seizure(origin, id=incident_id), **change}
    r = _report(api, "ministry", body)
    assert_problem(r, r.status_code, None if field == "body" else field)
    assert r.status_code == 422
    with api.client("ministry") as c:
        assert c.get(f"/api/v1/incidents/{incident_id}").status_code == 404


def test_an_incident_must_name_what_it_is_about(api: Api) -> None:
    body = {"kind": "seizure", "occurred_at": NOW.isoformat(), "summary": "x"}
    r = _report(api, "ministry", {**body, "district": HOME_DISTRICT})
    assert_problem(r, 422)
    assert "site_id" in r.json()["detail"]
