"""From evidence to certificate over real HTTP: a clean parcel is certified on its computed
report; a parcel bought 5 km from its site is refused naming the failing check until the
export office overrides with a reason, which is audited and shown on the report.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tests.e2e.conftest import Api
from tests.e2e.helpers import assert_problem, create_mining_licence, create_site, free_spot
from tests.e2e.test_certificates_api import CERTS, _ok, sealed_lots, shipment

API = "/api/v1"
Json = dict[str, Any]


def fresh_origin(api: Api) -> Json:
    """A new licensed miner and site of their own, so no other test's records weigh in."""
    with api.client("admin") as admin:
        lon, lat = free_spot(admin)
        licence = create_mining_licence(
            admin, lon, lat, valid_from=date.today() - timedelta(days=60)
        )
        site = create_site(admin, lon + 0.0005, lat + 0.0005, licence_id=licence["id"])
    return {
        "site_id": site["id"],
        "miner_id": licence["properties"]["holder_miner_id"],
        "location": {"type": "Point", "coordinates": [lon + 0.001, lat + 0.001]},
    }


def test_clean_parcel_is_certified_and_a_failing_one_only_on_an_audited_override(
    api: Api,
) -> None:
    origin = fresh_origin(api)
    clean = sealed_lots(api, origin)[0]
    lon, lat = origin["location"]["coordinates"]
    far = {**origin, "location": {"type": "Point", "coordinates": [lon, lat + 0.045]}}  # ~5 km
    tainted = sealed_lots(api, far)[0]
    with api.client("export_office") as office:
        report = _ok(office.post(f"{API}/lots/{clean}/evidence"))
        assert report["verdict"] != "fail", report["checks"]
        cert = _ok(office.post(CERTS, json=shipment(clean)))
        assert cert["evidence_digest"] == report["digest"]
        assert cert["evidence_report_id"] == report["id"]
        assert cert["country_of_origin"] == "SL" and cert["issued_on_override"] is False

        failing = _ok(office.post(f"{API}/lots/{tainted}/evidence"))
        assert failing["verdict"] == "fail"
        refused = assert_problem(office.post(CERTS, json=shipment(tainted)), 409, "override_reason")
        named = {c["id"] for c in refused["failing_checks"]}
        assert "purchase_points" in named and refused["evidence_report_id"] == failing["id"]
        assert "purchase_points" in refused["detail"]

        reason = "Buying post moved 5 km downstream during the rains; district officer confirmed."
        overridden = _ok(office.post(CERTS, json=shipment(tainted, override_reason=reason)))
        assert overridden["override_reason"] == reason and overridden["issued_on_override"]
        shown = _ok(office.get(f"{API}/lots/{tainted}/evidence"), 200)
        assert [o["reason"] for o in shown["overrides"]] == [reason]
    with api.client("auditor") as auditor:
        trail = _ok(auditor.get(f"{API}/audit", params={"entity_type": "evidence_report"}), 200)
        overrides = [
            e
            for e in trail["items"]
            if e["entity_id"] == failing["id"] and e["action"] == "override"
        ]
        assert len(overrides) == 1 and overrides[0]["reason"] == reason
