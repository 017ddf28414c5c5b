"""Membership in many values: `= ANY(array)` on PostgreSQL, `IN (…)` elsewhere.

An `IN` list of hundreds of ids is rendered, bound and converted one placeholder at a time,
and its SQL text changes with the count, so the driver prepares and caches nothing. PostgreSQL
takes the same test as one array parameter, in one statement text for any count. SQLite has no
arrays and keeps `IN`. The rows found are the same either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement


def any_of(session: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN values`, written for the database the session is bound to."""
    values = list(values)
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(values)  # type: ignore[no-any-return]
    return column == any_(bindparam(None, values, type_=ARRAY(column.type)))  # type: ignore[no-any-return]
