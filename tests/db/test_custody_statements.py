"""What a purchase costs in SQL statements before it writes, and the one-statement line reader."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backend.custody import queries
from tests.conftest import sent_statements
from tests.db.test_custody_rules import World, make_world


def _statements(world: World, body: Any) -> list[str]:
    world.session.expunge_all()  # nothing from the identity map: every read goes to the database
    with sent_statements(world.session.get_bind()) as seen:
        world.record(world.buyer, body)
    return seen


def _statements_before_first_write(world: World, body: Any) -> list[str]:
    reads = []
    for statement in _statements(world, body):
        if statement.upper().startswith("INSERT"):
            break
        if statement.upper().startswith("SELECT"):
            reads.append(statement)
    return reads


def test_a_purchase_reads_organisation_origin_licences_and_chain_in_three_statements(
    session: Session,
) -> None:
    world = make_world(session)
    world.purchase()  # the chain has a head
    reads = _statements_before_first_write(world, world.purchase_body())
    assert len(reads) == 3, reads
    assert "licence" in reads[0] and "organisation" in reads[0]
    assert "site" in reads[1] and "miner" in reads[1] and "licence" in reads[1]
    assert all(part in reads[2] for part in ("chain_seq", "receipt_number", "sum(lot.carats)"))


def test_lines_of_gives_the_same_inputs_and_outputs_as_reading_each(session: Session) -> None:
    world = make_world(session)
    lots = [world.purchase("1.000", 2), world.purchase("0.500", 1)]
    merged = world.consolidate(lots, "1.500", 3)
    events = [lot.created_by_event_id for lot in [*lots, merged]]
    ins, outs = queries.lines_of(session, events)
    want_ins, want_outs = queries.inputs_of(session, events), queries.outputs_of(session, events)
    for e in events:
        assert [(i.id, i.lot_id, i.carats, i.stone_count, i.consumed) for i in ins[e]] == [
            (i.id, i.lot_id, i.carats, i.stone_count, i.consumed) for i in want_ins[e]
        ]
        assert [(o.id, o.lot_id, o.carats, o.stone_count) for o in outs[e]] == [
            (o.id, o.lot_id, o.carats, o.stone_count) for o in want_outs[e]
        ]
    assert len(ins[merged.created_by_event_id]) == 2 and len(outs[merged.created_by_event_id]) == 1


def test_a_purchase_writes_then_reads_only_the_feed_position(session: Session) -> None:
    """The new event and lot have no feed rows to look up, the new lot is not read back, and
    the event's lines are not read again to publish it."""
    world = make_world(session)
    world.purchase()
    seen = _statements(world, world.purchase_body())
    first_write = next(i for i, s in enumerate(seen) if s.upper().startswith("INSERT"))
    reads_after = [s for s in seen[first_write:] if s.upper().startswith("SELECT")]
    assert all("sync_change" in s or "pg_advisory_xact_lock" in s for s in reads_after), reads_after
