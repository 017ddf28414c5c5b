"""The floor a push is measured against: the same rows bulk-loaded into scratch tables.

COPY on PostGIS; on SpatiaLite, which has no COPY, one `executemany` INSERT per table through
the engine's sqlean connection. Both in one transaction, into tables shaped like the real
`site_visit` and `miner` (columns, primary keys, indexes, the spatial index; no foreign
keys), which are dropped afterwards. Rows are tuples in the order of `VISIT_COLUMNS` and
`MINER_COLUMNS`, as Python values (UUID, aware datetime, EWKT text, Decimal).

`copy_written_rows` is the wider floor on PostGIS: every row a push wrote (the records, their
audit entries, the op ledger and the feed), copied back in by binary COPY, the cheapest way
PostgreSQL stores rows: what no push of the same rows can beat, whatever its code.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Engine, Table, insert

from backend.registry.models import Miner, SiteVisit
from bench.common import libpq_url

Rows = Sequence[tuple[Any, ...]]

VISIT_COLUMNS = (
    "id, version, created_at, updated_at, site_id, district_code, visited_at, location, "
    "diggers_counted, notes, officer_id, distance_to_site_m"
)
MINER_COLUMNS = (
    "id, version, created_at, updated_at, full_name, national_id, phone, district_code, status"
)


def copy_baseline(db_url: str, visit_rows: Rows, miner_rows: Rows) -> float:
    """Seconds to COPY the rows into scratch tables shaped like the real ones.

    `LIKE … INCLUDING ALL` keeps the columns, defaults, primary keys and indexes (the GiST
    index on the point too), but no foreign keys: the floor of what storing the rows costs.
    """
    with psycopg.connect(libpq_url(db_url)) as conn:
        conn.execute("CREATE TABLE bench_copy_site_visit (LIKE site_visit INCLUDING ALL)")
        conn.execute("CREATE TABLE bench_copy_miner (LIKE miner INCLUDING ALL)")
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy(f"COPY bench_copy_site_visit ({VISIT_COLUMNS}) FROM STDIN") as copy:
                for row in visit_rows:
                    copy.write_row(row)
            with cur.copy(f"COPY bench_copy_miner ({MINER_COLUMNS}) FROM STDIN") as copy:
                for row in miner_rows:
                    copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - t0
        stored_rows = sum(
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in ("bench_copy_site_visit", "bench_copy_miner")
        )
        if stored_rows != len(visit_rows) + len(miner_rows):
            raise RuntimeError(f"the scratch tables hold {stored_rows} rows")
        conn.execute("DROP TABLE bench_copy_site_visit, bench_copy_miner")
        conn.commit()
    return elapsed


@dataclass(frozen=True)
class WrittenRows:
    """What `copy_written_rows` stored: rows per table, and the seconds the COPYs took."""

    rows: dict[str, int]
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def copy_written_rows(
    db_url: str, device_id: uuid.UUID, visit_ids: list[uuid.UUID], miner_ids: list[uuid.UUID]
) -> WrittenRows:
    """Seconds to store again every row a push of `device_id` wrote, by binary COPY.

    The rows are read back first (outside the timing): the new visits and miners, the audit
    entries and ledger rows carrying the device, and the feed rows of those records. They go
    into `LIKE … INCLUDING ALL` copies of their tables (columns, keys, indexes, no foreign
    keys) in one transaction; the copies are dropped afterwards.
    """
    record_ids = visit_ids + miner_ids
    selections: dict[str, tuple[str, Any]] = {
        "site_visit": ("id = ANY(%s)", visit_ids),
        "miner": ("id = ANY(%s)", miner_ids),
        "audit_entry": ("device_id = %s", str(device_id)),
        "sync_op": ("device_id = %s", device_id),
        "sync_change": ("record_id = ANY(%s)", record_ids),
    }
    data: dict[str, bytes] = {}
    rows: dict[str, int] = {}
    with psycopg.connect(libpq_url(db_url)) as conn:
        with conn.cursor() as cur:
            for table, (where, value) in selections.items():
                rows[table] = cur.execute(
                    f"SELECT count(*) FROM {table} WHERE {where}", (value,)
                ).fetchone()[0]  # type: ignore[index]
                chunks = bytearray()
                query = f"COPY (SELECT * FROM {table} WHERE {where}) TO STDOUT (FORMAT BINARY)"
                with cur.copy(query, (value,)) as copy:
                    for chunk in copy:
                        chunks += chunk
                data[table] = bytes(chunks)
                conn.execute(f"CREATE TABLE bench_rows_{table} (LIKE {table} INCLUDING ALL)")
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            for table, payload in data.items():
                with cur.copy(f"COPY bench_rows_{table} FROM STDIN (FORMAT BINARY)") as copy:
                    copy.write(payload)
        conn.commit()
        elapsed = time.perf_counter() - t0
        for table in data:
            stored_rows = conn.execute(f"SELECT count(*) FROM bench_rows_{table}").fetchone()
            if stored_rows is None or stored_rows[0] != rows[table]:
                raise RuntimeError(f"bench_rows_{table} holds {stored_rows} of {rows[table]} rows")
        conn.execute("DROP TABLE " + ", ".join(f"bench_rows_{t}" for t in data))
        conn.commit()
    return WrittenRows(rows, elapsed)


# geometry_columns.geometry_type codes of the 2-D types, as AddGeometryColumn names them.
GEOMETRY_TYPES = {
    0: "GEOMETRY", 1: "POINT", 2: "LINESTRING", 3: "POLYGON", 4: "MULTIPOINT",
    5: "MULTILINESTRING", 6: "MULTIPOLYGON", 7: "GEOMETRYCOLLECTION",
}  # fmt: skip


def sqlite_scratch_table(raw: Any, table: str, scratch: str) -> None:
    """`scratch` shaped like `table` on SpatiaLite, as `LIKE … INCLUDING ALL` does on PostGIS.

    The same columns, primary key and indexes; the geometry column made by AddGeometryColumn
    with its type, SRID and R*Tree spatial index (and the triggers that keep them); no foreign
    keys.
    """
    geometry = {
        name: (kind, srid, indexed)
        for name, kind, srid, indexed in raw.execute(
            "SELECT f_geometry_column, geometry_type, srid, spatial_index_enabled "
            "FROM geometry_columns WHERE f_table_name = ?",
            (table,),
        )
    }
    columns, key, not_null = [], [], set()
    for _cid, name, declared, notnull, default, pk in raw.execute(f'PRAGMA table_info("{table}")'):
        if pk:
            key.append((pk, name))
        if notnull:
            not_null.add(name)
        if name not in geometry:
            columns.append(
                f'"{name}" {declared}'
                + (" NOT NULL" if notnull else "")
                + (f" DEFAULT {default}" if default is not None else "")
            )
    primary = ", ".join(f'"{name}"' for _, name in sorted(key))
    raw.execute(f'CREATE TABLE "{scratch}" ({", ".join(columns)}, PRIMARY KEY ({primary}))')
    for name, (kind, srid, indexed) in geometry.items():
        if kind not in GEOMETRY_TYPES:
            raise RuntimeError(f"{table}.{name}: geometry type code {kind} is not a 2-D type")
        made = raw.execute(
            "SELECT AddGeometryColumn(?, ?, ?, ?, 'XY', ?)",
            (scratch, name, srid, GEOMETRY_TYPES[kind], int(name in not_null)),
        ).fetchone()[0]
        if made != 1:
            raise RuntimeError(f"AddGeometryColumn({scratch}.{name}) failed")
        if (
            indexed
            and raw.execute("SELECT CreateSpatialIndex(?, ?)", (scratch, name)).fetchone()[0] != 1
        ):
            raise RuntimeError(f"CreateSpatialIndex({scratch}.{name}) failed")
    for name, sql in raw.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL",
        (table,),
    ).fetchall():
        renamed = sql.replace(f" {name} ON {table} ", f" {scratch}_{name} ON {scratch} ", 1)
        if renamed == sql:
            raise RuntimeError(f"cannot re-target index {name}: {sql}")
        raw.execute(renamed)


def sqlite_insert(table: Table, scratch: str, columns: str, dialect: Any) -> tuple[str, list[Any]]:
    """The app's own INSERT of `columns` on SQLite (`GeomFromEWKT(?)` for the point) aimed at
    `scratch`, and the columns' bind processors (UUIDs as hex, naive UTC text, scaled
    integers), so the scratch rows are stored as the app stores its own."""
    names = [c.strip() for c in columns.split(",")]
    compiled = insert(table).compile(dialect=dialect, column_keys=names)
    if list(compiled.positiontup or []) != names:
        raise RuntimeError(f"{table.name}: the INSERT binds {compiled.positiontup}, not {names}")
    sql = str(compiled)
    head = f"INSERT INTO {table.name} ("
    if not sql.startswith(head):
        raise RuntimeError(f"unexpected INSERT: {sql}")
    processors = [table.c[name].type.bind_processor(dialect) for name in names]
    return f"INSERT INTO {scratch} (" + sql.removeprefix(head), processors


def stored(row: tuple[Any, ...], processors: list[Any]) -> tuple[Any, ...]:
    return tuple(v if f is None else f(v) for v, f in zip(row, processors, strict=True))


def executemany_baseline(engine: Engine, visit_rows: Rows, miner_rows: Rows) -> float:
    """Seconds to INSERT the rows into scratch tables on SpatiaLite, which has no COPY.

    One `executemany` per table through the engine's sqlean connection, in one `BEGIN
    IMMEDIATE` transaction (as the app's writers take it), into tables shaped like the real
    ones by `sqlite_scratch_table`. The time includes turning the values into their stored
    form, as COPY's includes psycopg's adaptation.
    """
    visit_sql, visit_types = sqlite_insert(
        SiteVisit.__table__,  # type: ignore[attr-defined]
        "bench_copy_site_visit",
        VISIT_COLUMNS,
        engine.dialect,
    )
    miner_sql, miner_types = sqlite_insert(
        Miner.__table__,  # type: ignore[attr-defined]
        "bench_copy_miner",
        MINER_COLUMNS,
        engine.dialect,
    )
    conn = engine.raw_connection()
    try:
        raw = conn.driver_connection
        assert raw is not None
        raw.execute("BEGIN IMMEDIATE")
        sqlite_scratch_table(raw, "site_visit", "bench_copy_site_visit")
        sqlite_scratch_table(raw, "miner", "bench_copy_miner")
        raw.execute("COMMIT")
        t0 = time.perf_counter()
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany(visit_sql, (stored(r, visit_types) for r in visit_rows))
        raw.executemany(miner_sql, (stored(r, miner_types) for r in miner_rows))
        raw.execute("COMMIT")
        elapsed = time.perf_counter() - t0
        stored_rows = sum(
            raw.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("bench_copy_site_visit", "bench_copy_miner")
        )
        if stored_rows != len(visit_rows) + len(miner_rows):
            raise RuntimeError(f"the scratch tables hold {stored_rows} rows")
        for scratch in ("bench_copy_site_visit", "bench_copy_miner"):
            raw.execute("SELECT DropTable(NULL, ?)", (scratch,))
    finally:
        conn.close()
    return elapsed
