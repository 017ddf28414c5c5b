"""Two events racing for one lot on real, separate connections: exactly one wins, the other 409s.

This test commits for real (the race needs two transactions), so it works on organisations
of its own and asserts only about them.
"""

from __future__ import annotations

import dataclasses
import threading
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select

from backend.custody import queries
from backend.custody.errors import ChainMoved, LotUnavailable
from backend.custody.models import EventInput, LotStatus
from backend.custody.schemas import ConsolidateIn, LotOut
from backend.db import session_factory
from tests.db.test_custody_rules import make_world


def test_two_concurrent_consumers_of_one_lot_cannot_both_win(engine: Engine) -> None:
    factory = session_factory(engine)
    with factory() as setup:
        world = make_world(setup)
        a, b, c = (world.purchase("1.000", 2) for _ in range(3))
        when = world.tick()
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def consolidate(partner_id: Any) -> None:
        with factory() as session:
            mine = dataclasses.replace(world, session=session)
            body = ConsolidateIn(
                kind="consolidate",
                occurred_at=when,
                inputs=[a.id, partner_id],
                output=LotOut(tag="race", carats=Decimal("2.000"), stone_count=4),
            )
            barrier.wait()
            try:
                outcomes.append(mine.record(world.buyer, body))
            except (LotUnavailable, ChainMoved) as err:
                outcomes.append(err)

    threads = [threading.Thread(target=consolidate, args=(p.id,)) for p in (b, c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(outcomes) == 2
    refusals = [o for o in outcomes if isinstance(o, LotUnavailable | ChainMoved)]
    assert len(refusals) == 1, outcomes
    with factory() as check:
        uses = check.scalar(
            select(func.count())
            .select_from(EventInput)
            .where(EventInput.lot_id == a.id, EventInput.consumed)
        )
        assert uses == 1
        partners = check.scalars(
            select(EventInput.lot_id).where(EventInput.lot_id.in_([b.id, c.id]))  # type: ignore[attr-defined]
        ).all()
        assert len(partners) == 1
        assert queries.lots_by_id(check, [a.id])[a.id].status == LotStatus.consumed
