"""`offline_sync.server.bulkupdate.update_rows` stores exactly what the executemany UPDATE it
replaces stores (one `UPDATE … FROM unnest` on PostGIS), counts the rows it matched as that
executemany does, and raises what it raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from shapely.geometry import Point
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.spatial import to_db
from offline_sync.server.bulkinsert import COPY_FROM_ROWS
from offline_sync.server.bulkupdate import _executemany, update_rows
from tests.db.test_bulkinsert import (
    AWKWARD,
    DATA,
    FEED,
    VISITS,
    feed_rows,
    stored_feed,
    stored_visits,
    visit_rows,
)

N = COPY_FROM_ROWS + 4
VISIT_SET = ("version", "updated_at", "location", "diggers_counted", "notes", "distance_to_site_m")


def visit_edits(rows: list[dict[str, Any]]) -> list[tuple[tuple[Any, ...], list[Any]]]:
    at = datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC)
    return [
        (
            (r["id"], r["version"]),
            [
                r["version"] + 1,
                at - timedelta(microseconds=i),
                to_db(Point(-10.912345678901234 + i / 1e6, 8.612345678901234)),
                1000 - i,
                AWKWARD[(i + 3) % len(AWKWARD)],
                None if i % 3 == 0 else r["distance_to_site_m"],
            ],
        )
        for i, r in enumerate(rows)
    ]


def test_a_set_of_edits_is_stored_as_the_executemany_stores_it(
    session: Session, statements: list[str]
) -> None:
    by_many, by_set = visit_rows(session, N), visit_rows(session, N)
    session.execute(insert(VISITS), by_many + by_set)
    edits_many, edits_set = visit_edits(by_many), visit_edits(by_set)
    assert _executemany(session, VISITS, ("id", "version"), VISIT_SET, edits_many) == N
    statements.clear()
    assert (
        update_rows(session, VISITS, where=("id", "version"), set_=VISIT_SET, rows=edits_set) == N
    )
    assert stored_visits(session, [r["id"] for r in by_set]) == stored_visits(
        session, [r["id"] for r in by_many]
    )
    updates = [s for s in statements if s.upper().startswith("UPDATE")]
    if session.get_bind().dialect.name == "postgresql":
        assert updates == [], "a set on PostgreSQL is one statement through the driver"
    else:
        assert len(updates) == 1  # one executemany


def test_rows_whose_key_matches_nothing_are_not_counted(session: Session) -> None:
    rows = visit_rows(session, N)
    session.execute(insert(VISITS), rows)
    edits = visit_edits(rows)
    stale = [((keys[0], keys[1] + 7), values) for keys, values in edits[:3]]  # moved on
    assert (
        update_rows(
            session, VISITS, where=("id", "version"), set_=VISIT_SET, rows=stale + edits[3:]
        )
        == N - 3
    )
    kept = session.scalars(select(VISITS.c.diggers_counted).where(VISITS.c.id == rows[0]["id"]))
    assert list(kept) == [rows[0]["diggers_counted"]]


def test_a_key_given_twice_is_applied_in_turn_as_the_executemany_applies_it(
    session: Session,
) -> None:
    rows = visit_rows(session, N)
    session.execute(insert(VISITS), rows)
    edits = [((r["id"],), [7]) for r in rows] + [((rows[0]["id"],), [8])]
    assert update_rows(session, VISITS, where=("id",), set_=("diggers_counted",), rows=edits) == (
        N + 1
    )
    got = session.scalar(select(VISITS.c.diggers_counted).where(VISITS.c.id == rows[0]["id"]))
    assert got == 8


def test_json_values_are_stored_as_the_executemany_stores_them(session: Session) -> None:
    top = session.scalar(select(FEED.c.seq).order_by(FEED.c.seq.desc()))
    start = (top or 0) + 1000
    session.execute(insert(FEED), feed_rows(start, N) + feed_rows(start + N, N))
    moved_at = datetime(2026, 12, 1, 8, tzinfo=UTC)

    def moves(first: int) -> list[tuple[tuple[Any, ...], list[Any]]]:
        return [
            (
                ("site_visit", r["record_id"], r["scope"]),
                [
                    "exit" if i % 4 == 0 else "upsert",
                    r["version"] + 1,
                    DATA[(i + 1) % len(DATA)],
                    moved_at,
                ],
            )
            for i, r in enumerate(feed_rows(first, N))
        ]

    fields = ("kind", "version", "data", "changed_at")
    keys = ("entity", "record_id", "scope")
    _executemany(session, FEED, keys, fields, moves(start))
    update_rows(session, FEED, where=keys, set_=fields, rows=moves(start + N))
    assert stored_feed(session, start + N, N) == stored_feed(session, start, N)


def test_a_value_the_database_refuses_raises_what_the_executemany_raises(
    session: Session,
) -> None:
    rows = visit_rows(session, N)
    session.execute(insert(VISITS), rows)
    edits = [((r["id"],), [None]) for r in rows]  # version is NOT NULL
    savepoint = session.begin_nested()
    with pytest.raises(IntegrityError):
        update_rows(session, VISITS, where=("id",), set_=("version",), rows=edits)
    savepoint.rollback()
    assert (
        update_rows(
            session,
            VISITS,
            where=("id",),
            set_=("version",),
            rows=[((r["id"],), [9]) for r in rows],
        )
        == N
    )
