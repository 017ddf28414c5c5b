"""The reference client's outbox and replica: ordering, answers, crash and resume, pull apply."""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from offline_sync.client import DeviceClient, Store, UnknownRecord
from offline_sync.client.__main__ import run
from offline_sync.protocol import Change, ChangeKind, OpKind, OpStatus, PullResponse, PushRequest
from tests.sync.conftest import BASE_URL, SCOPE, Crash, FakeServer, miner

Open = Callable[..., DeviceClient]


def test_each_op_gets_a_new_op_id_and_the_next_seq_kept_across_reopen(open_device: Open) -> None:
    device = open_device()
    rid = device.create("miner", miner())
    device.update("miner", rid, {"phone": "+23276111111"})
    device.close()
    device = open_device()
    device.delete("miner", rid)
    ops = [e.op for e in device.results()]
    assert [op.seq for op in ops] == [1, 2, 3]
    assert len({op.op_id for op in ops}) == 3
    assert [op.kind.value for op in ops] == ["create", "update", "delete"]
    assert all(op.device_time.tzinfo is not None for op in ops)


def test_create_shows_the_record_in_the_replica_before_any_push(open_device: Open) -> None:
    device = open_device()
    rid = device.create("miner", miner(full_name="Sia Lebbie"))
    record = device.get("miner", rid)
    assert record is not None
    assert record.data["full_name"] == "Sia Lebbie"
    assert record.data["id"] == str(rid)
    assert record.version is None and record.dirty


def test_update_of_a_record_the_device_never_saw_is_refused_locally(open_device: Open) -> None:
    with pytest.raises(UnknownRecord):
        open_device().update("miner", uuid.uuid4(), {"phone": "1"})


def test_push_sends_gzip_batches_in_seq_order(open_device: Open, fake: FakeServer) -> None:
    device = open_device(batch_size=2)
    for n in range(5):
        device.create("miner", miner(full_name=f"Miner {n}"))
    report = device.push()
    assert report.batches == 3
    pushes = [r for r in fake.requests if r.url.path == "/sync/v1/push"]
    assert all(r.headers["Content-Encoding"] == "gzip" for r in pushes)
    bodies = [PushRequest.model_validate_json(gzip.decompress(r.content)) for r in pushes]
    assert [[op.seq for op in b.ops] for b in bodies] == [[1, 2], [3, 4], [5]]
    assert [r.status for r in report.results] == [OpStatus.applied] * 5


def test_answer_settles_ops_and_moves_the_replica_version(open_device: Open) -> None:
    device = open_device()
    rid = device.create("miner", miner())
    device.push()
    record = device.get("miner", rid)
    assert record is not None and record.version == 1 and not record.dirty
    op = device.update("miner", rid, {"phone": "+23276222222"})
    assert op.base_version == 1
    device.push()
    record = device.get("miner", rid)
    assert record is not None and record.version == 2
    assert record.data["phone"] == "+23276222222"
    assert {e.state for e in device.results()} == {"settled"}


def test_crash_after_the_server_committed_resends_the_same_op_ids(
    open_device: Open, fake: FakeServer
) -> None:
    device = open_device()
    ids = [device.create("miner", miner(full_name=f"M{n}")) for n in range(3)]
    fake.faults = ["crash"]
    with pytest.raises(Crash):
        device.push()
    device.close()

    device = open_device()  # the tablet restarts
    assert {e.state for e in device.results()} == {"sent"}
    report = device.push()
    assert [r.status for r in report.results] == [OpStatus.duplicate] * 3
    assert [r.first_status for r in report.results] == [OpStatus.applied] * 3
    assert fake.pushes[0].ops == fake.pushes[1].ops  # same op ids, same content
    assert len(fake.applied) == 3  # nothing applied twice
    assert all(device.get("miner", rid).version == 1 for rid in ids)  # type: ignore[union-attr]


def test_crash_while_keeping_the_answer_loses_nothing(
    open_device: Open, fake: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = open_device()
    device.create("miner", miner())
    device.create("miner", miner())

    def dying(*args: object, **kwargs: object) -> None:
        raise Crash("power cut while writing the answers")

    # the answer arrives, then the device dies inside the transaction that keeps it
    monkeypatch.setattr("offline_sync.client.store._confirm", dying)
    with pytest.raises(Crash):
        device.push()
    monkeypatch.undo()
    device.close()
    device = open_device()
    assert {e.state for e in device.results()} == {"sent"}  # the transaction rolled back whole
    report = device.push()
    assert [r.status for r in report.results] == [OpStatus.duplicate] * 2
    assert len(fake.applied) == 2


def test_rejected_op_stays_in_the_outbox_with_its_errors(
    open_device: Open, fake: FakeServer
) -> None:
    device = open_device()
    bad = device.create("miner", miner(full_name=""))
    good = device.create("miner", miner())
    report = device.push()
    assert [r.status for r in report.problems] == [OpStatus.rejected]
    problems = device.problems()
    assert len(problems) == 1
    assert problems[0].op.record_id == bad
    assert problems[0].op.fields["full_name"] == ""  # what the officer typed is kept
    assert problems[0].result is not None
    assert problems[0].result.errors[0].field == "full_name"
    # the record never existed on the server, so the replica no longer shows it
    assert device.get("miner", bad) is None
    assert device.get("miner", good) is not None
    assert device.store.unanswered(10) == []  # and it is not sent again and again


def test_conflict_is_reported_and_the_server_value_arrives_by_pull(
    open_device: Open, fake: FakeServer
) -> None:
    device = open_device()
    rid = device.create("miner", miner(phone="+1"))
    device.push()
    fake.server_edit("miner", rid, phone="+2")  # a supervisor on the web
    device.update("miner", rid, {"phone": "+3"})
    report = device.push()
    assert [r.status for r in report.problems] == [OpStatus.conflict]
    assert report.problems[0].conflict_id is not None
    device.pull()
    record = device.get("miner", rid)
    assert record is not None and record.data["phone"] == "+2" and record.version == 2
    assert device.problems()[0].op.fields == {"phone": "+3"}  # the device value is kept


def test_stale_update_of_other_fields_is_merged(open_device: Open, fake: FakeServer) -> None:
    device = open_device()
    rid = device.create("miner", miner(phone="+1"))
    device.push()
    fake.server_edit("miner", rid, status="suspended")
    device.update("miner", rid, {"phone": "+3"})
    report = device.push()
    assert report.results[0].status is OpStatus.applied and report.results[0].merged
    device.pull()
    record = device.get("miner", rid)
    assert record is not None
    assert (record.data["phone"], record.data["status"], record.version) == ("+3", "suspended", 3)


def test_first_pull_is_a_snapshot_paged_until_has_more_is_false(
    open_device: Open, fake: FakeServer
) -> None:
    ids = [fake.server_create("site", name=f"site {n}") for n in range(7)]
    device = open_device(pull_limit=3)
    report = device.pull()
    assert (report.pages, report.changes) == (3, 7)
    assert "cursor" not in fake.requests[0].url.params  # no cursor: the snapshot
    assert [r.url.params["cursor"] for r in fake.requests[1:]] == ["3", "6"]
    assert {r.record_id for r in device.records("site")} == set(ids)
    assert device.store.get("cursor") == "7"


def test_crash_between_pages_resumes_from_the_last_kept_cursor(
    open_device: Open, fake: FakeServer
) -> None:
    for n in range(6):
        fake.server_create("site", name=f"site {n}")
    device = open_device(pull_limit=2)
    fake.faults = [None, "crash"]  # type: ignore[list-item]
    with pytest.raises(Crash):
        device.pull()
    device.close()
    device = open_device(pull_limit=2)
    assert device.store.get("cursor") == "2"
    assert len(device.records("site")) == 2
    fake.requests.clear()
    device.pull()
    assert fake.requests[0].url.params["cursor"] == "2"
    assert len(device.records("site")) == 6


def test_a_page_lands_whole_or_not_at_all(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "d.sqlite")
    page = PullResponse(
        changes=[_change(n) for n in range(1, 4)],
        cursor="3",
        has_more=False,
        server_time=datetime.now(UTC),
    )
    with pytest.raises(RuntimeError):
        store.apply_page(page, fail_after=2)
    store.close()
    store = Store.open(tmp_path / "d.sqlite")
    assert store.records() == [] and store.get("cursor") is None
    assert store.apply_page(page) == 3
    assert store.get("cursor") == "3"


def test_pull_apply_is_idempotent_and_never_goes_back_a_version(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "d.sqlite")
    rid = uuid.uuid4()
    newer = _page(_change(1, rid=rid, version=3, name="new"))
    older = _page(_change(1, rid=rid, version=2, name="old"))
    store.apply_page(newer)
    snapshot = store.records()
    store.apply_page(newer)  # the same page again (answer lost, crash): nothing changes
    assert store.records() == snapshot
    assert store.apply_page(older) == 0  # an older version is skipped
    record = store.record("site", rid)
    assert record is not None and record.data["name"] == "new" and record.version == 3


def test_pull_delete_keeps_a_tombstone_exit_and_dropped_scopes_remove(
    open_device: Open, fake: FakeServer
) -> None:
    a, b, c = (fake.server_create("site", name=n) for n in "abc")
    device = open_device()
    device.pull()
    fake.records[("site", a)].deleted = True
    fake.server_edit("site", a)
    fake.move_out("site", b)
    device.pull()
    tomb = device.get("site", a)
    assert tomb is not None and tomb.deleted
    assert device.get("site", b) is None
    assert [r.record_id for r in device.records("site")] == [c]
    fake.dropped = [SCOPE]
    device.pull()
    assert device.records(include_deleted=True) == []


def test_local_edits_stay_on_top_of_pulled_changes_until_answered(
    open_device: Open, fake: FakeServer
) -> None:
    rid = fake.server_create("miner", **miner(phone="+1"))
    device = open_device()
    device.pull()
    op = device.update("miner", rid, {"phone": "+9"})
    fake.server_edit("miner", rid, status="suspended")
    device.pull()
    record = device.get("miner", rid)
    assert record is not None
    assert (record.data["phone"], record.data["status"]) == ("+9", "suspended")
    assert record.version == 2 and record.dirty
    assert op.base_version == 1  # the op keeps the version it was made on


def test_device_converges_to_the_server_view(open_device: Open, fake: FakeServer) -> None:
    device = open_device()
    for n in range(20):
        rid = device.create("miner", miner(full_name=f"M{n}"))
        if n % 3 == 0:
            device.update("miner", rid, {"phone": f"+{n}"})
        if n % 5 == 0:
            device.delete("miner", rid)
    other = fake.server_create("site", name="from the web")
    fake.faults = ["lost", "503", "connect"]
    device.sync()
    held = {
        (r.entity, r.record_id): (r.version, r.data, r.deleted)
        for r in device.records(include_deleted=True)
    }
    assert held == fake.view()
    assert ("site", other) in held
    assert len(fake.applied) == len(device.results())


def test_attachment_upload_resumes_where_the_server_stopped(
    open_device: Open, fake: FakeServer
) -> None:
    photo = bytes(range(256)) * 40  # 10,240 bytes
    device = open_device(chunk_size=4096)
    sha = device.attach(photo)
    fake.attachments[sha] = (len(photo), bytearray(photo[:5000]))  # an earlier, cut upload
    status = device.upload_attachment(photo)
    assert status.complete and status.received == len(photo)
    offsets = [r.url.params["offset"] for r in fake.requests if r.method == "POST"]
    assert offsets == ["5000", "9096"]
    assert device.store.attachments() == []


def test_attachment_upload_follows_a_409_to_the_servers_offset(
    open_device: Open, fake: FakeServer
) -> None:
    photo = b"x" * 9000
    device = open_device(chunk_size=4000)
    sha = device.attach(photo)
    fake.attachments[sha] = (len(photo), bytearray())
    real = fake.route

    def racing(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.params["offset"] == "0":
            fake.attachments[sha][1].extend(photo[:4000])  # another upload got there first
        return real(request)

    fake.route = racing  # type: ignore[method-assign]
    status = device.upload_attachments()[0]
    assert status.complete
    offsets = [r.url.params["offset"] for r in fake.requests if r.method == "POST"]
    assert offsets == ["0", "4000", "8000"]


def test_cli_create_push_exit_codes_and_status(tmp_path: Path, fake: FakeServer) -> None:
    transport = httpx.MockTransport(fake.handler)
    db = str(tmp_path / "cli.sqlite")

    def cli(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = run(["--db", db, *argv], io.StringIO(stdin), out, err, transport=transport)
        return code, out.getvalue(), err.getvalue()

    assert cli("push")[0] == 2  # not enrolled yet
    code, out, _ = cli(
        "enrol", "--url", BASE_URL, "--user", "officer", "--name", "t1", stdin="secret\n"
    )
    assert code == 0 and uuid.UUID(json.loads(out)["device_id"])
    assert cli("create", "miner", "not json")[0] == 2
    code, out, _ = cli("create", "miner", json.dumps(miner()))
    rid = json.loads(out)["record_id"]
    assert cli("update", "miner", rid, '{"phone": "+5"}')[0] == 0
    code, out, _ = cli("push")
    assert code == 0 and json.loads(out)["answered"] == {"applied": 2}
    cli("create", "miner", json.dumps(miner(full_name="")))
    code, out, _ = cli("sync")
    assert code == 1 and json.loads(out)["push"]["problems"][0]["status"] == "rejected"
    code, out, _ = cli("status")
    status = json.loads(out)
    assert code == 1 and status["ops"] == {"applied": 2, "rejected": 1}
    assert status["cursor"] is not None and len(status["problems"]) == 1
    code, out, _ = cli("results")
    outcomes = [r["outcome"] for r in json.loads(out)]
    assert code == 1 and outcomes == ["applied", "applied", "rejected"]
    fake.faults = ["connect"] * 10
    code, _, err = cli("--attempts", "2", "pull")
    assert code == 2 and "gave up" in err


def test_the_device_file_is_plain_sqlite(open_device: Open, tmp_path: Path) -> None:
    device = open_device()
    device.create("miner", miner())
    device.close()
    conn = sqlite3.connect(tmp_path / "device.sqlite")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", "outbox", "replica", "attachment"} <= tables
    conn.close()


def _change(n: int, *, rid: uuid.UUID | None = None, version: int = 1, name: str = "s") -> Change:
    rid = rid or uuid.UUID(int=n)
    return Change(
        entity="site",
        record_id=rid,
        kind=ChangeKind.upsert,
        version=version,
        scope=SCOPE,
        data={"id": str(rid), "name": name},
    )


def _page(*changes: Change) -> PullResponse:
    return PullResponse(
        changes=list(changes), cursor="9", has_more=False, server_time=datetime.now(UTC)
    )


def test_pending_op_is_asked_again_until_it_has_a_final_answer(
    open_device: Open, fake: FakeServer
) -> None:
    device = open_device(batch_size=1)
    rid = uuid.uuid4()
    # an update that reaches the server before its create (a client that sends out of order)
    device.store.queue(
        entity="miner",
        record_id=rid,
        kind=OpKind.update,
        base_version=1,
        fields={"phone": "+7"},
        device_time=datetime.now(UTC),
    )
    device.create("miner", miner(phone="+1"), record_id=rid)
    report = device.push()
    assert [r.status for r in report.results] == [OpStatus.pending, OpStatus.applied]
    update = device.results()[0]
    assert (update.state, update.outcome) == ("sent", OpStatus.pending)  # not final yet
    record = device.get("miner", rid)
    assert record is not None and record.data["phone"] == "+7"  # still shown on top
    report = device.push()  # asks again: the replay answers with the op's answer now
    assert [(r.status, r.first_status) for r in report.results] == [
        (OpStatus.duplicate, OpStatus.applied)
    ]
    assert {e.state for e in device.results()} == {"settled"}
    record = device.get("miner", rid)
    assert record is not None and record.version == 2 and record.data["phone"] == "+7"


def test_a_late_answer_does_not_replace_the_pulled_record(
    open_device: Open, fake: FakeServer
) -> None:
    device = open_device()
    rid = device.create("miner", miner())
    fake.faults = ["crash"]  # applied on the server; the device dies before reading the answer
    with pytest.raises(Crash):
        device.push()
    fake.records[("miner", rid)].data["licence_numbers"] = []  # a field only the server sets
    device.pull()
    device.push()  # answered duplicate, version 1: the replica already has it, whole
    record = device.get("miner", rid)
    assert record is not None and record.version == 1
    assert record.data["licence_numbers"] == [] and not record.dirty
