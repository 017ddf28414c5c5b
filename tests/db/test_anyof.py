"""`offline_sync.server.anyof.any_of`: membership in many values finds what `IN` finds, as one
array parameter on PostgreSQL (one statement text for any count) and as `IN` on SQLite."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.registry.models import Miner
from offline_sync.server.anyof import any_of

MINERS = Miner.metadata.tables["miner"]


def miners(session: Session, n: int) -> list[Miner]:
    rows = [Miner(full_name=f"Fatmata Kamara {i}", district_code="SL-E-KO") for i in range(n)]
    session.add_all(rows)
    session.flush()
    return rows


def test_any_of_finds_what_in_finds_for_ids_and_for_text(session: Session) -> None:
    rows = miners(session, 5)
    asked = [r.id for r in rows[:3]] + [uuid.uuid4()]  # one id nobody holds
    by_any = set(session.scalars(select(MINERS.c.id).where(any_of(session, MINERS.c.id, asked))))
    by_in = set(session.scalars(select(MINERS.c.id).where(MINERS.c.id.in_(asked))))
    assert by_any == by_in == {r.id for r in rows[:3]}
    names = ["Fatmata Kamara 1", "Fatmata Kamara 4", "nobody", 'O\'Brien "x"', "a,b", "{c}", "\\"]
    found = session.scalars(
        select(MINERS.c.full_name).where(
            any_of(session, MINERS.c.full_name, names), MINERS.c.id.in_([r.id for r in rows])
        )
    )
    assert sorted(found) == ["Fatmata Kamara 1", "Fatmata Kamara 4"]


def test_any_of_nothing_finds_nothing(session: Session) -> None:
    miners(session, 2)
    assert session.scalars(select(MINERS.c.id).where(any_of(session, MINERS.c.id, []))).all() == []


def test_on_postgresql_many_values_are_one_array_parameter_in_one_statement_text(
    session: Session, statements: list[str]
) -> None:
    rows = miners(session, 40)
    statements.clear()
    for n in (3, 40):
        session.scalars(
            select(MINERS.c.id).where(any_of(session, MINERS.c.id, [r.id for r in rows[:n]]))
        ).all()
    if session.get_bind().dialect.name == "postgresql":
        assert len(statements) == 2 and statements[0] == statements[1]
        assert "= ANY (" in statements[0] and " IN (" not in statements[0]
    else:  # SQLite: an IN list, one placeholder per value
        assert [s.count("?") for s in statements] == [3, 40]
