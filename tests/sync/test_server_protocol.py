"""The sync server over real HTTP: every op gets exactly one answer, and nothing is lost."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import Api
from tests.sync.server_helpers import Device, miner_fields


@pytest.fixture
def officer(api: Api) -> Iterator[Device]:
    device = Device(api, "officer")
    yield device
    device.close()


@pytest.fixture
def other_officer(api: Api) -> Iterator[Device]:
    device = Device(api, "officer")
    yield device
    device.close()


def test_create_is_applied_and_a_replay_is_a_duplicate_with_the_first_answer(
    officer: Device,
) -> None:
    op = officer.op("miner", "create", uuid.uuid4(), miner_fields())
    first = officer.results(op)[0]
    assert first["status"] == "applied" and first["version"] == 1
    again = officer.results(op)[0]
    assert again["status"] == "duplicate"
    assert again["first_status"] == "applied" and again["version"] == 1


def test_same_op_id_with_new_content_is_rejected_and_the_first_is_kept(
    officer: Device, api: Api
) -> None:
    record = uuid.uuid4()
    op = officer.op("miner", "create", record, miner_fields())
    officer.results(op)
    changed = {**op, "fields": miner_fields(full_name="Someone Else")}
    result = officer.results(changed)[0]
    assert result["status"] == "rejected" and result["code"] == "op-id-reused"
    with api.client("ministry") as c:
        assert c.get(f"/api/v1/miners/{record}").json()["full_name"] == op["fields"]["full_name"]


def test_invalid_op_is_rejected_with_rest_style_errors_and_the_rest_of_the_batch_stands(
    officer: Device, api: Api
) -> None:
    good, bad = uuid.uuid4(), uuid.uuid4()
    results = officer.results(
        officer.op("miner", "create", good, miner_fields()),
        officer.op("miner", "create", bad, {"full_name": "", "district": "SL-E-KO"}),
    )
    assert [r["status"] for r in results] == ["applied", "rejected"]
    assert results[1]["errors"][0]["pointer"] == "#/fields/full_name"
    with api.client("ministry") as c:
        assert c.get(f"/api/v1/miners/{good}").status_code == 200
        assert c.get(f"/api/v1/miners/{bad}").status_code == 404


def test_scope_applies_to_synced_writes_too(officer: Device, api: Api) -> None:
    record = uuid.uuid4()
    result = officer.results(
        officer.op("miner", "create", record, miner_fields(district="SL-S-BO"))
    )[0]
    assert result["status"] == "rejected" and result["code"] == "forbidden"
    assert result["errors"][0]["pointer"] == "#/fields/district"


def test_pull_only_entities_refuse_ops(officer: Device) -> None:
    result = officer.results(
        officer.op("licence", "update", uuid.uuid4(), {"valid_to": "2030-01-01"}, 1)
    )[0]
    assert result["status"] == "rejected" and result["code"] == "pull-only"


def test_update_before_its_create_waits_then_applies_in_order(officer: Device, api: Api) -> None:
    record = uuid.uuid4()
    create = officer.op("miner", "create", record, miner_fields())
    update = officer.op("miner", "update", record, {"phone": "+232 76 555111"}, base_version=1)
    assert officer.results(update)[0]["status"] == "pending"
    assert officer.results(create)[0]["status"] == "applied"
    replay = officer.results(update)[0]
    assert (
        replay["status"] == "duplicate"
        and replay["first_status"] == "applied"
        and replay["version"] == 2
    )
    with api.client("ministry") as c:
        assert c.get(f"/api/v1/miners/{record}").json()["phone"] == "+232 76 555111"


def test_ops_in_one_batch_apply_in_sequence_order_whatever_order_they_arrive_in(
    officer: Device, api: Api
) -> None:
    record = uuid.uuid4()
    create = officer.op("miner", "create", record, miner_fields())
    update = officer.op("miner", "update", record, {"status": "inactive"}, base_version=1)
    results = officer.results(update, create)
    assert [r["status"] for r in results] == ["applied", "applied"]
    with api.client("ministry") as c:
        assert c.get(f"/api/v1/miners/{record}").json()["status"] == "inactive"


def test_stale_edit_of_other_fields_merges(officer: Device, api: Api) -> None:
    record = uuid.uuid4()
    officer.results(officer.op("miner", "create", record, miner_fields()))
    with api.client("ministry") as c:
        assert (
            c.patch(
                f"/api/v1/miners/{record}", json={"version": 1, "national_id": "SL-NEW-1"}
            ).status_code
            == 200
        )
    result = officer.results(
        officer.op("miner", "update", record, {"phone": "+232 76 000001"}, base_version=1)
    )[0]
    assert result["status"] == "applied" and result["merged"] is True and result["version"] == 3
    with api.client("ministry") as c:
        m = c.get(f"/api/v1/miners/{record}").json()
    assert (m["national_id"], m["phone"]) == ("SL-NEW-1", "+232 76 000001")


def test_stale_edit_of_the_same_field_keeps_both_values_and_a_supervisor_resolves(
    officer: Device, api: Api
) -> None:
    record = uuid.uuid4()
    officer.results(officer.op("miner", "create", record, miner_fields()))
    with api.client("ministry") as c:
        assert (
            c.patch(
                f"/api/v1/miners/{record}", json={"version": 1, "phone": "+232 76 111111"}
            ).status_code
            == 200
        )
    result = officer.results(
        officer.op("miner", "update", record, {"phone": "+232 76 222222"}, base_version=1)
    )[0]
    assert result["status"] == "conflict" and result["conflict_id"]
    with api.client("ministry") as c:
        assert c.get(f"/api/v1/miners/{record}").json()["phone"] == "+232 76 111111"  # server kept
        conflict = c.get("/sync/v1/conflicts", params={"status": "open"}).json()["items"]
        mine = next(x for x in conflict if x["id"] == result["conflict_id"])
        assert mine["fields"]["phone"] == {"server": "+232 76 111111", "device": "+232 76 222222"}
        resolved = c.post(
            f"/sync/v1/conflicts/{mine['id']}/resolve", json={"take": {"phone": "device"}}
        )
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["status"] == "resolved"
        assert c.get(f"/api/v1/miners/{record}").json()["phone"] == "+232 76 222222"
    with api.client("officer") as c:
        refused = c.post(
            f"/sync/v1/conflicts/{mine['id']}/resolve", json={"take": {"phone": "server"}}
        )
        assert refused.status_code == 403
    changes = officer.pull_all()
    synced = [ch for ch in changes if ch["record_id"] == str(record)]
    assert synced[-1]["data"]["phone"] == "+232 76 222222"  # the resolution syncs back


def test_first_pull_is_a_snapshot_of_the_scope_and_the_next_has_only_new_changes(
    officer: Device, api: Api
) -> None:
    snapshot = officer.pull_all(limit=200)
    ids = [c["record_id"] for c in snapshot]
    assert len(ids) == len(set(ids)), "a snapshot has each record once"
    scopes = {c["scope"] for c in snapshot}
    assert scopes <= {"national", "district:SL-E-KO"}
    assert {"jurisdiction", "miner", "site", "licence", "organisation"} <= {
        c["entity"] for c in snapshot
    }
    assert officer.pull_all() == []
    record = uuid.uuid4()
    with api.client("ministry") as c:
        assert (
            c.post("/api/v1/miners", json={"id": str(record), **miner_fields()}).status_code == 201
        )
        assert c.post("/api/v1/miners", json=miner_fields(district="SL-S-BO")).status_code == 201
    after = officer.pull_all()
    assert [(c["record_id"], c["kind"]) for c in after] == [(str(record), "upsert")]


def test_a_record_moved_out_of_the_district_leaves_as_an_exit(officer: Device, api: Api) -> None:
    record = uuid.uuid4()
    officer.results(officer.op("miner", "create", record, miner_fields()))
    officer.pull_all()
    with api.client("ministry") as c:
        assert (
            c.patch(
                f"/api/v1/miners/{record}", json={"version": 1, "district": "SL-S-BO"}
            ).status_code
            == 200
        )
    changes = [c for c in officer.pull_all() if c["record_id"] == str(record)]
    assert [(c["kind"], c["scope"]) for c in changes] == [("exit", "district:SL-E-KO")]


def test_delete_reaches_devices_as_a_tombstone(officer: Device, other_officer: Device) -> None:
    record = uuid.uuid4()
    officer.results(officer.op("miner", "create", record, miner_fields()))
    other_officer.pull_all()
    assert (
        officer.results(officer.op("miner", "delete", record, base_version=1))[0]["status"]
        == "applied"
    )
    changes = [c for c in other_officer.pull_all() if c["record_id"] == str(record)]
    assert [(c["kind"], c["data"]) for c in changes] == [("delete", None)]


def test_buyer_pull_has_every_miner_and_site_to_log_purchases_offline_miners_redacted(
    api: Api,
) -> None:
    buyer = Device(api, "buyer")
    try:
        changes = buyer.pull_all(limit=5000)
    finally:
        buyer.close()
    assert {c["scope"] for c in changes} <= {
        "national",
        "trade",
        f"org:{api.organisations['buying_office']}",
    }
    miners = [c for c in changes if c["entity"] == "miner" and c["kind"] == "upsert"]
    sites = [c for c in changes if c["entity"] == "site" and c["kind"] == "upsert"]
    assert miners and sites
    for c in miners:
        assert set(c["data"]) == {"id", "full_name", "licence_numbers"}
    assert not [c for c in changes if c["entity"] == "site_visit"]


def test_a_national_snapshot_has_each_record_once(api: Api) -> None:
    ministry = Device(api, "ministry")
    try:
        changes = ministry.pull_all(limit=5000)
    finally:
        ministry.close()
    keys = [(c["entity"], c["record_id"]) for c in changes if c["kind"] != "exit"]
    assert len(keys) == len(set(keys))
    assert "trade" not in {c["scope"] for c in changes}


def test_donors_cannot_enrol_devices(api: Api) -> None:
    with api.client("donor") as c:
        assert c.post("/sync/v1/devices", json={"name": "x"}).status_code == 403


def test_revoked_device_is_refused_its_ops_quarantined_and_other_devices_keep_working(
    officer: Device, other_officer: Device, api: Api
) -> None:
    with api.client("ministry") as c:
        assert c.post(f"/sync/v1/devices/{officer.device_id}/revoke").status_code == 200
    record = uuid.uuid4()
    refused = officer.push(officer.op("miner", "create", record, miner_fields()))
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("device-revoked")
    with api.client("ministry") as c:
        held = c.get("/sync/v1/quarantine", params={"device_id": officer.device_id}).json()
        assert [q["payload"]["ops"][0]["record_id"] for q in held["items"]] == [str(record)]
        assert c.get(f"/api/v1/miners/{record}").status_code == 404
    assert (
        other_officer.results(other_officer.op("miner", "create", uuid.uuid4(), miner_fields()))[0][
            "status"
        ]
        == "applied"
    )
    with api.client("officer") as c:
        assert c.post(f"/sync/v1/devices/{other_officer.device_id}/revoke").status_code == 403


def test_gzip_push_is_accepted_and_pull_answers_gzip(officer: Device) -> None:
    r = officer.push(officer.op("miner", "create", uuid.uuid4(), miner_fields()), gzipped=True)
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "applied"
    pulled = officer.http.get(
        "/sync/v1/pull", params={"limit": 500}, headers={"Accept-Encoding": "gzip"}
    )
    assert pulled.headers.get("content-encoding") == "gzip"


def test_device_clock_offset_is_measured_and_drift_flagged(officer: Device, api: Api) -> None:
    skewed = datetime.now(UTC) - timedelta(hours=2)
    r = officer.push(officer.op("miner", "create", uuid.uuid4(), miner_fields()), sent_at=skewed)
    body = r.json()
    assert body["clock_drift"] is True and 7_100_000 < body["clock_offset_ms"] < 7_300_000
    with api.client("ministry") as c:
        device = next(
            d for d in c.get("/sync/v1/devices").json()["items"] if d["id"] == officer.device_id
        )
    assert device["clock_drift"] is True


def test_attachment_uploads_in_chunks_resumes_at_the_server_offset_and_is_immutable(
    officer: Device,
) -> None:
    data = uuid.uuid4().bytes * 5000
    sha = hashlib.sha256(data).hexdigest()
    size = {"X-Attachment-Size": str(len(data)), "Content-Type": "application/octet-stream"}
    # An upload follows the record that names it, so the miner comes first.
    officer.results(officer.op("miner", "create", uuid.uuid4(), miner_fields(photo_ref=sha)))
    assert officer.http.get(f"/sync/v1/attachments/{sha}").status_code == 404
    first = officer.http.post(
        f"/sync/v1/attachments/{sha}", params={"offset": 0}, content=data[:30000], headers=size
    )
    assert first.json() == {"sha256": sha, "size": len(data), "received": 30000, "complete": False}
    wrong = officer.http.post(
        f"/sync/v1/attachments/{sha}", params={"offset": 50000}, content=data[50000:], headers=size
    )
    assert wrong.status_code == 409 and wrong.json()["received"] == 30000
    rest = officer.http.post(
        f"/sync/v1/attachments/{sha}", params={"offset": 30000}, content=data[30000:], headers=size
    )
    assert rest.status_code == 200, rest.text
    assert rest.json()["complete"] is True
    assert officer.http.get(f"/sync/v1/attachments/{sha}/content").content == data
    again = officer.http.post(
        f"/sync/v1/attachments/{sha}", params={"offset": 0}, content=b"x" * 10, headers=size
    )
    assert again.json()["complete"] is True
    assert officer.http.get(f"/sync/v1/attachments/{sha}/content").content == data


def test_records_naming_a_photo_not_yet_uploaded_are_listed_as_missing(officer: Device) -> None:
    photo = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    officer.results(officer.op("miner", "create", uuid.uuid4(), miner_fields(photo_ref=photo)))
    assert photo in officer.http.get("/sync/v1/attachments/missing").json()["items"]


def test_push_without_a_device_credential_is_refused(api: Api) -> None:
    with api.client("officer") as c:
        r = c.post("/sync/v1/push", json={"sent_at": datetime.now(UTC).isoformat(), "ops": []})
    assert r.status_code == 403


def test_an_op_waiting_too_long_for_its_create_is_escalated_to_supervisors(
    officer: Device, api: Api
) -> None:
    from sqlalchemy import update

    from offline_sync.server.tables import SyncOp

    waiting = officer.op(
        "miner", "update", uuid.uuid4(), {"phone": "+232 76 999999"}, base_version=1
    )
    assert officer.results(waiting)[0]["status"] == "pending"
    with api.client("ministry") as c:
        listed = c.get("/sync/v1/pending").json()["items"]
        assert waiting["op_id"] in {p["op_id"] for p in listed}
        assert waiting["op_id"] not in {
            p["op_id"]
            for p in c.get("/sync/v1/pending", params={"escalated": "true"}).json()["items"]
        }
    with api.engine.begin() as conn:  # four days pass
        conn.execute(
            update(SyncOp)
            .where(SyncOp.op_id == uuid.UUID(waiting["op_id"]))
            .values(received_at=datetime.now(UTC) - timedelta(days=4))
        )
    officer.results(officer.op("miner", "create", uuid.uuid4(), miner_fields()))  # any later push
    with api.client("ministry") as c:
        overdue = c.get("/sync/v1/pending", params={"escalated": "true"}).json()["items"]
    assert waiting["op_id"] in {p["op_id"] for p in overdue}
    with api.client("officer") as c:
        assert c.get("/sync/v1/pending").status_code == 403
