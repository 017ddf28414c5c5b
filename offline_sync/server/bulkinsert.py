"""Many new rows into one table at once: COPY on PostgreSQL, one executemany INSERT elsewhere.

A sync push writes its ledger, audit, feed and new records as sets of hundreds of rows. On
PostgreSQL (psycopg 3) `COPY … FROM STDIN` takes such a set as one statement: the server plans
once and the driver does no per-row statement work. Each value goes through its column type's
own bind processing first, exactly as the INSERT would send it, so the stored bytes are the
same; a column the rows leave out gets its Python-side default, or the database's.

The rows must be what `session.execute(insert(table), rows)` takes: dicts with the same keys,
each a column of the table. Anything else (other keys, a type whose SQL wraps its value in a
function this module does not know, SQLite, a small set) goes in as that INSERT, unchanged. A
database error surfaces as the SQLAlchemy exception the INSERT would raise (`IntegrityError`,
`DataError`, ...), and leaves the transaction for the caller's savepoint to roll back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

# Fewer rows than this go in as an INSERT: COPY pays off on sets, and single writes (REST, one
# purchase) keep the statement every observer of them knows.
COPY_FROM_ROWS = 16

# Bind expressions whose function the column's text input does itself: PostGIS's geometry input
# reads the EWKT or hex EWKB that GeoAlchemy2 hands `ST_GeomFromEWKT`.
_SAME_AS_TEXT_INPUT = frozenset({"ST_GeomFromEWKT"})


class _Plan:
    """How the rows of one shape become COPY rows: the statement, and per column where its
    value comes from (the row's key, or a default) and how it is bound."""

    def __init__(
        self,
        sql: str,
        sources: list[tuple[str | None, Callable[[], Any] | None, Callable[[Any], Any] | None]],
    ) -> None:
        self.sql = sql
        self.sources = sources

    def values(self, row: dict[str, Any]) -> list[Any]:
        out = []
        for key, default, bind in self.sources:
            value = row[key] if key is not None else default() if default is not None else None
            out.append(value if bind is None else bind(value))
        return out


def _default_of(column: Any) -> tuple[bool, Callable[[], Any] | None]:
    """(usable, maker) for a column the rows leave out: a Python-side scalar or zero-argument
    default; no maker when the database fills it (server default, NULL, autoincrement)."""
    default = column.default
    if default is None:
        return True, None
    if getattr(default, "is_scalar", False):
        value = default.arg
        return True, lambda: value
    if getattr(default, "is_callable", False):
        fn = default.arg
        return True, lambda: fn(None)  # SQLAlchemy wraps zero-argument callables to take ctx
    return False, None  # a sequence or an SQL expression: only the INSERT knows it


@lru_cache(maxsize=256)
def _plan(table: Table, keys: tuple[str, ...], dialect: Dialect) -> _Plan | None:
    columns = {c.key: c for c in table.columns}
    if any(k not in columns for k in keys):
        return None
    sources: list[tuple[str | None, Callable[[], Any] | None, Callable[[Any], Any] | None]] = []
    names: list[str] = []
    for key, column in columns.items():
        if key in keys:
            source: tuple[str | None, Callable[[], Any] | None] = (key, None)
        else:
            usable, maker = _default_of(column)
            if not usable:
                return None
            if maker is None:
                continue  # the database fills it, as it would for the INSERT
            source = (None, maker)
        type_ = column.type
        if type_._has_bind_expression and getattr(type_, "from_text", None) not in (
            _SAME_AS_TEXT_INPUT
        ):
            return None
        sources.append((*source, type_._cached_bind_processor(dialect)))
        names.append(dialect.identifier_preparer.quote(column.name))
    target = dialect.identifier_preparer.format_table(table)
    return _Plan(f"COPY {target} ({', '.join(names)}) FROM STDIN", sources)


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (dicts of one shape) into `table` in the session's transaction."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    shape = rows[0].keys()
    plan = (
        _plan(table, tuple(shape), dialect)
        if len(rows) >= COPY_FROM_ROWS
        and dialect.name == "postgresql"
        and dialect.driver == "psycopg"
        and all(r.keys() == shape for r in rows)
        else None
    )
    if plan is None:
        session.execute(insert(table), list(rows))
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    dbapi = dialect.loaded_dbapi
    try:
        with driver.cursor() as cursor, cursor.copy(plan.sql) as copy:
            for row in rows:
                copy.write_row(plan.values(row))
    except dbapi.Error as err:
        raise DBAPIError.instance(plan.sql, None, err, dbapi.Error) from err
