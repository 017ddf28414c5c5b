"""Many rows of one table updated at once: one `UPDATE … FROM unnest(…)` on PostgreSQL, one
executemany UPDATE elsewhere.

A sync push moves a set of edited records and their feed rows together. An executemany sends
one UPDATE per row, which PostgreSQL plans and runs one by one; on PostgreSQL (psycopg 3) the
set goes instead as one statement that joins the table to the rows, passed as one array per
column (`unnest`), so its text is the same for any number of rows and the driver prepares it
once. Each value goes through its column type's own bind processing first, exactly as the
executemany would send it, and is cast to the column's type, so the stored values are the same.

Each row says which row it updates (`where`: equal values of those columns) and what it sets
(`set`). The answer is the number of rows matched, as the executemany's rowcount is; a row's
key should match one row at most (the callers' keys are unique; rows giving one key twice go
as the executemany, in turn). A database error surfaces as
the SQLAlchemy exception the executemany would raise, as `bulkinsert` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from offline_sync.server.bulkinsert import COPY_FROM_ROWS, same_as_text_input

Binder = Callable[[Any], Any] | None


class _Plan:
    """The statement of one (table, where, set) on PostgreSQL and each column's bind step."""

    def __init__(self, sql: str, binds: list[Binder]) -> None:
        self.sql = sql
        self.binds = binds

    def arrays(self, rows: Sequence[tuple[Sequence[Any], Sequence[Any]]]) -> list[list[Any]]:
        columns: list[list[Any]] = [[] for _ in self.binds]
        for where, values in rows:
            for i, value in enumerate((*where, *values)):
                bind = self.binds[i]
                columns[i].append(value if bind is None else bind(value))
        return columns


@lru_cache(maxsize=64)
def _plan(
    table: Table, where: tuple[str, ...], set_: tuple[str, ...], dialect: Dialect
) -> _Plan | None:
    columns = [table.c[name] for name in (*where, *set_)]
    if any(c.type._has_bind_expression and not same_as_text_input(c.type) for c in columns):
        return None
    quote = dialect.identifier_preparer.quote
    aliases = [f"w{i}" for i in range(len(where))] + [f"s{i}" for i in range(len(set_))]
    # One array parameter per column, cast to the column's own type. Values read by the type's
    # text input (geometry) go as text first: an array literal of geometry splits on ':'.
    arrays = ", ".join(
        f"%s::{'text[]::' if same_as_text_input(c.type) else ''}{c.type.compile(dialect=dialect)}[]"
        for c in columns
    )
    assignments = ", ".join(
        f"{quote(table.c[name].name)} = v.{alias}"
        for name, alias in zip(set_, aliases[len(where) :], strict=True)
    )
    matches = " AND ".join(
        f"t.{quote(table.c[name].name)} = v.{alias}"
        for name, alias in zip(where, aliases[: len(where)], strict=True)
    )
    target = dialect.identifier_preparer.format_table(table)
    sql = (
        f"UPDATE {target} AS t SET {assignments} "
        f"FROM unnest({arrays}) AS v({', '.join(aliases)}) WHERE {matches}"
    )
    return _Plan(sql, [c.type._cached_bind_processor(dialect) for c in columns])


def _executemany(
    session: Session,
    table: Table,
    where: tuple[str, ...],
    set_: tuple[str, ...],
    rows: Sequence[tuple[Sequence[Any], Sequence[Any]]],
) -> int:
    stmt = (
        update(table)
        .where(*(table.c[name] == bindparam(f"w_{name}") for name in where))
        .values({name: bindparam(f"s_{name}", type_=table.c[name].type) for name in set_})
    )
    params = [
        {f"w_{k}": v for k, v in zip(where, keys, strict=True)}
        | {f"s_{k}": v for k, v in zip(set_, values, strict=True)}
        for keys, values in rows
    ]
    return int(session.execute(stmt, params).rowcount)  # type: ignore[attr-defined]


def update_rows(
    session: Session,
    table: Table,
    *,
    where: tuple[str, ...],
    set_: tuple[str, ...],
    rows: Sequence[tuple[Sequence[Any], Sequence[Any]]],
) -> int:
    """Update `table`: for each (where values, set values) row, the row whose `where` columns
    equal those values gets the `set` columns. Returns the number of rows matched."""
    if not rows:
        return 0
    connection = session.connection()
    dialect = connection.dialect
    plan = (
        _plan(table, where, set_, dialect)
        if len(rows) >= COPY_FROM_ROWS
        and dialect.name == "postgresql"
        and dialect.driver == "psycopg"
        # a key given twice: in turn, as the executemany does (one join would pick either)
        and len({tuple(keys) for keys, _ in rows}) == len(rows)
        else None
    )
    if plan is None:
        return _executemany(session, table, where, set_, rows)
    driver = connection.connection.driver_connection
    assert driver is not None
    dbapi = dialect.loaded_dbapi
    try:
        with driver.cursor() as cursor:
            cursor.execute(plan.sql, plan.arrays(rows))
            return int(cursor.rowcount)
    except dbapi.Error as err:
        raise DBAPIError.instance(plan.sql, None, err, dbapi.Error) from err
