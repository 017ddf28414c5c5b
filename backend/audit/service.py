"""Writing audit entries: every mutation calls `record` inside its own transaction."""

from __future__ import annotations

from typing import Any

from geoalchemy2.elements import WKBElement
from sqlalchemy.orm import Session

from backend.api.jsonio import encoded, jsonable
from backend.audit.models import AuditEntry
from backend.auth.principal import Principal
from backend.clock import utcnow
from backend.ids import uuid7
from backend.spatial import from_db
from geodata.geojson import to_geojson
from offline_sync.server.bulkinsert import insert_rows
from offline_sync.server.sqltypes import JSONText

_TABLE = AuditEntry.metadata.tables[str(AuditEntry.__tablename__)]


def record(
    *,
    session: Session,
    principal: Principal | None,
    action: str,
    entity_type: str,
    entity_id: object,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        user_id=principal.user_id if principal else None,
        username=principal.username if principal else None,
        device_id=principal.device_id if principal else None,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=_plain(before),
        after=_plain(after),
        reason=reason,
        device_time=principal.op_time if principal else None,
    )
    session.add(entry)
    return entry


def record_many(
    *,
    session: Session,
    principal: Principal | None,
    action: str,
    entity_type: str,
    entries: list[tuple[object, dict[str, Any] | None, dict[str, Any] | JSONText | None]],
    authors: list[Principal] | None = None,
) -> None:
    """Audit entries for a batch, as one multi-row insert: (entity id, before, after) each
    (`after` may be a `stored_snapshot`, encoded already).

    `authors`, when given, names each entry's own principal (a sync push's ops each carry the
    time their device made them); else `principal` made them all."""
    if not entries:
        return
    now = utcnow()
    who: list[Principal | None] = list(authors) if authors else [principal] * len(entries)
    insert_rows(
        # Core, not the ORM's bulk insert: the same rows with a third of the Python work.
        session,
        _TABLE,
        [
            {
                "id": uuid7(),
                "at": now,
                "user_id": p.user_id if p else None,
                "username": p.username if p else None,
                "device_id": p.device_id if p else None,
                "action": action,
                "entity_type": entity_type,
                "entity_id": str(entity_id),
                "before": _plain(before),
                "after": _plain(after),
                "reason": None,
                "device_time": p.op_time if p else None,
            }
            for p, (entity_id, before, after) in zip(who, entries, strict=True)
        ],
    )


class Snapshot(dict[str, Any]):
    """A row's columns as plain JSON already (`snapshot`): the audit stores it as it is.
    Merged with another dict (`|`), it is a plain dict again, and checked again."""


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (Snapshot, JSONText)):
        return value
    return jsonable(value)


def snapshot(row: Any) -> dict[str, Any]:
    """Every column of a row as plain JSON (geometry as GeoJSON), for before/after."""
    return Snapshot(jsonable(_columns(row)))


def stored_snapshot(row: Any) -> JSONText:
    """`snapshot` as the audit column stores it, encoded once (`JSONText`): for an entry's
    `after` that nothing reads before it is written (a set's new and edited rows)."""
    return encoded(_columns(row))


def _columns(row: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        if isinstance(value, WKBElement):
            shape = from_db(value)
            value = None if shape is None else to_geojson(shape)
        elif hasattr(value, "geom_type"):
            value = to_geojson(value)
        values[column.key] = value
    return values
