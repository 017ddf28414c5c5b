"""Every op gets its own right answer over real HTTP, on both databases: no silent overwrite,
no op id reused unnoticed, a bad op refused alone, the author audited, device clocks corrected,
creates waiting for their parent, conflicts resolved with a compare-and-set."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from backend.audit.models import AuditEntry
from backend.registry.models import SiteVisit
from offline_sync.client import licence_status
from offline_sync.server.tables import SyncOp
from tests.e2e.conftest import Api
from tests.e2e.helpers import free_spot, point, square, unique
from tests.sync.server_helpers import Device, miner_fields


@pytest.fixture
def tablet_a(api: Api) -> Iterator[Device]:
    device = Device(api, "officer")
    yield device
    device.close()


@pytest.fixture
def tablet_b(api: Api) -> Iterator[Device]:
    device = Device(api, "officer")
    yield device
    device.close()


def _miner(api: Api, record: uuid.UUID) -> dict[str, Any]:
    with api.client("ministry") as c:
        body: dict[str, Any] = c.get(f"/api/v1/miners/{record}").json()
    return body


def test_second_offline_edit_of_a_field_another_tablet_changed_is_a_conflict_not_an_overwrite(
    tablet_a: Device, tablet_b: Device, api: Api
) -> None:
    record = uuid.uuid4()
    assert tablet_a.results(tablet_a.op("miner", "create", record, miner_fields()))[0]["version"]
    b = tablet_b.results(tablet_b.op("miner", "update", record, {"phone": "+232 76 999999"}, 1))
    assert b[0]["status"] == "applied" and b[0]["version"] == 2
    first, second = tablet_a.results(
        tablet_a.op("miner", "update", record, {"phone": "+232 76 111111"}, 1),
        tablet_a.op("miner", "update", record, {"phone": "+232 76 222222"}, 1),
    )
    assert first["status"] == "conflict"
    # B's value was changed by someone else since version 1: a conflict again, never applied.
    assert second["status"] == "conflict", second
    assert _miner(api, record)["phone"] == "+232 76 999999"
    with api.client("ministry") as c:
        open_ = c.get("/sync/v1/conflicts", params={"status": "open"}).json()["items"]
    mine = {x["op_id"]: x for x in open_ if x["record_id"] == str(record)}
    assert mine[first["op_id"]]["fields"]["phone"]["device"] == "+232 76 111111"
    assert mine[second["op_id"]]["fields"]["phone"]["device"] == "+232 76 222222"


def test_a_device_never_conflicts_with_its_own_earlier_edit(
    tablet_a: Device, tablet_b: Device, api: Api
) -> None:
    record = uuid.uuid4()
    tablet_a.results(tablet_a.op("miner", "create", record, miner_fields()))
    seen_by_b = {"national_id": unique("NID")}
    b = tablet_b.results(tablet_b.op("miner", "update", record, seen_by_b, 1))
    assert b[0]["status"] == "applied" and b[0]["version"] == 2
    answers = tablet_a.results(
        tablet_a.op("miner", "update", record, {"phone": "+232 76 111111"}, 1),
        tablet_a.op("miner", "update", record, {"phone": "+232 76 222222"}, 1),
    )
    assert [a["status"] for a in answers] == ["applied", "applied"]
    assert _miner(api, record)["phone"] == "+232 76 222222"


def test_same_op_id_twice_in_one_push_with_other_content_is_refused_op_id_reused(
    tablet_a: Device, api: Api
) -> None:
    record = uuid.uuid4()
    first = tablet_a.op("miner", "create", record, miner_fields())
    again = {**first, "fields": miner_fields(full_name="Someone Else")}
    same = dict(first)
    r = tablet_a.push(first, again, same)
    assert r.status_code == 200, r.text
    answers = r.json()["results"]
    assert [a["status"] for a in answers] == ["applied", "rejected", "duplicate"]
    assert answers[1]["code"] == "op-id-reused"
    assert _miner(api, record)["full_name"] == first["fields"]["full_name"]


@pytest.mark.parametrize(
    "bad_fields, pointer",
    [
        ({"full_name": "Nul\u0000Byte"}, "#/fields/full_name"),
        ({"notes": {"inner": ["ok", float("nan")]}}, "#/fields/notes/inner/1"),
    ],
    ids=["nul", "nan"],
)
def test_op_with_a_nul_or_nan_is_refused_alone_and_the_valid_op_beside_it_is_applied(
    tablet_a: Device, api: Api, bad_fields: dict[str, Any], pointer: str
) -> None:
    good, bad = uuid.uuid4(), uuid.uuid4()
    ops = (
        tablet_a.op("miner", "create", good, miner_fields()),
        tablet_a.op("miner", "create", bad, miner_fields(**bad_fields)),
    )
    for _ in range(2):  # a retry of the same batch gets the same answers
        body = json.dumps({"sent_at": datetime.now(UTC).isoformat(), "ops": list(ops)})
        r = tablet_a.http.post(
            "/sync/v1/push", content=body, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 200, r.text
        answers = r.json()["results"]
        assert [a.get("first_status") or a["status"] for a in answers] == ["applied", "rejected"]
        assert answers[1]["code"] == "unstorable-value"
        assert [e["pointer"] for e in answers[1]["errors"]] == [pointer]
    assert _miner(api, good)["id"] == str(good)
    with api.client("ministry") as c:
        assert c.get(f"/api/v1/miners/{bad}").status_code == 404


def test_op_released_by_another_devices_create_is_audited_as_its_own_author_and_times(
    api: Api, origin: dict[str, Any]
) -> None:
    creator, editor = Device(api, "officer"), Device(api, "admin")
    try:
        record = uuid.uuid4()
        made = datetime.now(UTC) - timedelta(hours=5)
        waiting = editor.op("miner", "update", record, {"phone": "+232 76 444444"}, 1)
        waiting["device_time"] = made.isoformat()
        assert editor.results(waiting)[0]["status"] == "pending"
        assert creator.results(creator.op("miner", "create", record, miner_fields()))[0][
            "status"
        ] == ("applied")
        with api.engine.connect() as conn:
            entry = conn.execute(
                select(AuditEntry).where(
                    AuditEntry.entity_id == str(record), AuditEntry.action == "update"
                )
            ).one()
        assert entry.user_id == api.users["admin"].id
        assert entry.device_id == editor.device_id
        assert abs(entry.device_time - made) < timedelta(seconds=1)
        assert entry.at > made + timedelta(hours=4)  # applied now, not when made
        assert _miner(api, record)["phone"] == "+232 76 444444"
    finally:
        creator.close()
        editor.close()


def _visit(site_id: str, lon: float, lat: float, at: datetime) -> dict[str, Any]:
    return {
        "site_id": site_id,
        "visited_at": at.isoformat(),
        "diggers_counted": 7,
        "geometry": point(lon, lat),
    }


def test_tablet_three_days_fast_logs_visits_on_the_corrected_clock_and_keeps_its_own_reading(
    tablet_a: Device, api: Api, origin: dict[str, Any]
) -> None:
    fast = timedelta(days=3)
    lon, lat = origin["location"]["coordinates"]
    visits = [uuid.uuid4(), uuid.uuid4()]
    device_now = datetime.now(UTC) + fast
    ops = [
        tablet_a.op("site_visit", "create", v, _visit(origin["site_id"], lon, lat, device_now))
        for v in visits
    ]
    r = tablet_a.push(*ops, sent_at=device_now)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["clock_drift"] is True
    assert [a["status"] for a in body["results"]] == ["applied", "applied"], body
    with api.engine.connect() as conn:
        rows = conn.execute(select(SiteVisit).where(SiteVisit.id.in_(visits))).all()
    for row in rows:
        assert abs(row.visited_at - datetime.now(UTC)) < timedelta(minutes=2)
        assert abs(row.device_visited_at - device_now) < timedelta(seconds=1)


def test_visit_to_a_site_the_server_has_not_seen_waits_then_applies_when_the_site_arrives(
    api: Api,
) -> None:
    with api.client("admin") as admin:
        lon, lat = free_spot(admin)
    mapper, visitor = Device(api, "officer"), Device(api, "officer")
    try:
        site, visit, late = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        now = datetime.now(UTC)
        first = visitor.op("site_visit", "create", visit, _visit(str(site), lon, lat, now))
        parked = visitor.results(
            first, visitor.op("site_visit", "create", late, _visit(str(site), lon, lat, now))
        )
        assert [p["status"] for p in parked] == ["pending", "pending"]
        assert parked[0]["code"] == "waiting-for-create"
        with api.client("ministry") as c:
            listed = {p["op_id"]: p for p in c.get("/sync/v1/pending").json()["items"]}
        assert listed[parked[0]["op_id"]]["depends_on"] == f"site:{site}"
        # Escalated like any waiting op when the parent does not come in time.
        with api.engine.begin() as conn:
            conn.execute(
                update(SyncOp)
                .where(SyncOp.op_id == uuid.UUID(parked[1]["op_id"]))
                .values(received_at=now - timedelta(days=4))
            )
        site_fields = {"name": unique("site"), "district": "SL-E-KO", "geometry": square(lon, lat)}
        assert mapper.results(mapper.op("site", "create", site, site_fields))[0]["status"] == (
            "applied"
        )
        replay = visitor.results(first)[0]
        assert replay["status"] == "duplicate" and replay["first_status"] == "applied"
        with api.client("officer") as c:
            assert c.get(f"/api/v1/site-visits/{visit}").status_code == 200
            assert c.get(f"/api/v1/site-visits/{late}").status_code == 200
    finally:
        mapper.close()
        visitor.close()


def test_resolving_a_conflict_on_a_record_that_moved_on_gives_409_and_changes_nothing(
    tablet_a: Device, tablet_b: Device, api: Api
) -> None:
    record = uuid.uuid4()
    tablet_a.results(tablet_a.op("miner", "create", record, miner_fields()))
    tablet_b.results(tablet_b.op("miner", "update", record, {"phone": "+232 76 999999"}, 1))
    conflict = tablet_a.results(
        tablet_a.op("miner", "update", record, {"phone": "+232 76 111111"}, 1)
    )[0]
    assert conflict["status"] == "conflict"
    seen = _miner(api, record)["version"]
    # While the supervisor decides, a tablet edits the record.
    meanwhile = tablet_b.op("miner", "update", record, {"phone": "+232 76 888888"}, seen)
    assert tablet_b.results(meanwhile)[0]["version"] == seen + 1
    with api.client("ministry") as c:
        r = c.post(
            f"/sync/v1/conflicts/{conflict['conflict_id']}/resolve",
            json={"take": {"phone": "device"}, "version": seen},
        )
        assert r.status_code == 409, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["current_version"] == seen + 1
        assert _miner(api, record)["phone"] == "+232 76 888888"
        still = c.get("/sync/v1/conflicts", params={"status": "open"}).json()["items"]
        assert conflict["conflict_id"] in {x["id"] for x in still}
        ok = c.post(
            f"/sync/v1/conflicts/{conflict['conflict_id']}/resolve",
            json={"take": {"phone": "device"}, "version": seen + 1},
        )
        assert ok.status_code == 200, ok.text
    assert _miner(api, record)["phone"] == "+232 76 111111"


def test_licence_in_the_feed_carries_what_its_status_depends_on_not_the_status_of_one_day(
    tablet_a: Device,
) -> None:
    licences = [
        c["data"]
        for c in tablet_a.pull_all(limit=5000)
        if c["entity"] == "licence" and c["kind"] == "upsert"
    ]
    assert licences
    for data in licences:
        assert "effective_status" not in data  # it would be stale the day after it was written
        assert {"status", "valid_from", "valid_to"} <= data.keys()
    active = next(d for d in licences if d["status"] == "active")
    last_day = date.fromisoformat(active["valid_to"])
    assert licence_status(active, last_day) == "active"
    assert licence_status(active, last_day + timedelta(days=1)) == "expired"


def test_resolution_that_takes_a_devices_delete_records_the_delete_as_written(
    tablet_a: Device, tablet_b: Device, api: Api
) -> None:
    """Found by the convergence test: the resolution record said it wrote nothing while it
    deleted the record, so the audit's delete had no conflict resolution to explain it."""
    record = uuid.uuid4()
    tablet_a.results(tablet_a.op("miner", "create", record, miner_fields()))
    tablet_b.results(tablet_b.op("miner", "update", record, {"phone": "+232 76 999999"}, 1))
    [conflict] = tablet_a.results(tablet_a.op("miner", "delete", record, {}, 1))
    assert conflict["status"] == "conflict"
    with api.client("ministry") as c:
        r = c.post(
            f"/sync/v1/conflicts/{conflict['conflict_id']}/resolve",
            json={"take": {"_deleted": "device"}},
        )
        assert r.status_code == 200, r.text
        assert r.json()["resolution"]["written"] == {"_deleted": True}
        assert r.json()["resolution_version"] == 3
        assert c.get(f"/api/v1/miners/{record}").status_code == 404
