"""`backend.records.write_set`: rows edited in memory go in as one UPDATE guarded by the
version each was read at; the session then holds them as written; a moved row refuses it."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.errors import StaleVersion
from backend.records import write_set
from backend.registry.models import Miner

MINERS = Miner.metadata.tables["miner"]


def two_miners(session: Session) -> list[Miner]:
    rows = [Miner(full_name=f"Tamba Sesay {i}", district_code="SL-E-KO") for i in range(2)]
    session.add_all(rows)
    session.flush()
    return rows


def test_edited_rows_are_written_once_and_held_as_written(
    session: Session, statements: list[str]
) -> None:
    rows = two_miners(session)
    for i, row in enumerate(rows):
        row.phone = f"+232 76 00000{i}"
        row.version += 1
    statements.clear()
    write_set(session, [(row, 1) for row in rows])
    session.flush()  # nothing left to write
    assert [s.split()[0] for s in statements] == ["UPDATE"]
    stored = session.execute(
        select(MINERS.c.phone, MINERS.c.version).where(MINERS.c.id.in_([r.id for r in rows]))
    ).all()
    assert sorted(stored) == [("+232 76 000000", 2), ("+232 76 000001", 2)]


def test_a_row_another_writer_moved_refuses_the_set(session: Session) -> None:
    rows = two_miners(session)
    session.execute(  # behind the session's back: the second row is at version 2 now
        update(MINERS).where(MINERS.c.id == rows[1].id).values(version=2)
    )
    savepoint = session.begin_nested()  # before the edits: opening it flushes what is dirty
    for row in rows:
        row.phone = "+232 77 123456"
        row.version += 1
    with pytest.raises(StaleVersion):
        write_set(session, [(row, 1) for row in rows])
    savepoint.rollback()
    stored = session.execute(
        select(MINERS.c.phone).where(MINERS.c.id.in_([r.id for r in rows]))
    ).scalars()
    assert list(stored) == [None, None]
