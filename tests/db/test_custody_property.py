"""Property: random sequences of custody operations never break mass balance or spend a lot
twice, and every operation the rules refuse leaves every custody table as it was.

Each example opens its own rolled-back session on the migrated database (so no
function-scoped fixture is shared between examples), builds a fresh `World`, and runs a random
mix of purchases, consolidations, splits, re-weighings, transfers, acceptances and voids,
some of them deliberately invalid (spent lots, inflated outputs, unexplained losses).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from backend.controls.balance import SCALE_RESOLUTION
from backend.custody import balance, chain, queries
from backend.custody.models import CustodyEvent, EventInput, EventOutput, Lot, LotOrigin
from backend.custody.schemas import (
    AcceptIn,
    ConsolidateIn,
    LotOut,
    ReweighIn,
    SplitIn,
    TransferIn,
    VoidIn,
)
from backend.errors import AppError
from backend.registry.models import Organisation
from tests.conftest import rolled_back
from tests.db.test_custody_rules import World, make_world

MILLI = Decimal("0.001")

carats_st = st.integers(min_value=1, max_value=5000)
delta_st = st.integers(min_value=-60, max_value=3)  # milli-carats: losses, exact, small gains
op_st = st.one_of(
    st.tuples(st.just("purchase"), carats_st, st.integers(1, 6)),
    st.tuples(
        st.just("consolidate"),
        st.lists(st.integers(0, 30), min_size=2, max_size=4),
        delta_st,
        st.booleans(),
    ),
    st.tuples(st.just("split"), st.integers(0, 30), st.integers(2, 3), delta_st, st.booleans()),
    st.tuples(st.just("reweigh"), st.integers(0, 30), delta_st, st.booleans()),
    st.tuples(st.just("transfer"), st.integers(0, 30)),
    st.tuples(st.just("accept"), st.integers(0, 30), delta_st),
    st.tuples(st.just("void"), st.integers(0, 30)),
)


def _pick(items: list[Any], index: int) -> Any:
    """Mostly a lot the buyer could use; from index 24 up, any lot ever made (spent ones too)."""
    if not items:
        return None
    usable = [
        x
        for x in items
        if not isinstance(x, Lot)
        or (x.status == "active" and x.holder_organisation_id == _BUYER[0])
    ]
    if index < 24 and usable:
        return usable[index % len(usable)]
    return items[index % len(items)]


_BUYER: list[Any] = [None]


def _out(carats: Decimal, stones: int) -> LotOut:
    return LotOut(tag="H", carats=max(carats, MILLI), stone_count=max(stones, 1))


def _body(world: World, op: tuple[Any, ...], lots: list[Lot], transfers: list[CustodyEvent]) -> Any:
    """The request for one operation, or None when there is nothing to apply it to."""
    kind = op[0]
    when = world.tick()
    reason = "washed and re-weighed"
    if kind == "consolidate":
        if not lots:
            return None
        picked = list({lot.id: lot for lot in (_pick(lots, i) for i in op[1])}.values())
        if len(picked) < 2:
            return None
        total = sum((lot.carats for lot in picked), Decimal(0)) + op[2] * MILLI
        return ConsolidateIn(
            kind="consolidate",
            occurred_at=when,
            inputs=[lot.id for lot in picked],
            output=_out(total, sum(lot.stone_count for lot in picked)),
            reason=reason if op[3] else None,
        )
    lot = _pick(lots, op[1]) if len(op) > 1 and isinstance(op[1], int) else None
    if kind == "split" and lot is not None:
        parts = op[2]
        share = (lot.carats / parts).quantize(MILLI)
        outs = [_out(share, 1) for _ in range(parts - 1)]
        last = lot.carats - share * (parts - 1) + op[3] * MILLI
        outs.append(_out(last, lot.stone_count - (parts - 1)))
        return SplitIn(
            kind="split",
            occurred_at=when,
            lot_id=lot.id,
            outputs=outs,
            reason=reason if op[4] else None,
        )
    if kind == "reweigh" and lot is not None:
        return ReweighIn(
            kind="reweigh",
            occurred_at=when,
            lot_id=lot.id,
            output=_out(lot.carats + op[2] * MILLI, lot.stone_count),
            reason=reason if op[3] else None,
        )
    if kind == "transfer" and lot is not None:
        return TransferIn(
            kind="transfer",
            occurred_at=when,
            lot_id=lot.id,
            to_organisation_id=world.exporter_org.id,
        )
    if kind == "accept" and transfers:
        transfer = _pick(transfers, op[1])
        sent = queries.inputs_of(world.session, [transfer.id])[transfer.id][0]
        return AcceptIn(
            kind="accept",
            occurred_at=when,
            transfer_event_id=transfer.id,
            output=_out(sent.carats + op[2] * MILLI, sent.stone_count),
        )
    if kind == "void" and lot is not None:
        return VoidIn(
            kind="void",
            occurred_at=when,
            lot_id=lot.id,
            corrects_event_id=lot.created_by_event_id,
            reason="entered in error",
        )
    return None


def _state(session: Session) -> tuple[Any, ...]:
    """Every custody row count and every lot's status and version."""
    counts = tuple(
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (CustodyEvent, Lot, EventInput, EventOutput, LotOrigin)
    )
    lots = tuple(session.execute(select(Lot.id, Lot.status, Lot.version).order_by(Lot.id)))
    return counts, lots


def _check_invariants(world: World) -> None:
    s = world.session
    # no lot is consumed twice, and every consumed lot says so
    twice = s.execute(
        select(EventInput.lot_id)
        .where(EventInput.consumed)
        .group_by(EventInput.lot_id)
        .having(func.count() > 1)
    ).all()
    assert twice == []
    for lot_id, status in s.execute(
        select(Lot.id, Lot.status)
        .join(EventInput, EventInput.lot_id == Lot.id)
        .where(EventInput.consumed)
    ):
        assert status in ("consumed", "void", "exported"), (lot_id, status)
    # no transformation creates carats
    events = list(s.scalars(select(CustodyEvent)))
    ins = queries.inputs_of(s, [e.id for e in events])
    outs = queries.outputs_of(s, [e.id for e in events])
    for e in events:
        if ins[e.id] and outs[e.id]:
            taken = sum((i.carats for i in ins[e.id]), Decimal(0))
            made = sum((o.carats for o in outs[e.id]), Decimal(0))
            assert made <= taken + SCALE_RESOLUTION, e.kind
    # books close on the stock on hand, and stock never went negative in time order
    for org_id in (world.buyer_org.id, world.exporter_org.id):
        org = s.get(Organisation, org_id)
        assert org is not None
        report = balance.report(s, org, None, None)
        assert Decimal(report["closing"]) == Decimal(report["on_hand"]) >= 0
        running = Decimal(0)
        for e in sorted(
            (e for e in events if e.organisation_id == org_id), key=lambda e: e.occurred_at
        ):
            running += balance.movements(
                {
                    e.kind: (
                        sum((i.carats for i in ins[e.id]), Decimal(0)),
                        sum((o.carats for o in outs[e.id]), Decimal(0)),
                    )
                }
            ).net
            assert running >= 0
        _, breaks = chain.verify(s, org_id)
        assert breaks == [], breaks
    # every lot's origins account for exactly its carats
    for lot in s.scalars(select(Lot).where(Lot.holder_organisation_id.isnot(None))):  # type: ignore[union-attr]
        shares = sum((o.carats_share for o in queries.origins_of(s, [lot.id])), Decimal(0))
        assert shares == lot.carats, (lot.id, shares, lot.carats)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ops=st.lists(op_st, min_size=3, max_size=12))
def _run(engine: Engine, ops: list[tuple[Any, ...]]) -> None:
    with rolled_back(engine) as session:
        world = make_world(session)
        _BUYER[0] = world.buyer_org.id
        lots: list[Lot] = []
        transfers: list[CustodyEvent] = []
        for op in ops:
            if op[0] == "purchase":
                lots.append(world.purchase(str(Decimal(op[1]) * MILLI), op[2]))
                continue
            body = _body(world, op, lots, transfers)
            if body is None:
                continue
            before = _state(session)
            try:
                recorded = world.record(world.exporter if op[0] == "accept" else world.buyer, body)
            except AppError as err:
                assert _state(session) == before, f"a refused {op[0]} changed something"
                note(f"{op[0]} refused: {err.code}")
                continue
            note(f"{op[0]} applied")
            if op[0] == "transfer":
                transfers.append(recorded)
            lots.extend(
                world.lot(o.lot_id) for o in queries.outputs_of(session, [recorded.id])[recorded.id]
            )
            lots = [world.lot(lot.id) for lot in lots]
        _check_invariants(world)


def test_random_custody_sequences_keep_balance_and_never_spend_twice(engine: Engine) -> None:
    _run(engine)
