"""The push benchmark's bulk-load floor (`bench.bulk_load`) stores every row and cleans up, on
both databases; on SpatiaLite its scratch tables are shaped, and its rows stored, as the app's
own."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session

from backend.registry.models import Site, SiteVisit
from bench.bulk_load import (
    VISIT_COLUMNS,
    copy_baseline,
    executemany_baseline,
    sqlite_insert,
    sqlite_scratch_table,
    stored,
)
from bench.common import DISTRICT, Device
from bench.sync_push import Site as BenchSite
from bench.sync_push import Workload, make_workload


def workload(session: Session, n: int) -> Workload:
    ids = session.scalars(
        select(Site.id).where(Site.district_code == DISTRICT).order_by(Site.id).limit(5)
    ).all()
    assert ids, "the demo seed has Kono sites"
    sites = [BenchSite(str(i), -10.97 + k / 100, 8.64) for k, i in enumerate(ids)]
    return make_workload(n, Device("d", "t"), sites, uuid.uuid4(), random.Random(3))


def scratch_tables(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        names = conn.execute(
            text(
                "SELECT name FROM sqlite_master WHERE name LIKE 'bench_copy%'"
                if engine.dialect.name == "sqlite"
                else "SELECT tablename FROM pg_tables WHERE tablename LIKE 'bench_copy%'"
            )
        ).all()
    return [n for (n,) in names]


def test_baseline_stores_every_row_of_the_workload_and_leaves_no_scratch_table(
    engine: Engine, db_url: str
) -> None:
    with Session(engine) as session:
        w = workload(session, 300)
    assert w.visit_rows and w.miner_rows and w.kinds["miner update"]
    if engine.dialect.name == "sqlite":
        seconds = executemany_baseline(engine, w.visit_rows, w.miner_rows)
    else:
        seconds = copy_baseline(db_url, w.visit_rows, w.miner_rows)
    assert seconds > 0
    assert scratch_tables(engine) == []


def raw_of(session: Session) -> Any:
    raw = session.connection().connection.driver_connection
    assert raw is not None
    return raw


# SQLite only (on PostGIS the scratch table is CREATE TABLE … (LIKE … INCLUDING ALL)): the
# database fixtures are asked for SpatiaLite alone, so nothing is skipped on PostGIS.
@pytest.mark.parametrize("dialect", ["spatialite"], indirect=True)
def test_sqlite_scratch_table_has_the_real_columns_indexes_and_spatial_index_but_no_foreign_keys(
    session: Session, dialect: str
) -> None:
    raw = raw_of(session)
    sqlite_scratch_table(raw, "site_visit", "t_visit")

    def columns(table: str) -> list[tuple[Any, ...]]:
        return [(name, notnull, pk) for _, name, _, notnull, _, pk in raw.execute(
            f"PRAGMA table_info({table})")]  # fmt: skip

    def indexed(table: str) -> set[tuple[str, ...]]:
        found = set()
        for _, name, unique, origin, _ in raw.execute(f"PRAGMA index_list({table})"):
            cols = tuple(r[2] for r in raw.execute(f"PRAGMA index_info({name})"))
            found.add((origin, str(unique), *cols))
        return found

    assert sorted(columns("t_visit")) == sorted(columns("site_visit"))
    assert indexed("t_visit") == indexed("site_visit")
    assert len(indexed("site_visit")) >= 4
    geometry = (
        "SELECT geometry_type, coord_dimension, srid, spatial_index_enabled "
        "FROM geometry_columns WHERE f_table_name = ? AND f_geometry_column = 'location'"
    )
    assert (
        raw.execute(geometry, ("t_visit",)).fetchall()
        == raw.execute(geometry, ("site_visit",)).fetchall()
    )
    assert raw.execute("PRAGMA foreign_key_list(site_visit)").fetchall()
    assert raw.execute("PRAGMA foreign_key_list(t_visit)").fetchall() == []


# SQLite only: COPY on PostGIS goes through psycopg's own adaptation.
@pytest.mark.parametrize("dialect", ["spatialite"], indirect=True)
def test_sqlite_rows_are_stored_as_the_app_stores_them(
    session: Session, dialect: str, engine: Engine
) -> None:
    raw = raw_of(session)
    sqlite_scratch_table(raw, "site_visit", "t_visit")
    w = workload(session, 40)
    row = (*w.visit_rows[0][:10], None, w.visit_rows[0][11])  # no officer: app_user is empty
    sql, processors = sqlite_insert(SiteVisit.__table__, "t_visit", VISIT_COLUMNS, engine.dialect)
    raw.execute(sql, stored(row, processors))
    names = [c.strip() for c in VISIT_COLUMNS.split(",")]
    session.execute(insert(SiteVisit.__table__).values(dict(zip(names, row, strict=True))))

    read = (
        "SELECT id, version, created_at, updated_at, site_id, district_code, visited_at, "
        "AsBinary(location), Srid(location), diggers_counted, notes, officer_id, "
        "distance_to_site_m FROM {} WHERE id = ?"
    )
    key = (row[0].hex,)
    ours = raw.execute(read.format("t_visit"), key).fetchall()
    apps = raw.execute(read.format("site_visit"), key).fetchall()
    assert len(ours) == 1
    assert ours == apps
    in_box = "SELECT count(*) FROM SpatialIndex WHERE f_table_name = ? AND search_frame = ?"
    frame = raw.execute("SELECT BuildMbr(?, ?, ?, ?, 4326)", (-12, 7, -10, 9)).fetchone()[0]
    assert raw.execute(in_box, ("t_visit", frame)).fetchone()[0] == 1
