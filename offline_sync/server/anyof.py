"""Membership in many values: `= ANY(array)` on PostgreSQL, `IN (…)` elsewhere.

An `IN` list of hundreds of ids is rendered, bound and converted one placeholder at a time,
and its SQL text changes with the count, so the driver prepares and caches nothing. PostgreSQL
takes the same test as one array parameter, in one statement text for any count. SQLite has no
arrays and keeps `IN`. The rows found are the same either way.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import String, any_, bindparam, cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement


def any_of(session: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN values`, written for the database the session is bound to."""
    values = list(values)
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(values)  # type: ignore[no-any-return]
    array = ARRAY(column.type)
    if values and all(type(v) is uuid.UUID for v in values):
        # UUIDs as one array literal, which PostgreSQL parses: the driver's array adaptation
        # costs more per element, and a UUID's text needs no quoting.
        literal = "{" + ",".join(map(str, values)) + "}"
        return column == any_(cast(bindparam(None, literal, type_=String), array))  # type: ignore[no-any-return]
    return column == any_(bindparam(None, values, type_=array))  # type: ignore[no-any-return]
