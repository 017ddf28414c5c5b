"""A refusal caused by a race (a concurrent change won) is answered retryable and not kept in
the ledger, so the same op goes again; a refusal caused by the op's content is final."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from backend.custody.errors import ChainMoved, LotTaken, LotUnavailable
from backend.sync.entities import Entity
from offline_sync.client import Store
from offline_sync.protocol import Op, OpKind, OpResult, OpStatus, PushRequest
from offline_sync.server.engine import Engine as SyncEngine
from offline_sync.server.entities import ApplyContext, OpRejected, Registry, StaleBase
from offline_sync.server.tables import SyncDevice, SyncOp


@pytest.mark.parametrize("race", [ChainMoved("chain moved"), LotTaken("lot taken meanwhile")])
def test_custody_refusals_raised_by_a_race_become_a_stale_base(race: Exception) -> None:
    def call() -> Any:
        raise race

    with pytest.raises(StaleBase):
        Entity.run(call)


def test_a_lot_unavailable_because_of_what_the_event_says_stays_a_final_refusal() -> None:
    def call() -> Any:
        raise LotUnavailable("lot L-1 is consumed")

    with pytest.raises(OpRejected) as refused:
        Entity.run(call)
    assert refused.value.code == "lot-unavailable"


class LosesOnce:
    """A writable entity whose first create loses a race, as a custody event can."""

    name, writable = "thing", True

    def __init__(self) -> None:
        self.made: dict[uuid.UUID, int] = {}
        self.races = 1

    def version_of(self, ctx: ApplyContext, record_id: uuid.UUID) -> int | None:
        return self.made.get(record_id)

    def create(self, ctx: ApplyContext, record_id: uuid.UUID, fields: dict[str, Any]) -> int:
        if self.races:
            self.races -= 1
            raise StaleBase("another event extended the chain first")
        self.made[record_id] = 1
        return 1


def test_raced_op_is_answered_retryable_kept_out_of_the_ledger_and_applied_when_sent_again(
    session: Session,
) -> None:
    registry = Registry()
    registry.register(LosesOnce())  # type: ignore[arg-type]
    engine = SyncEngine(registry)
    device = SyncDevice(id=uuid.uuid4(), user_id=uuid.uuid4(), name="t")
    session.add(device)
    session.flush()
    op = Op(
        op_id=uuid.uuid4(),
        seq=1,
        entity="thing",
        record_id=uuid.uuid4(),
        kind=OpKind.create,
        device_time=datetime.now(UTC),
    )
    request = PushRequest(sent_at=datetime.now(UTC), ops=[op])
    first = engine.push(session, device=device, actor=object(), request=request).results[0]
    assert first.status is OpStatus.rejected and first.code == "raced" and first.retryable
    assert session.get(SyncOp, op.op_id) is None
    again = engine.push(session, device=device, actor=object(), request=request).results[0]
    assert again.status is OpStatus.applied and not again.retryable


def test_client_keeps_a_raced_op_unanswered_and_sends_it_again(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "device.sqlite")
    try:
        op = store.queue(
            entity="custody_event",
            record_id=uuid.uuid4(),
            kind=OpKind.create,
            base_version=None,
            fields={"kind": "purchase"},
            device_time=datetime.now(UTC),
        )
        store.mark_sent([op])
        raced = OpResult(
            op_id=op.op_id, seq=op.seq, status=OpStatus.rejected, code="raced", retryable=True
        )
        store.settle([raced], {})
        assert [o.op_id for o in store.unanswered(10)] == [op.op_id]
        assert store.counts().get("rejected") is None
    finally:
        store.close()
