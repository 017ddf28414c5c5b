"""KP certificates over real HTTP: issuance on evidence, roles, tamper checks, concurrency.

Lots are made through the custody API (purchase → transfer → accept → split → value → seal);
evidence reports are written as rows with the verdict each test needs and the lot's real
data version, as the evidence feature stores them.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from backend.certificates import offline
from backend.certificates.offline import FIELDS, b64u, canonical, unb64u
from backend.clock import utcnow
from backend.db import session_factory
from backend.evidence.models import EvidenceReport
from backend.evidence.reports import data_version
from tests.e2e.conftest import Api
from tests.e2e.helpers import assert_problem

API = "/api/v1"
CERTS = "/api/v1/certificates"
KEYS_URL = "/.well-known/kp-certificate-keys.json"
Json = dict[str, Any]

# A changed value for every signed field (the key id is covered by "unknown signer").
TAMPER: Json = {
    "v": 2,
    "no": "SL-1999-999999",
    "iss": "GN",
    "auth": "Forged Authority",
    "org": "LR",
    "exp": "Forged Exporter",
    "imp": "Forged Importer",
    "dst": "CH",
    "ct": "9999.99",
    "usd": "1.00",
    "n": 9,
    "hs": "7102.10",
    "di": "2020-01-01",
    "de": "2099-01-01",
    "ev": "00" * 32,
    "ovr": 1,
    "rep": "SL-1999-000001",
}


def _when(minutes_ago: int) -> str:
    return (utcnow() - timedelta(minutes=minutes_ago)).isoformat()


def _ok(r: httpx.Response, status: int = 201) -> Json:
    assert r.status_code == status, r.text
    body: Json = r.json()
    return body


def sealed_lots(api: Api, origin: Json, n: int = 1) -> list[str]:
    """`n` sealed, valued export lots held by the exporter, from one purchase."""
    with api.client("buyer") as buyer:
        bought = _ok(
            buyer.post(
                f"{API}/custody-events",
                json={
                    "kind": "purchase",
                    "occurred_at": _when(60),
                    "site_id": origin["site_id"],
                    "miner_id": origin["miner_id"],
                    "output": {
                        "tag": f"C-{uuid.uuid4().hex[:6]}",
                        "carats": f"{n}.000",
                        "stone_count": 3 * n,
                    },
                    "price": "900.00",
                    "currency": "USD",
                    "usd_value": "900.00",
                    "receipt_number": f"CERT-{uuid.uuid4().hex[:10]}",
                    "location": origin["location"],
                },
            )
        )
        transfer = _ok(
            buyer.post(
                f"{API}/custody-events",
                json={
                    "kind": "transfer",
                    "occurred_at": _when(50),
                    "lot_id": bought["outputs"][0]["lot_id"],
                    "to_organisation_id": str(api.organisations["exporter"]),
                },
            )
        )
    with api.client("exporter") as exporter:
        accepted = _ok(
            exporter.post(
                f"{API}/custody-events",
                json={
                    "kind": "accept",
                    "occurred_at": _when(40),
                    "transfer_event_id": transfer["id"],
                    "output": {
                        "tag": f"X-{uuid.uuid4().hex[:6]}",
                        "carats": f"{n}.000",
                        "stone_count": 3 * n,
                    },
                },
            )
        )
        lots = [accepted["outputs"][0]["lot_id"]]
        if n > 1:
            parts = [
                {"tag": f"P-{uuid.uuid4().hex[:6]}", "carats": "1.000", "stone_count": 3}
                for _ in range(n)
            ]
            split = _ok(
                exporter.post(
                    f"{API}/custody-events",
                    json={
                        "kind": "split",
                        "occurred_at": _when(35),
                        "lot_id": lots[0],
                        "outputs": parts,
                    },
                )
            )
            lots = [o["lot_id"] for o in split["outputs"]]
    with api.client("export_office") as office:
        for lot in lots:
            for body in (
                {"kind": "value", "lot_id": lot, "usd_value": "640.00"},
                {"kind": "seal", "lot_id": lot, "container_id": f"S-{uuid.uuid4().hex[:6]}"},
            ):
                _ok(office.post(f"{API}/custody-events", json={**body, "occurred_at": _when(20)}))
    return [str(lot) for lot in lots]


class LotPool:
    """Sealed export lots made once per server, handed out one test at a time."""

    def __init__(self, api: Api, origin: Json, size: int) -> None:
        self.lots = sealed_lots(api, origin, size)

    def take(self, n: int = 1) -> list[str]:
        assert len(self.lots) >= n, "raise the pool size"
        taken, self.lots = self.lots[:n], self.lots[n:]
        return taken


@pytest.fixture(scope="module")
def pool(api: Api, origin: Json) -> LotPool:
    return LotPool(api, origin, 14)


def evidence(api: Api, lot_id: str, verdict: str = "pass", **checks: str) -> str:
    results = [
        {"id": k, "verdict": v, "sentence": f"check {k}: {v}", "records": []}
        for k, v in ({"origin": "pass"} | checks).items()
    ]
    with session_factory(api.engine)() as session:
        row = EvidenceReport(
            lot_id=uuid.UUID(lot_id),
            verdict=verdict,
            checks=results,
            data_version=data_version(session, uuid.UUID(lot_id)),
            digest=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        )
        session.add(row)
        session.commit()
        return str(row.id)


def shipment(lot_id: str, **kw: Any) -> Json:
    return {
        "lot_id": lot_id,
        "importer_name": "Antwerp Rough NV",
        "importer_address": "Hoveniersstraat 22, 2018 Antwerpen",
        "destination_country": "BE",
        "hs_code": "7102.31",
        **kw,
    }


def issued(api: Api, pool: LotPool) -> Json:
    lot = pool.take()[0]
    evidence(api, lot)
    with api.client("export_office") as office:
        return _ok(office.post(CERTS, json=shipment(lot)))


def reencode(payload: str, **changes: Any) -> str:
    prefix, body, signature = payload.split(".")
    fields = json.loads(unb64u(body)) | changes
    return ".".join((prefix, b64u(canonical(fields)), signature))


@pytest.fixture(scope="module")
def spec(api: Api) -> Json:
    with api.client() as c:
        return dict(c.get("/openapi.json").json())


def conforms(spec: Json, path: str, method: str, status: int, body: Any) -> None:
    op = spec["paths"][path][method]
    schema = next(iter(op["responses"][str(status)]["content"].values()))["schema"]
    Draft202012Validator({**schema, "components": spec["components"]}).validate(body)


def test_a_certificate_is_issued_printed_and_verified_online_and_offline(
    api: Api, pool: LotPool, spec: Json, tmp_path: Path
) -> None:
    cert = issued(api, pool)
    conforms(spec, CERTS, "post", 201, cert)
    assert cert["number"].startswith("SL-") and cert["status"] == "valid"
    assert cert["country_of_origin"] == "SL" and cert["carats"] == "1.00"
    assert cert["usd_value"] == "640.00" and cert["hs_code"] == "7102.31"
    number, payload = cert["number"], cert["payload"]
    with api.client() as public:
        answer = _ok(public.get(f"{CERTS}/{number}/verify"), 200)
        conforms(spec, f"{CERTS}/{{number}}/verify", "get", 200, answer)
        assert answer["status"] == "valid" and answer["expired"] is False
        shown = set(answer["certificate"])
        assert not shown & {"lot_id", "importer_address", "payload", "issued_by", "override_reason"}
        good = _ok(public.get(f"{CERTS}/{number}/verify", params={"payload": payload}), 200)
        assert good["payload_check"]["valid"] is True, good
        for name in FIELDS:
            if name == "kid":
                continue
            forged = reencode(payload, **{name: TAMPER[name]})
            r = _ok(public.get(f"{CERTS}/{number}/verify", params={"payload": forged}), 200)
            assert r["payload_check"]["valid"] is False, name
        prefix, body, sig = payload.split(".")
        flipped = bytearray(unb64u(sig))
        flipped[5] ^= 0x80
        resigned = f"{prefix}.{body}.{b64u(bytes(flipped))}"
        answer = _ok(public.get(f"{CERTS}/{number}/verify", params={"payload": resigned}), 200)
        assert answer["payload_check"]["valid"] is False
        unknown = _ok(public.get(f"{CERTS}/SL-1999-999999/verify"), 200)
        assert unknown["status"] == "unknown" and unknown["certificate"] is None
        keys = _ok(public.get(KEYS_URL), 200)
        assert [k["kid"] for k in keys["keys"]] == [cert["key_id"]]
    with api.client("exporter") as exporter:
        page = exporter.get(f"{CERTS}/{number}/print")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert number in page.text and "<svg" in page.text and "@page { size: A4" in page.text
        assert "Certificat du Processus de Kimberley" in page.text
        svg = exporter.get(f"{CERTS}/{number}/qr.svg")
        assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
        png = exporter.get(f"{CERTS}/{number}/qr.png")
        assert (
            png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
        )
    # Offline: only the published keys and the payload, in a separate process.
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    run = [
        sys.executable,
        "-m",
        "backend",
        "verify-certificate",
        "--public-key",
        str(tmp_path / "keys.json"),
    ]
    ok = subprocess.run([*run, payload], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("VALID") and number in ok.stdout
    tampered = reencode(payload, ct="150.00")
    assert offline.main(["--public-key", str(tmp_path / "keys.json"), tampered]) == 1


def test_failing_evidence_is_refused_naming_checks_until_the_export_office_overrides(
    api: Api, pool: LotPool
) -> None:
    lot = pool.take()[0]
    report_id = evidence(api, lot, "fail", production="fail", footprint="warn")
    with api.client("export_office") as office:
        refused = assert_problem(office.post(CERTS, json=shipment(lot)), 409, "override_reason")
        assert [c["id"] for c in refused["failing_checks"]] == ["production"]
        assert refused["evidence_report_id"] == report_id
    with api.client("admin") as admin:
        r = admin.post(CERTS, json=shipment(lot, override_reason="Admin says fine, no reason."))
        assert_problem(r, 403)
    reason = "Site capacity estimate is from one 2019 visit; a new visit on 2026-11-20 counted 60."
    with api.client("export_office") as office:
        cert = _ok(office.post(CERTS, json=shipment(lot, override_reason=reason)))
        assert cert["override_reason"] == reason and cert["issued_on_override"] is True
    with api.client("auditor") as auditor:
        shown = _ok(auditor.get(f"{CERTS}/{cert['number']}"), 200)
        assert shown["override_reason"] == reason
        trail = _ok(auditor.get(f"{API}/audit", params={"entity_type": "evidence_report"}), 200)
        mine = [e for e in trail["items"] if e["entity_id"] == report_id]
        assert [e["action"] for e in mine] == ["override"] and mine[0]["reason"] == reason


@pytest.fixture(scope="module")
def certificate(api: Api, pool: LotPool) -> Json:
    return issued(api, pool)


WRITERS = ("admin", "export_office")
OUTSIDERS = ("buyer", "exporter", "ministry", "auditor", "officer", "donor")
READERS = ("admin", "ministry", "auditor", "export_office", "exporter")  # exporter: its own
COUNTERS = ("admin", "ministry", "auditor", "export_office", "donor")


def test_only_the_export_office_and_admin_issue_void_and_confirm(
    api: Api, certificate: Json
) -> None:
    number = certificate["number"]
    slip = {"received_on": date.today().isoformat(), "importing_authority": "BE FPS"}
    for who in OUTSIDERS:
        with api.client(who) as client:
            assert_problem(client.post(CERTS, json=shipment(certificate["lot_id"])), 403)
            r = client.post(f"{CERTS}/{number}/void", json={"reason": "Not my job to void."})
            assert_problem(r, 403)
            assert_problem(client.post(f"{CERTS}/{number}/confirmation", json=slip), 403)
    with api.client() as public:
        assert_problem(public.post(CERTS, json=shipment(certificate["lot_id"])), 401)
        answer = _ok(public.get(f"{CERTS}/{number}/verify"), 200)
        assert answer["status"] == "valid" and answer["certificate"]["number"] == number
    with api.client("auditor") as auditor:
        assert _ok(auditor.get(f"{CERTS}/{number}"), 200)["version"] == 1  # nothing changed


def test_readers_see_certificates_donors_counts_only_and_others_nothing(
    api: Api, certificate: Json
) -> None:
    number = certificate["number"]
    for who in (*READERS, "donor", "buyer", "officer"):
        sees = who in READERS
        with api.client(who) as client:
            for path in (
                f"{CERTS}/{number}",
                f"{CERTS}/{number}/print",
                f"{CERTS}/{number}/qr.svg",
            ):
                r = client.get(path)
                assert r.status_code == (200 if sees else 403), (who, path, r.text)
            listed = client.get(CERTS, params={"limit": 1000})
            if sees:
                assert number in [c["number"] for c in _ok(listed, 200)["items"]], who
            else:
                assert_problem(listed, 403)
            counts = client.get(f"{CERTS}/counts")
            if who in COUNTERS:
                years = _ok(counts, 200)["years"]
                assert sum(y["issued"] for y in years) >= 1
                assert set(years[0]) == {
                    "year",
                    "issued",
                    "valid",
                    "voided",
                    "confirmed",
                    "awaiting_confirmation_overdue",
                }
            else:
                assert_problem(counts, 403)


def test_void_replace_and_confirm_over_http(api: Api, pool: LotPool) -> None:
    first = issued(api, pool)
    number = first["number"]
    with api.client("export_office") as office:
        # the replacement body has no lot: the lot is the voided certificate's
        body = {k: v for k, v in shipment(first["lot_id"]).items() if k != "lot_id"}
        replacement = _ok(
            office.post(
                f"{CERTS}/{number}/replace",
                json={
                    **body,
                    "importer_name": "Antwerp Rough NV (corrected)",
                    "void_reason": "Importer name misspelt.",
                },
            )
        )
        assert replacement["replaces"] == number and replacement["number"] != number
        old = _ok(office.get(f"{CERTS}/{number}"), 200)
        assert old["status"] == "voided" and old["replaced_by"] == replacement["number"]
        slip = {
            "received_on": date.today().isoformat(),
            "importing_authority": "FPS Economy, Antwerp Diamond Office",
            "reference": "IMP-2026-4411",
        }
        confirmed = _ok(
            office.post(f"{CERTS}/{replacement['number']}/confirmation", json=slip), 200
        )
        assert confirmed["confirmation"]["reference"] == "IMP-2026-4411"
        again = office.post(f"{CERTS}/{replacement['number']}/confirmation", json=slip)
        assert_problem(again, 409)
        assert_problem(office.post(f"{CERTS}/{number}/confirmation", json=slip), 409)
        overdue = _ok(office.get(CERTS, params={"awaiting_confirmation": "true"}), 200)
        assert replacement["number"] not in [c["number"] for c in overdue["items"]]
    with api.client() as public:
        answer = _ok(public.get(f"{CERTS}/{number}/verify"), 200)
        assert answer["status"] == "voided" and answer["replaced_by"] == replacement["number"]
        old_payload = public.get(f"{CERTS}/{number}/verify", params={"payload": first["payload"]})
        assert _ok(old_payload, 200)["payload_check"]["valid"] is True  # signed, but voided
    with api.client("auditor") as auditor:
        trail = _ok(auditor.get(f"{API}/audit", params={"entity_type": "certificate"}), 200)
        actions = {(e["entity_id"], e["action"]) for e in trail["items"]}
        assert {
            (first["id"], "issue"),
            (first["id"], "void"),
            (replacement["id"], "issue"),
            (replacement["id"], "confirm"),
        } <= actions


def test_bad_input_is_refused_naming_the_field_and_changes_nothing(api: Api, pool: LotPool) -> None:
    lot = pool.take()[0]
    evidence(api, lot)
    with api.client("export_office") as office:
        before = _ok(office.get(f"{CERTS}/counts"), 200)
        assert_problem(office.post(CERTS, json=shipment(lot, hs_code="7102.99")), 422, "hs_code")
        assert_problem(
            office.post(CERTS, json=shipment(lot, destination_country="Belgium")),
            422,
            "destination_country",
        )
        assert_problem(office.post(CERTS, json=shipment(str(uuid.uuid4()))), 422, "lot_id")
        assert_problem(office.post(CERTS, json=shipment(lot, parcels=0)), 422, "parcels")
        assert_problem(office.post(CERTS, json={"lot_id": lot}), 422, "importer_name")
        assert_problem(office.post(CERTS, json=shipment(lot, extra="x")), 422, "extra")
        assert_problem(office.get(CERTS, params={"status": "lost"}), 422, "query.status")
        assert_problem(office.get(f"{CERTS}/SL-2026-000000"), 404)
        assert_problem(
            office.post(f"{CERTS}/SL-2026-000000/void", json={"reason": "no such certificate"}),
            404,
        )
        assert office.get(f"{CERTS}/counts").json() == before
    with api.client() as public:
        r = public.get(f"{CERTS}/SL-2026-000001/verify", params={"payload": "x" * 5000})
        assert_problem(r, 422, "query.payload")
        r = public.get(f"{CERTS}/SL-2026-000001/verify", params={"payload": "garbage"})
        assert _ok(r, 200)["payload_check"]["valid"] is False


def test_concurrent_issuance_gives_gapless_unique_numbers(api: Api, pool: LotPool) -> None:
    lots = pool.take(8)
    for lot in lots:
        evidence(api, lot)
    # 8 lots, and 4 racing second requests for lots already being certified.
    requests = lots + lots[:4]

    def issue(lot: str) -> httpx.Response:
        with api.client("export_office") as office:
            return office.post(CERTS, json=shipment(lot))

    with ThreadPoolExecutor(max_workers=len(requests)) as threads:
        answers = list(threads.map(issue, requests))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] * 8 + [409] * 4, [r.text for r in answers if r.status_code != 201]
    certs = [r.json() for r in answers if r.status_code == 201]
    assert sorted(c["lot_id"] for c in certs) == sorted(lots)
    serials = sorted(int(c["number"].rsplit("-", 1)[1]) for c in certs)
    assert serials == list(range(serials[0], serials[0] + 8)), serials
