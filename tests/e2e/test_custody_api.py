"""Custody over real HTTP, per role: purchases to export, refusals that change nothing, scope.

Records persist between tests here (one server per database), so each test makes its own lots
with unique receipts and reads them back by id.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from backend.clock import utcnow
from tests.e2e.conftest import Api
from tests.e2e.helpers import assert_problem

API = "/api/v1"
Json = dict[str, Any]


@pytest.fixture(scope="module")
def spec(api: Api) -> Json:
    with api.client() as c:
        return dict(c.get("/openapi.json").json())


def _when(minutes_ago: int = 0) -> str:
    return (utcnow() - timedelta(minutes=minutes_ago)).isoformat()


def _lot(carats: str, stones: int, tag: str | None = None) -> Json:
    return {"tag": tag or f"T-{uuid.uuid4().hex[:6]}", "carats": carats, "stone_count": stones}


def _purchase(origin: Json, carats: str = "1.000", stones: int = 2, **kw: Any) -> Json:
    return {
        "kind": "purchase",
        "occurred_at": _when(60),
        "site_id": origin["site_id"],
        "miner_id": origin["miner_id"],
        "output": _lot(carats, stones),
        "price": "450.00",
        "currency": "USD",
        "usd_value": "450.00",
        "receipt_number": f"E2E-{uuid.uuid4().hex[:10]}",
        "location": origin["location"],
        **kw,
    }


def _created(r: httpx.Response) -> Json:
    assert r.status_code == 201, r.text
    body: Json = r.json()
    return body


def _buy(api: Api, origin: Json, carats: str = "1.000", stones: int = 2) -> Json:
    with api.client("buyer") as c:
        return _created(c.post(f"{API}/custody-events", json=_purchase(origin, carats, stones)))


def _lot_of(event: Json) -> str:
    return str(event["outputs"][0]["lot_id"])


def _conforms(spec: Json, path: str, method: str, status: int, body: Any) -> None:
    op = spec["paths"][path][method]
    schema = next(iter(op["responses"][str(status)]["content"].values()))["schema"]
    Draft202012Validator({**schema, "components": spec["components"]}).validate(body)


# --- the whole way, pit to export --------------------------------------------------------------


def test_purchase_to_export_with_trace_epcis_and_chain(api: Api, origin: Json, spec: Json) -> None:
    with api.client("buyer") as buyer:
        r = buyer.post(
            f"{API}/custody-events",
            json=_purchase(origin, "1.500", 3),
            headers={"X-Device-Id": "buyer-tablet-1"},
        )
        first = _created(r)
        _conforms(spec, f"{API}/custody-events", "post", 201, first)
        assert first["device_id"] == "buyer-tablet-1"
        assert first["outputs"][0]["carats"] == "1.500" and first["price"] == "450.00"
        second = _buy(api, origin, "2.500", 4)
        merged = _created(
            buyer.post(
                f"{API}/custody-events",
                json={
                    "kind": "consolidate",
                    "occurred_at": _when(50),
                    "inputs": [_lot_of(first), _lot_of(second)],
                    "output": _lot("3.990", 7),
                },
            )
        )
        transfer = _created(
            buyer.post(
                f"{API}/custody-events",
                json={
                    "kind": "transfer",
                    "occurred_at": _when(40),
                    "lot_id": _lot_of(merged),
                    "to_organisation_id": str(api.organisations["exporter"]),
                },
            )
        )
        assert buyer.get(f"{API}/lots/{_lot_of(merged)}").json()["status"] == "in_transit"
    with api.client("exporter") as exporter:
        accepted = _created(
            exporter.post(
                f"{API}/custody-events",
                json={
                    "kind": "accept",
                    "occurred_at": _when(30),
                    "transfer_event_id": transfer["id"],
                    "output": _lot("3.990", 7),
                },
            )
        )
    parcel = _lot_of(accepted)
    with api.client("export_office") as office:
        for body in (
            {"kind": "value", "lot_id": parcel, "usd_value": "1800.00"},
            {"kind": "seal", "lot_id": parcel, "container_id": f"SEAL-{uuid.uuid4().hex[:6]}"},
            {"kind": "export", "lot_id": parcel},
        ):
            _created(office.post(f"{API}/custody-events", json={**body, "occurred_at": _when(10)}))
        lot = office.get(f"{API}/lots/{parcel}").json()
        assert lot["status"] == "exported" and lot["usd_value"] == "1800.00"

        assert office.get(f"{API}/lots/{parcel}/trace").json()["path"] is None  # on request only
        backward = office.get(f"{API}/lots/{parcel}/trace", params={"path": "true"})
        assert backward.status_code == 200, backward.text
        assert {step["kind"] for step in backward.json()["path"]} >= {"purchase", "accept"}
        _conforms(spec, f"{API}/lots/{{id}}/trace", "get", 200, backward.json())
        assert [s["site_id"] for s in backward.json()["sites"]] == [origin["site_id"]]
        assert len(backward.json()["purchases"]) == 2

        forward = office.get(f"{API}/sites/{origin['site_id']}/forward-trace")
        assert forward.status_code == 200, forward.text
        _conforms(spec, f"{API}/sites/{{id}}/forward-trace", "get", 200, forward.json())
        assert parcel in [e["lot_id"] for e in forward.json()["exports"]]

        doc = office.get(f"{API}/lots/{parcel}/epcis", params={"scope": "trace"})
        assert doc.status_code == 200, doc.text
        _conforms(spec, f"{API}/lots/{{id}}/epcis", "get", 200, doc.json())
        kinds = [e["at:custody"]["kind"] for e in doc.json()["epcisBody"]["eventList"]]
        assert kinds[:2] == ["purchase", "purchase"] and kinds[-1] == "export"

    with api.client("auditor") as auditor:
        for org in ("buying_office", "exporter"):
            check = auditor.get(f"{API}/custody/chains/{api.organisations[org]}/verify").json()
            assert check["intact"] is True and check["events_checked"] >= 2, check


def test_open_a_lot_with_its_purchase(api: Api, origin: Json, spec: Json) -> None:
    with api.client("buyer") as c:
        r = c.post(f"{API}/lots", json=_purchase(origin, "0.750", 1))
    body = _created(r)
    _conforms(spec, f"{API}/lots", "post", 201, body)
    assert body["lots"][0]["carats"] == "0.750"
    assert body["lots"][0]["holder_organisation_id"] == str(api.organisations["buying_office"])


# --- refusals change nothing --------------------------------------------------------------------


def test_loss_above_tolerance_without_reason_is_refused_and_changes_nothing(
    api: Api, origin: Json
) -> None:
    a, b = _lot_of(_buy(api, origin, "5.000", 2)), _lot_of(_buy(api, origin, "5.000", 3))
    with api.client("buyer") as c:
        r = c.post(
            f"{API}/custody-events",
            json={
                "kind": "consolidate",
                "occurred_at": _when(30),
                "inputs": [a, b],
                "output": _lot("9.900", 5),
            },
        )
        assert_problem(r, 422, "reason")
        assert c.get(f"{API}/lots/{a}").json()["status"] == "active"
        assert c.get(f"{API}/custody-events", params={"lot_id": a}).json()["items"][0]["kind"] == (
            "purchase"
        )
        assert len(c.get(f"{API}/custody-events", params={"lot_id": a}).json()["items"]) == 1


def test_spending_a_lot_twice_is_a_409_naming_the_input(api: Api, origin: Json) -> None:
    a, b, c_ = (_lot_of(_buy(api, origin)) for _ in range(3))
    body = {"kind": "consolidate", "occurred_at": _when(30), "output": _lot("2.000", 4)}
    with api.client("buyer") as c:
        _created(c.post(f"{API}/custody-events", json={**body, "inputs": [a, b]}))
        r = c.post(f"{API}/custody-events", json={**body, "inputs": [c_, a]})
        assert_problem(r, 409, "inputs.1")
        assert c.get(f"{API}/lots/{c_}").json()["status"] == "active"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"occurred_at": "2026-01-01T00:00:00Z"}, "kind"),
        ({"kind": "mint", "occurred_at": "2026-01-01T00:00:00Z"}, "kind"),
        ({"kind": "purchase", "occurred_at": "2026-01-01T00:00:00"}, "occurred_at"),
        ({"kind": "split", "occurred_at": "2026-01-01T00:00:00Z", "lot_id": "x"}, "lot_id"),
    ],
    ids=["no-kind", "unknown-kind", "naive-time", "bad-lot-id"],
)
def test_malformed_events_name_the_field(api: Api, body: Json, field: str) -> None:
    with api.client("buyer") as c:
        assert_problem(c.post(f"{API}/custody-events", json=body), 422, field)


def test_carats_beyond_the_scale_resolution_are_refused(api: Api, origin: Json) -> None:
    body = _purchase(origin)
    body["output"]["carats"] = "1.0005"
    with api.client("buyer") as c:
        assert_problem(c.post(f"{API}/custody-events", json=body), 422, "output.carats")


def test_purchase_far_from_the_site_is_accepted_with_a_flag(api: Api, origin: Json) -> None:
    lon, lat = origin["location"]["coordinates"]
    body = _purchase(origin, location={"type": "Point", "coordinates": [lon + 0.05, lat]})
    with api.client("buyer") as c:
        event = _created(c.post(f"{API}/custody-events", json=body))
    assert "purchase_point_outside_site" in [f["code"] for f in event["flags"]]


# --- roles and scope ----------------------------------------------------------------------------


def test_donors_see_no_custody_at_all(api: Api, origin: Json) -> None:
    lot = _lot_of(_buy(api, origin))
    with api.client("donor") as c:
        for path in (
            f"{API}/lots",
            f"{API}/lots/{lot}",
            f"{API}/custody-events",
            f"{API}/lots/{lot}/trace",
            f"{API}/lots/{lot}/epcis",
        ):
            assert_problem(c.get(path), 403)
        assert_problem(c.post(f"{API}/custody-events", json=_purchase(origin)), 403)


def test_read_only_roles_see_everything_and_write_nothing(api: Api, origin: Json) -> None:
    event = _buy(api, origin)
    for who in ("ministry", "auditor", "export_office"):
        with api.client(who) as c:
            assert c.get(f"{API}/custody-events/{event['id']}").status_code == 200
            assert c.get(f"{API}/lots/{_lot_of(event)}/trace").status_code == 200
    with api.client("auditor") as c:
        assert_problem(c.post(f"{API}/custody-events", json=_purchase(origin)), 403)


def test_buyers_and_exporters_see_only_their_own(api: Api, origin: Json) -> None:
    event = _buy(api, origin)
    lot = _lot_of(event)
    with api.client("exporter") as c:
        assert_problem(c.get(f"{API}/lots/{lot}"), 404)
        assert_problem(c.get(f"{API}/custody-events/{event['id']}"), 404)
        listed = c.get(f"{API}/lots", params={"limit": 1000}).json()["items"]
        assert lot not in [x["id"] for x in listed]
        assert_problem(c.post(f"{API}/custody-events", json=_purchase(origin)), 403, "kind")
        assert_problem(
            c.get(
                f"{API}/balances",
                params={"organisation_id": str(api.organisations["buying_office"])},
            ),
            403,
            "query.organisation_id",
        )
        assert_problem(
            c.get(f"{API}/custody/chains/{api.organisations['buying_office']}/verify"), 404
        )


def test_field_officer_records_production_in_district_but_sees_no_trade(
    api: Api, origin: Json
) -> None:
    produce = {
        "kind": "produce",
        "occurred_at": _when(90),
        "site_id": origin["site_id"],
        "miner_id": origin["miner_id"],
        "outputs": [_lot("3.000", 9)],
    }
    with api.client("officer") as c:
        event = _created(c.post(f"{API}/custody-events", json=produce))
        assert c.get(f"{API}/lots/{_lot_of(event)}").status_code == 200
        bought = _lot_of(_buy(api, origin))
        assert_problem(c.get(f"{API}/lots/{bought}"), 404)
        assert_problem(c.get(f"{API}/lots/{bought}/trace"), 403)
        assert_problem(c.post(f"{API}/custody-events", json=_purchase(origin)), 403, "kind")
    with api.client("officer_bo") as c:
        assert_problem(c.post(f"{API}/custody-events", json=produce), 422, "site_id")


def test_balance_and_stock_take_for_the_buyer(api: Api, origin: Json, spec: Json) -> None:
    with api.client("buyer") as c:
        before = c.get(f"{API}/balances").json()
        _buy(api, origin, "2.000", 2)
        after = c.get(f"{API}/balances")
        assert after.status_code == 200, after.text
        _conforms(spec, f"{API}/balances", "get", 200, after.json())
        body = after.json()
        assert body["closing"] == body["on_hand"]
        assert Decimal(body["received"]) - Decimal(before["received"]) == Decimal("2.000")
        take = c.post(
            f"{API}/stock-takes",
            json={"counted_at": _when(0), "counted_carats": body["on_hand"]},
        )
        made = _created(take)
        _conforms(spec, f"{API}/stock-takes", "post", 201, made)
        assert made["difference"] == "0.000"
        other = c.post(
            f"{API}/stock-takes",
            json={
                "counted_at": _when(0),
                "counted_carats": "1.000",
                "organisation_id": str(api.organisations["exporter"]),
            },
        )
        assert_problem(other, 403, "organisation_id")


def test_list_responses_conform_to_the_published_schema(api: Api, origin: Json, spec: Json) -> None:
    _buy(api, origin)
    for who, path in (
        ("buyer", f"{API}/lots"),
        ("ministry", f"{API}/custody-events"),
        ("officer", f"{API}/custody-events"),
    ):
        with api.client(who) as c:
            r = c.get(path, params={"limit": 5})
        assert r.status_code == 200, r.text
        _conforms(spec, path, "get", 200, r.json())
