"""A lot's ancestry evaluated once into a temporary table, for every query that reads the trace.

`ancestors(lot_id)` is a WITH RECURSIVE that each statement using it evaluates again (about
40 ms at 10,000 upstream purchases on PostgreSQL). The evidence report reads the trace in
seven statements, so `trace_table(session, lot_id)` runs the recursion once, writes its rows
(duplicates kept, as the recursion gives them) into the connection's temporary table
`trace_lot`, and yields that table: it has the same `lot_id` column as the CTE and can stand in
for it in any join or `IN`. The rows are removed when the block ends and before the next one
fills the table.

The table is per connection (temporary), created on first use, and holds one trace at a time:
blocks must not nest on one connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Column, MetaData, Table, Uuid, delete, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from backend.custody.trace import ancestors

# Own metadata: never part of the schema that migrations or create_all build.
_metadata = MetaData()
TRACE_LOT = Table(
    "trace_lot",
    _metadata,
    Column("lot_id", Uuid(), nullable=False),
    prefixes=["TEMPORARY"],
)


@contextmanager
def trace_table(session: Session, lot_id: uuid.UUID) -> Iterator[Table]:
    """The lot and every ancestor lot, written once; the rows are removed afterwards."""
    db = session.connection()
    db.execute(CreateTable(TRACE_LOT, if_not_exists=True))
    _empty(db)  # after a block that an error ended (its rows stay unless rolled back)
    tree = ancestors(lot_id)
    db.execute(insert(TRACE_LOT).from_select(["lot_id"], select(tree.c.lot_id)))
    if db.dialect.name == "postgresql":
        # Temporary tables get no statistics by themselves; without them the planner takes a
        # one-lot trace for thousands of lots and scans whole tables (twice the time at 100).
        db.execute(text(f"ANALYZE {TRACE_LOT.name}"))
    yield TRACE_LOT
    # Not in a `finally`: after a database error the transaction refuses every statement, and
    # that refusal would hide the error itself.
    _empty(db)


def _empty(db: Connection) -> None:
    """TRUNCATE on PostgreSQL: DELETE would leave dead rows that every later scan reads."""
    if db.dialect.name == "postgresql":
        db.execute(text(f"TRUNCATE {TRACE_LOT.name}"))
    else:
        db.execute(delete(TRACE_LOT))
