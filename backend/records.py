"""Versioned writes shared by every feature: compare-and-set on `version`, never a blind update."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import bindparam, inspect, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from backend.clock import utcnow
from backend.errors import FieldError, NotFound, StaleVersion, ValidationFailed
from backend.models_base import Record

R = TypeVar("R", bound=Record)


def update_versioned(
    *,
    session: Session,
    model: type[R],
    record_id: uuid.UUID,
    base_version: int,
    values: dict[str, Any],
) -> int:
    """`UPDATE … SET …, version = version + 1 WHERE id = :id AND version = :base`.

    Returns the new version; a concurrent writer that got there first makes this a 409.
    """
    stmt = (
        update(model)
        .where(model.id == record_id, model.version == base_version)  # type: ignore[arg-type]
        .values(**values, version=base_version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if session.execute(stmt).rowcount != 1:  # type: ignore[attr-defined]
        # Re-read: the identity map still holds the version this request started from.
        current = session.get(model, record_id, populate_existing=True)
        if current is None:
            raise NotFound(f"no {model.__tablename__} {record_id}")
        raise StaleVersion(
            f"{model.__tablename__} {record_id} is at version {current.version}, "
            f"you sent version {base_version}; read it again and reapply your change",
            extra={"current_version": current.version},
        )
    return base_version + 1


def write_set(session: Session, rows: Sequence[tuple[Record, int]]) -> None:
    """Write rows of one table edited in memory, each with the version it was read at, as one
    executemany UPDATE of every column guarded by that version; then the session holds them as
    written (no flush writes them again).

    The caller read them `FOR UPDATE`, so no other writer can have moved one; should one have
    all the same, `StaleVersion` is raised and the caller's savepoint undoes the whole set.
    """
    if not rows:
        return
    rows = list({id(row): (row, base) for row, base in rows}.values())  # each row once
    table = type(rows[0][0]).__table__  # type: ignore[attr-defined]
    columns = [c for c in table.columns if not c.primary_key]
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.version == bindparam("b_base"))
        .values({c.key: bindparam(f"b_{c.key}") for c in columns})
    )
    params = [
        {"b_id": row.id, "b_base": base} | {f"b_{c.key}": getattr(row, c.key) for c in columns}
        for row, base in rows
    ]
    written = session.execute(stmt, params).rowcount  # type: ignore[attr-defined]
    if written != len(rows):
        raise StaleVersion(
            f"{written} of {len(rows)} {table.name} records were still at the version read; "
            "another writer moved the rest"
        )
    for row, _ in rows:
        for c in columns:
            set_committed_value(row, c.key, getattr(row, c.key))


def check_version(current: Record, base_version: int) -> None:
    if current.version != base_version:
        raise StaleVersion(
            f"{type(current).__tablename__} {current.id} is at version {current.version}, "
            f"you sent version {base_version}; read it again and reapply your change",
            extra={"current_version": current.version},
        )


def apply_changes(row: Record, changes: dict[str, Any], *, prefix: str = "/") -> None:
    """A partial update's fields set on `row`; null for a column that must hold a value is a
    422 naming each such field, and then nothing is set."""
    columns = inspect(type(row)).columns
    errors = [
        FieldError(prefix + key, f"{key} cannot be null; leave it out to keep it")
        for key, value in changes.items()
        if value is None and key in columns and not columns[key].nullable
    ]
    if errors:
        raise ValidationFailed("; ".join(f"{e.field}: {e.detail}" for e in errors), errors=errors)
    for key, value in changes.items():
        setattr(row, key, value)
