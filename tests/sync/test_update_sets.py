"""Consecutive updates of different records are applied as one set, with the answers, ledger
rows and audit entries the one-by-one path gives; whatever the set cannot take goes alone."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from backend.audit.models import AuditEntry
from backend.registry.models import Miner
from offline_sync.protocol import Op, OpKind, OpStatus, PushRequest
from offline_sync.server.engine import Engine as SyncEngine
from offline_sync.server.entities import (
    ApplyContext,
    OpRejected,
    Registry,
    StaleBase,
    UpdateItem,
)
from offline_sync.server.tables import SyncDevice, SyncOp
from tests.e2e.conftest import Api
from tests.sync.server_helpers import Device, miner_fields

# --- the engine's side, with an entity kept in memory -------------------------------------------


class Counted:
    """A writable entity that records how each update reached it."""

    name, writable = "thing", True

    def __init__(self, records: int, *, set_fails: bool = False) -> None:
        self.ids = [uuid.uuid4() for _ in range(records)]
        self.version = dict.fromkeys(self.ids, 1)
        self.sets: list[list[uuid.UUID]] = []
        self.alone: list[uuid.UUID] = []
        self.set_fails = set_fails
        self.refuse: set[uuid.UUID] = set()
        self.race: set[uuid.UUID] = set()

    def version_of(self, ctx: ApplyContext, record_id: uuid.UUID) -> int | None:
        return self.version.get(record_id)

    def versions(self, ctx: ApplyContext, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        return {i: self.version[i] for i in ids if i in self.version}

    def changed_since(
        self, ctx: Any, record_id: Any, base: int, ignore: Any = ()
    ) -> dict[str, Any]:
        return {}

    def update(self, ctx: ApplyContext, record_id: uuid.UUID, version: int, fields: Any) -> int:
        self.alone.append(record_id)
        self.version[record_id] += 1
        return self.version[record_id]

    def update_many(
        self, ctx: ApplyContext, items: list[UpdateItem]
    ) -> list[int | OpRejected | StaleBase]:
        self.sets.append([i.record_id for i in items])
        if self.set_fails:
            raise RuntimeError("a constraint between two rows of the set")
        out: list[int | OpRejected | StaleBase] = []
        for item in items:
            if item.record_id in self.refuse:
                out.append(OpRejected("validation-failed", "no"))
            elif item.record_id in self.race:
                self.race.discard(item.record_id)
                out.append(StaleBase("moved on"))
            else:
                self.version[item.record_id] += 1
                out.append(self.version[item.record_id])
        return out


def _push(session: Session, thing: Counted, edits: list[tuple[uuid.UUID, int]]) -> list[Any]:
    registry = Registry()
    registry.register(thing)  # type: ignore[arg-type]
    device = SyncDevice(id=uuid.uuid4(), user_id=uuid.uuid4(), name="t")
    session.add(device)
    session.flush()
    ops = [
        Op(
            op_id=uuid.uuid4(),
            seq=n,
            entity="thing",
            record_id=record,
            kind=OpKind.update,
            base_version=base,
            fields={"x": n},
            device_time=datetime.now(UTC),
        )
        for n, (record, base) in enumerate(edits, start=1)
    ]
    request = PushRequest(sent_at=datetime.now(UTC), ops=ops)
    response = SyncEngine(registry).push(session, device=device, actor=object(), request=request)
    ledger = session.scalar(
        select(func.count()).select_from(SyncOp).where(SyncOp.device_id == device.id)
    )
    assert ledger == sum(1 for r in response.results if not r.retryable)
    return response.results


def test_updates_of_different_records_reach_the_entity_as_one_set(session: Session) -> None:
    thing = Counted(3)
    results = _push(session, thing, [(i, 1) for i in thing.ids])
    assert thing.sets == [thing.ids] and thing.alone == []
    assert [(r.status, r.version) for r in results] == [(OpStatus.applied, 2)] * 3


def test_a_second_update_of_a_record_goes_in_a_later_round_after_its_first(
    session: Session,
) -> None:
    thing = Counted(3)
    a, b, c = thing.ids
    results = _push(session, thing, [(a, 1), (b, 1), (a, 2), (c, 1)])
    assert thing.sets == [[a, b, c], [a]] and thing.alone == []  # a round of one is a set too
    assert [r.version for r in results] == [2, 2, 3, 2]


def test_each_records_updates_keep_device_order_across_rounds(session: Session) -> None:
    thing = Counted(4)
    a, b, c, d = thing.ids
    edits = [(a, 1), (b, 1), (a, 2), (c, 1), (b, 2), (a, 3), (d, 1), (c, 2)]
    results = _push(session, thing, edits)
    assert thing.sets == [[a, b, c, d], [a, b, c], [a]] and thing.alone == []
    assert [(r.status, r.version) for r in results] == [
        (OpStatus.applied, v) for v in (2, 2, 3, 2, 3, 4, 2, 3)
    ]
    assert thing.version == {a: 4, b: 3, c: 3, d: 2}


def test_a_first_update_taken_alone_comes_before_the_records_next_round(
    session: Session,
) -> None:
    thing = Counted(3)
    a, b, c = thing.ids
    thing.version[b] = 5  # someone else wrote b: its first update leaves the set
    results = _push(session, thing, [(a, 1), (b, 1), (c, 1), (b, 6), (c, 2)])
    assert thing.sets == [[a, c], [b, c]] and thing.alone == [b]
    assert [r.version for r in results] == [2, 6, 2, 7, 3]


def test_a_set_the_database_refuses_is_applied_one_by_one_in_device_order(
    session: Session,
) -> None:
    thing = Counted(3, set_fails=True)
    results = _push(session, thing, [(i, 1) for i in thing.ids])
    assert thing.alone == thing.ids
    assert all(r.status is OpStatus.applied for r in results)


def test_refusals_in_a_set_are_its_own_and_a_race_is_taken_alone(session: Session) -> None:
    thing = Counted(4)
    a, b, c, d = thing.ids
    thing.refuse, thing.race = {b}, {c}
    results = _push(session, thing, [(a, 1), (b, 1), (c, 1), (d, 1)])
    assert [r.status for r in results] == [OpStatus.applied, OpStatus.rejected] + [
        OpStatus.applied
    ] * 2
    assert thing.alone == [c]  # raced in the set, then applied on its own


def test_an_update_made_from_an_older_version_leaves_the_set_for_the_merge_path(
    session: Session,
) -> None:
    thing = Counted(3)
    a, b, c = thing.ids
    thing.version[b] = 5  # someone else wrote b since the device read it
    results = _push(session, thing, [(a, 1), (b, 1), (c, 1)])
    assert thing.sets == [[a, c]] and thing.alone == [b]
    assert [r.version for r in results] == [2, 6, 2]  # b alone: the merge path


# --- over HTTP, with the registry's miners ------------------------------------------------------


def test_a_push_of_miner_updates_answers_audits_and_refuses_each_as_alone(api: Api) -> None:
    tablet = Device(api, "officer")
    try:
        ids = [uuid.uuid4() for _ in range(5)]
        made = tablet.results(*(tablet.op("miner", "create", i, miner_fields()) for i in ids))
        assert {r["status"] for r in made} == {"applied"}
        when = datetime.now(UTC) - timedelta(hours=3)
        edits = [
            tablet.op("miner", "update", ids[0], {"phone": "+232 76 100001"}, 1),
            tablet.op("miner", "update", ids[1], {"district": None}, 1),  # a miner has one
            tablet.op("miner", "update", ids[2], {"district": "SL-S-BO"}, 1),  # not theirs
            tablet.op("miner", "update", ids[3], {"phone": "+232 76 100004"}, 1),
            tablet.op("miner", "update", uuid.uuid4(), {"phone": "+232 76 100005"}, 1),
            tablet.op("miner", "update", ids[4], {"national_id": "SL-SET-5"}, 1),
        ]
        for op in edits:
            op["device_time"] = when.isoformat()
        answers = tablet.results(*edits)
        assert [a["status"] for a in answers] == [
            "applied", "rejected", "rejected", "applied", "pending", "applied"
        ]  # fmt: skip
        assert answers[1]["errors"][0]["pointer"] == "#/fields/district"
        assert answers[2]["code"] == "forbidden"
        with api.client("ministry") as c:
            now = {i: c.get(f"/api/v1/miners/{i}").json() for i in ids}
        assert now[ids[0]]["phone"] == "+232 76 100001" and now[ids[0]]["version"] == 2
        assert now[ids[1]]["version"] == 1 and now[ids[1]]["district"] == "SL-E-KO"
        assert now[ids[2]]["version"] == 1 and now[ids[2]]["district"] == "SL-E-KO"
        assert now[ids[4]]["national_id"] == "SL-SET-5"
        with api.engine.connect() as conn:
            entries = conn.execute(
                select(AuditEntry).where(
                    AuditEntry.entity_id.in_([str(i) for i in ids]),  # type: ignore[attr-defined]
                    AuditEntry.action == "update",
                )
            ).all()
            ledger = conn.execute(
                select(SyncOp.status).where(
                    SyncOp.op_id.in_([uuid.UUID(o["op_id"]) for o in edits])  # type: ignore[attr-defined]
                )
            ).scalars()
            statuses = sorted(ledger)
        assert sorted(e.entity_id for e in entries) == sorted(
            str(i) for i in [ids[0], ids[3], ids[4]]
        )
        for e in entries:
            assert e.user_id == api.users["officer"].id
            assert e.device_id == tablet.device_id
            assert abs(e.device_time - when) < timedelta(seconds=1)
            assert e.before["version"] == 1 and e.after["version"] == 2
        assert statuses == sorted(["applied"] * 3 + ["rejected"] * 2 + ["pending"])
    finally:
        tablet.close()


def test_a_role_that_may_not_edit_miners_gets_each_update_of_a_set_refused(api: Api) -> None:
    officer, buyer = Device(api, "officer"), Device(api, "buyer")
    try:
        ids = [uuid.uuid4() for _ in range(3)]
        officer.results(*(officer.op("miner", "create", i, miner_fields()) for i in ids))
        answers = buyer.results(
            *(buyer.op("miner", "update", i, {"phone": "+232 76 555555"}, 1) for i in ids)
        )
        assert [a["status"] for a in answers] == ["rejected"] * 3
        assert {a["code"] for a in answers} == {"forbidden"}
        with api.client("ministry") as c:
            assert {c.get(f"/api/v1/miners/{i}").json()["version"] for i in ids} == {1}
    finally:
        officer.close()
        buyer.close()


# --- a create set racing another writer ---------------------------------------------------------


def test_a_create_set_racing_a_concurrent_create_of_one_id_refuses_only_that_op(
    api: Api,
) -> None:
    """Another writer inserts one of the set's ids and holds it uncommitted while the push runs.
    On PostGIS the push checks the ids, then its COPY waits on that key and fails when the other
    commits: the set goes one by one. On SQLite the push waits for the write lock, then sees the
    row. Either way that op alone is refused as `record-exists`; the rest are applied."""
    tablet = Device(api, "officer")
    ids = [uuid.uuid4() for _ in range(24)]  # a set past bulkinsert.COPY_FROM_ROWS
    raced = ids[7]
    row = Miner.unsaved(id=raced, full_name="Written Elsewhere", district_code="SL-E-KO")
    table = Miner.metadata.tables["miner"]
    other = api.engine.connect()
    try:
        held = other.begin()
        other.execute(insert(table).values({c.key: getattr(row, c.key) for c in table.columns}))
        ops = [tablet.op("miner", "create", i, miner_fields()) for i in ids]
        with ThreadPoolExecutor(1) as pool:
            pushed = pool.submit(tablet.results, *ops)
            time.sleep(1.5)  # the push is under way, waiting on the key or the lock
            held.commit()
            answers = pushed.result(timeout=60)
    finally:
        other.close()
        tablet.close()
    assert answers[7]["status"] == "rejected" and answers[7]["code"] == "record-exists"
    assert [a["status"] for i, a in enumerate(answers) if i != 7] == ["applied"] * 23
    with api.client("ministry") as c:
        assert c.get(f"/api/v1/miners/{raced}").json()["full_name"] == "Written Elsewhere"
        assert c.get(f"/api/v1/miners/{ids[8]}").status_code == 200
