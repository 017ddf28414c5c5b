"""`offline_sync.server.bulkinsert.insert_rows` stores exactly what the INSERT it replaces
stores (COPY on PostGIS), raises what that INSERT raises, and leaves the transaction usable."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from shapely.geometry import Point
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.registry.models import Site, SiteVisit
from backend.spatial import from_db, to_db
from offline_sync.server.bulkinsert import COPY_FROM_ROWS, insert_rows
from offline_sync.server.sqltypes import JSONText
from offline_sync.server.tables import SyncChange

VISITS = SiteVisit.metadata.tables["site_visit"]
FEED = SyncChange.metadata.tables["sync_change"]
N = COPY_FROM_ROWS + 4

# Text the COPY format must escape, and values of every kind the JSON column holds.
AWKWARD = ["tab\there", "new\nline", "back\\slash", "\\N", "quote \" and '", "Kɔnɔ ✓", "", None]
DATA: list[Any] = [
    {"nested": {"list": [1, 2.5, None, True]}, "text": "Kɔnɔ\t\\N"},
    None,
    {"big": 2**70},
    JSONText('{"encoded":"once"}'),
    [],
    "a string",
]


def visit_rows(session: Session, n: int) -> list[dict[str, Any]]:
    site = session.scalars(select(Site).limit(1)).one()
    base = datetime(2026, 11, 2, 8, 30, 15, 123456, tzinfo=UTC)
    return [
        {
            "id": uuid.uuid4(),
            "version": 1 + i % 3,
            "created_at": base,
            "updated_at": base + timedelta(microseconds=i),
            "site_id": site.id,
            "district_code": site.district_code,
            "visited_at": base - timedelta(days=i),
            "location": to_db(Point(-10.9 + i / 1000, 8.6 + i / 3000)),
            "diggers_counted": i,
            "notes": AWKWARD[i % len(AWKWARD)],
            "officer_id": None,
            "distance_to_site_m": Decimal(f"{i}.{i % 10}") if i % 4 else None,
            "device_visited_at": base if i % 2 else None,
            "deleted_at": None,
        }
        for i in range(n)
    ]


def stored_visits(session: Session, ids: list[uuid.UUID]) -> list[tuple[Any, ...]]:
    rows = session.execute(select(VISITS).where(VISITS.c.id.in_(ids))).all()
    by_id = {r.id: r for r in rows}
    out = []
    for i in ids:
        r = by_id[i]._asdict()
        r.pop("id")
        r["location"] = from_db(r["location"]).wkt  # type: ignore[union-attr]
        out.append(tuple(r.items()))
    return out


def feed_rows(start: int, n: int) -> list[dict[str, Any]]:
    at = datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC)
    return [
        {
            "seq": start + i,
            "entity": "site_visit",
            "record_id": uuid.UUID(int=start + i),
            "scope": f"district:{AWKWARD[i % 5]}",
            "kind": "upsert",
            "version": i + 1,
            "data": DATA[i % len(DATA)],
            "changed_at": at,
        }
        for i in range(n)
    ]


def stored_feed(session: Session, start: int, n: int) -> list[tuple[Any, ...]]:
    rows = session.execute(
        select(FEED).where(FEED.c.seq >= start, FEED.c.seq < start + n).order_by(FEED.c.seq)
    ).all()
    return [tuple(v for k, v in r._asdict().items() if k not in ("seq", "record_id")) for r in rows]


def test_a_set_of_visits_is_stored_as_the_insert_stores_it(
    session: Session, statements: list[str]
) -> None:
    by_insert, by_set = visit_rows(session, N), visit_rows(session, N)
    for a, b in zip(by_insert, by_set, strict=True):
        b.update({k: v for k, v in a.items() if k != "id"})
    session.execute(insert(VISITS), by_insert)
    statements.clear()
    insert_rows(session, VISITS, by_set)
    assert stored_visits(session, [r["id"] for r in by_set]) == stored_visits(
        session, [r["id"] for r in by_insert]
    )
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    if session.get_bind().dialect.name == "postgresql":
        assert inserts == [], "a set on PostgreSQL goes in as one COPY"
    else:
        assert len(inserts) == 1


def test_json_values_are_stored_as_the_insert_stores_them(session: Session) -> None:
    top = session.scalar(select(col(SyncChange.seq)).order_by(col(SyncChange.seq).desc()))
    start = (top or 0) + 1000
    session.execute(insert(FEED), feed_rows(start, N))
    insert_rows(session, FEED, feed_rows(start + N, N))
    by_insert, by_set = stored_feed(session, start, N), stored_feed(session, start + N, N)
    assert len(by_set) == N
    assert by_set == by_insert
    assert {"encoded": "once"} in [r[4] for r in by_set]  # JSONText went in as JSON, not a string


def test_a_duplicate_in_a_set_raises_integrity_error_and_a_savepoint_recovers(
    session: Session,
) -> None:
    rows = visit_rows(session, N)
    insert_rows(session, VISITS, rows[:1])
    savepoint = session.begin_nested()
    with pytest.raises(IntegrityError):
        insert_rows(session, VISITS, rows)  # the first row is there already
    savepoint.rollback()
    insert_rows(session, VISITS, rows[1:])
    assert len(stored_visits(session, [r["id"] for r in rows])) == N


def test_columns_left_out_get_their_defaults(session: Session) -> None:
    rows = visit_rows(session, N)
    for r in rows:
        del r["version"], r["created_at"], r["deleted_at"]
    insert_rows(session, VISITS, rows)
    stored = session.execute(
        select(VISITS.c.version, VISITS.c.created_at, VISITS.c.deleted_at).where(
            VISITS.c.id.in_([r["id"] for r in rows])
        )
    ).all()
    assert len(stored) == N
    assert {(v, d) for v, _, d in stored} == {(1, None)}
    assert all(c is not None and c.tzinfo is not None for _, c, _ in stored)


def test_rows_of_different_shapes_are_refused_as_the_insert_refuses_them(
    session: Session,
) -> None:
    rows = visit_rows(session, N)
    del rows[-1]["notes"]
    with pytest.raises(StatementError) as by_insert:
        session.execute(insert(VISITS), rows)
    with pytest.raises(StatementError) as by_set:
        insert_rows(session, VISITS, rows)
    assert type(by_set.value) is type(by_insert.value)
    assert "notes" in str(by_set.value)
