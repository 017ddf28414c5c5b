"""Evidence over real HTTP: compute and read reports per role, the HTML page, rates, profiles.

Records persist between tests here (one server per database), so each test makes its own
parcel and reads it back by id.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from backend.clock import utcnow
from tests.e2e.conftest import Api
from tests.e2e.helpers import assert_problem

API = "/api/v1"
Json = dict[str, Any]
CHECK_IDS = [
    "licences",
    "sites",
    "purchase_points",
    "custody",
    "production",
    "footprint",
    "origin",
    "incidents",
]


@pytest.fixture(scope="module")
def spec(api: Api) -> Json:
    with api.client() as c:
        return dict(c.get("/openapi.json").json())


def _when(minutes_ago: int) -> str:
    return (utcnow() - timedelta(minutes=minutes_ago)).isoformat()


def _created(r: httpx.Response) -> Json:
    assert r.status_code == 201, r.text
    body: Json = r.json()
    return body


def _conforms(spec: Json, path: str, method: str, status: int, body: Any) -> None:
    op = spec["paths"][path][method]
    schema = next(iter(op["responses"][str(status)]["content"].values()))["schema"]
    Draft202012Validator({**schema, "components": spec["components"]}).validate(body)


def _parcel(api: Api, origin: Json) -> tuple[str, str]:
    """Two purchases consolidated by the buyer and accepted by the exporter: (parcel, buyer lot)."""
    lots = []
    with api.client("buyer") as buyer:
        for minutes in (90, 85):
            event = _created(
                buyer.post(
                    f"{API}/custody-events",
                    json={
                        "kind": "purchase",
                        "occurred_at": _when(minutes),
                        "site_id": origin["site_id"],
                        "miner_id": origin["miner_id"],
                        "output": {
                            "tag": f"EV-{uuid.uuid4().hex[:6]}",
                            "carats": "1.000",
                            "stone_count": 3,
                            "size_classes": {"+11": 2, "grainers": 1},
                        },
                        "price": "400.00",
                        "currency": "USD",
                        "usd_value": "400.00",
                        "receipt_number": f"EV-{uuid.uuid4().hex[:10]}",
                        "location": origin["location"],
                    },
                )
            )
            lots.append(event["outputs"][0]["lot_id"])
        merged = _created(
            buyer.post(
                f"{API}/custody-events",
                json={
                    "kind": "consolidate",
                    "occurred_at": _when(80),
                    "inputs": lots,
                    "output": {
                        "tag": f"EVC-{uuid.uuid4().hex[:6]}",
                        "carats": "2.000",
                        "stone_count": 6,
                    },
                },
            )
        )["outputs"][0]["lot_id"]
        transfer = _created(
            buyer.post(
                f"{API}/custody-events",
                json={
                    "kind": "transfer",
                    "occurred_at": _when(75),
                    "lot_id": merged,
                    "to_organisation_id": str(api.organisations["exporter"]),
                },
            )
        )
    with api.client("exporter") as exporter:
        accepted = _created(
            exporter.post(
                f"{API}/custody-events",
                json={
                    "kind": "accept",
                    "occurred_at": _when(70),
                    "transfer_event_id": transfer["id"],
                    "output": {
                        "tag": f"EVX-{uuid.uuid4().hex[:6]}",
                        "carats": "2.000",
                        "stone_count": 6,
                    },
                },
            )
        )
    return str(accepted["outputs"][0]["lot_id"]), str(lots[0])


def test_export_office_computes_a_stored_report_that_every_national_reader_sees(
    api: Api, origin: Json, spec: Json
) -> None:
    parcel, _ = _parcel(api, origin)
    with api.client("export_office") as office:
        assert_problem(office.get(f"{API}/lots/{parcel}/evidence"), 404)
        r = office.post(f"{API}/lots/{parcel}/evidence")
        report = _created(r)
        _conforms(spec, f"{API}/lots/{{id}}/evidence", "post", 201, report)
    assert [c["id"] for c in report["checks"]] == CHECK_IDS
    assert report["lot_id"] == parcel and report["current"] is True
    assert report["verdict"] in ("pass", "warn", "fail") and len(report["digest"]) == 64
    for c in report["checks"]:
        assert c["verdict"] in ("pass", "warn", "fail") and c["sentence"]
    # two purchases cannot carry a footprint: the report says so rather than passing it
    footprint = next(c for c in report["checks"] if c["id"] == "footprint")
    assert footprint["verdict"] == "warn"
    for who in ("ministry", "auditor", "admin", "export_office", "exporter"):
        with api.client(who) as c:
            latest = c.get(f"{API}/lots/{parcel}/evidence")
            assert latest.status_code == 200, (who, latest.text)
            assert latest.json()["id"] == report["id"]
            one = c.get(f"{API}/evidence-reports/{report['id']}")
            assert one.status_code == 200 and one.json()["digest"] == report["digest"]
    with api.client("ministry") as ministry:
        page = ministry.get(f"{API}/evidence-reports/{report['id']}.html")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "Internal-control evidence" in page.text and report["digest"] in page.text
        assert "has changed since" not in page.text
    with api.client("admin") as admin:
        audit = admin.get(f"{API}/audit", params={"entity_type": "evidence_report"}).json()
        assert report["id"] in {e["entity_id"] for e in audit["items"]}


def test_roles_that_may_not_compute_or_read_are_refused_and_nothing_is_stored(
    api: Api, origin: Json
) -> None:
    parcel, buyer_lot = _parcel(api, origin)
    for who in ("ministry", "auditor", "buyer", "exporter", "donor", "officer"):
        with api.client(who) as c:
            assert_problem(c.post(f"{API}/lots/{parcel}/evidence"), 403)
    with api.client("export_office") as office:
        assert_problem(office.get(f"{API}/lots/{parcel}/evidence"), 404)
        report = _created(office.post(f"{API}/lots/{parcel}/evidence"))
        buyer_report = _created(office.post(f"{API}/lots/{buyer_lot}/evidence"))
    for who in ("buyer", "donor", "officer"):
        with api.client(who) as c:
            assert_problem(c.get(f"{API}/lots/{parcel}/evidence"), 403)
            assert_problem(c.get(f"{API}/evidence-reports/{report['id']}"), 403)
            assert_problem(c.get(f"{API}/evidence-reports/{report['id']}.html"), 403)
    # an exporter sees its own lots' reports only: the buyer's lot does not exist for it
    with api.client("exporter") as exporter:
        assert_problem(exporter.get(f"{API}/lots/{buyer_lot}/evidence"), 404)
        assert_problem(exporter.get(f"{API}/evidence-reports/{buyer_report['id']}"), 404)
    with api.client("admin") as admin:
        assert_problem(admin.post(f"{API}/lots/{uuid.uuid4()}/evidence"), 404)
        assert_problem(admin.get(f"{API}/evidence-reports/{uuid.uuid4()}"), 404)
        assert_problem(admin.get(f"{API}/evidence-reports/not-an-id"), 404)


def test_a_report_says_it_is_stale_once_its_data_changed_and_recompute_is_a_new_row(
    api: Api, origin: Json
) -> None:
    parcel, _ = _parcel(api, origin)
    with api.client("export_office") as office:
        first = _created(office.post(f"{API}/lots/{parcel}/evidence"))
        _created(
            office.post(
                f"{API}/custody-events",
                json={
                    "kind": "value",
                    "occurred_at": _when(5),
                    "lot_id": parcel,
                    "usd_value": "900.00",
                },
            )
        )
        stale = office.get(f"{API}/evidence-reports/{first['id']}").json()
        assert stale["current"] is False
        page = office.get(f"{API}/evidence-reports/{first['id']}.html")
        assert "has changed since" in page.text
        second = _created(office.post(f"{API}/lots/{parcel}/evidence"))
        assert second["id"] != first["id"] and second["current"] is True
        assert office.get(f"{API}/lots/{parcel}/evidence").json()["id"] == second["id"]
        assert office.get(f"{API}/evidence-reports/{first['id']}").status_code == 200


def test_ministry_sets_a_regions_capacity_rate_with_versions_and_bad_input_is_refused(
    api: Api, spec: Json
) -> None:
    region = "SL-N"
    with api.client("ministry") as ministry:
        rates = ministry.get(f"{API}/capacity-rates")
        assert rates.status_code == 200
        _conforms(spec, f"{API}/capacity-rates", "get", 200, rates.json())
        row = next(r for r in rates.json()["items"] if r["region_code"] == region)
        body = {
            "carats_per_digger_day": "0.0400",
            "working_days_per_year": 180,
            "note": "survey",
            "version": row["version"],
        }
        assert_problem(
            ministry.put(f"{API}/capacity-rates/{region}", json={**body, "version": 99}),
            409,
            "/version",
        )
        assert_problem(
            ministry.put(
                f"{API}/capacity-rates/{region}", json={**body, "carats_per_digger_day": "-1"}
            ),
            422,
            "/carats_per_digger_day",
        )
        assert_problem(
            ministry.put(f"{API}/capacity-rates/{region}", json={**body, "days": 3}), 422
        )
        assert_problem(ministry.put(f"{API}/capacity-rates/SL-XX", json=body), 404)
        after_refusals = ministry.get(f"{API}/capacity-rates").json()["items"]
        assert next(r for r in after_refusals if r["region_code"] == region) == row
        r = ministry.put(f"{API}/capacity-rates/{region}", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["carats_per_digger_day"] == "0.0400" and r.json()["default"] is False
        assert r.json()["version"] == row["version"] + 1
        stale = ministry.put(f"{API}/capacity-rates/{region}", json=body)
        assert_problem(stale, 409, "/version")
    for who in ("buyer", "exporter", "donor", "officer", "auditor", "export_office"):
        with api.client(who) as c:
            assert_problem(c.put(f"{API}/capacity-rates/{region}", json=body), 403)
    for who in ("buyer", "exporter", "donor", "officer"):
        with api.client(who) as c:
            assert_problem(c.get(f"{API}/capacity-rates"), 403)
    with api.client("admin") as admin:
        audit = admin.get(f"{API}/audit", params={"entity_type": "capacity_rate"}).json()
        assert audit["items"], "the rate change is audited"


def test_footprint_profiles_are_rebuilt_from_purchases_on_request(api: Api, spec: Json) -> None:
    with api.client("export_office") as office:
        r = office.post(f"{API}/footprint-profiles/refresh")
        assert r.status_code == 200, r.text
        _conforms(spec, f"{API}/footprint-profiles/refresh", "post", 200, r.json())
        east = next(p for p in r.json()["items"] if p["region_code"] == "SL-E")
        assert east["built_at"] is not None and east["stones"] >= 0
        listed = office.get(f"{API}/footprint-profiles").json()["items"]
        assert listed == r.json()["items"]
    for who in ("buyer", "exporter", "donor", "officer", "auditor"):
        with api.client(who) as c:
            assert_problem(c.post(f"{API}/footprint-profiles/refresh"), 403)
