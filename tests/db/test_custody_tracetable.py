"""The trace table: the recursive ancestry written once, on both databases."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.custody import trace
from backend.custody.lineage import lineage
from backend.custody.tracetable import trace_table
from backend.evidence.reports import data_version
from tests.db.test_custody_rules import make_world
from tests.db.test_custody_trace import _parcel


def _ancestry(session: Session, lot_id: uuid.UUID) -> Counter[uuid.UUID]:
    tree = trace.ancestors(lot_id)
    return Counter(session.scalars(select(tree.c.lot_id)).all())


def test_trace_table_holds_the_recursive_querys_lots_and_is_empty_after_the_block(
    session: Session,
) -> None:
    world = make_world(session)
    parcel, (a, b, c) = _parcel(world)
    expected = _ancestry(session, parcel.id)
    assert {a.id, b.id, c.id, parcel.id} <= set(expected)
    with trace_table(session, parcel.id) as tree:
        assert Counter(session.scalars(select(tree.c.lot_id)).all()) == expected
    with trace_table(session, a.id) as tree:  # the next block holds only its own lot's trace
        assert Counter(session.scalars(select(tree.c.lot_id)).all()) == _ancestry(session, a.id)
    assert session.scalar(select(func.count()).select_from(tree)) == 0


def test_a_block_ended_by_an_error_leaves_no_rows_for_the_next(session: Session) -> None:
    world = make_world(session)
    parcel, (a, _b, _c) = _parcel(world)
    with pytest.raises(RuntimeError), trace_table(session, parcel.id):
        raise RuntimeError("stop")
    with trace_table(session, a.id) as tree:
        assert Counter(session.scalars(select(tree.c.lot_id)).all()) == _ancestry(session, a.id)


def test_lineage_over_the_trace_table_equals_lineage_over_the_recursive_query(
    session: Session,
) -> None:
    world = make_world(session)
    parcel, _lots = _parcel(world)
    alone = lineage(session, parcel.id, trace.ancestors(parcel.id))
    with trace_table(session, parcel.id) as tree:
        held = lineage(session, parcel.id, tree)
    assert alone is not None and held is not None
    assert held.lots == alone.lots
    assert held.events == alone.events
    assert held.uses == alone.uses
    assert held.reached == alone.reached


def test_data_version_over_the_trace_table_equals_it_over_the_recursive_query(
    session: Session,
) -> None:
    world = make_world(session)
    parcel, _lots = _parcel(world)
    alone = data_version(session, parcel.id)
    with trace_table(session, parcel.id) as tree:
        assert data_version(session, parcel.id, tree) == alone
