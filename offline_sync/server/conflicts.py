"""Conflict records: list them, and resolve one into a new version that syncs back to devices."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from offline_sync.protocol import ConflictField, ConflictInfo, ConflictResolution
from offline_sync.server.engine import DELETED
from offline_sync.server.entities import ApplyContext, OpRejected, Registry, StaleBase
from offline_sync.server.sqltypes import utcnow
from offline_sync.server.tables import SyncConflict


class ConflictClosed(Exception):
    pass


class RecordMoved(Exception):
    """The record is not at the version the resolution was decided on (compare-and-set)."""

    def __init__(self, version: int | None) -> None:
        super().__init__(f"the record is now at version {version}")
        self.version = version


def info(c: SyncConflict) -> ConflictInfo:
    return ConflictInfo(
        id=c.id,
        entity=c.entity,
        record_id=c.record_id,
        op_id=c.op_id,
        device_id=c.device_id,
        base_version=c.base_version,
        server_version=c.server_version,
        fields={k: ConflictField(**v) for k, v in c.fields.items()},
        status=c.status,
        created_at=c.created_at,
        resolved_at=c.resolved_at,
        resolution=c.resolution,
        resolution_version=c.resolution_version,
    )


def chosen_values(conflict: SyncConflict, resolution: ConflictResolution) -> dict[str, Any]:
    """The values the resolution writes: a device's value taken, or a value given."""
    unknown = (set(resolution.take) | set(resolution.values)) - set(conflict.fields)
    if unknown:
        raise OpRejected(
            "not-in-conflict",
            f"not fields of this conflict: {', '.join(sorted(unknown))}",
            [
                {"field": f, "pointer": f"#/take/{f}", "detail": "not in conflict"}
                for f in sorted(unknown)
            ],
        )
    values = {
        f: conflict.fields[f]["device"] for f, side in resolution.take.items() if side == "device"
    }
    values.update(resolution.values)
    return values


def resolve(
    session: Session,
    registry: Registry,
    *,
    conflict: SyncConflict,
    resolution: ConflictResolution,
    actor: Any,
    device_id: uuid.UUID,
) -> SyncConflict:
    if conflict.status != "open":
        raise ConflictClosed(f"conflict {conflict.id} was resolved at {conflict.resolved_at}")
    handler = registry.handlers[conflict.entity]
    ctx = ApplyContext(session=session, actor=actor, device_id=device_id)
    values = chosen_values(conflict, resolution)
    version = handler.version_of(ctx, conflict.record_id)
    if version is None:
        raise OpRejected(
            "record-missing", f"{conflict.entity} {conflict.record_id} no longer exists"
        )
    if resolution.version is not None and resolution.version != version:
        raise RecordMoved(version)
    fields = {f: v for f, v in values.items() if f != DELETED}
    try:
        if values.get(DELETED, False):
            version = handler.delete(ctx, conflict.record_id, version)
        elif fields:
            version = handler.update(ctx, conflict.record_id, version, fields)
    except StaleBase as err:
        # Someone wrote the record between our read and our write: nothing of ours stands.
        session.rollback()
        raise RecordMoved(handler.version_of(ctx, conflict.record_id)) from err
    conflict.status = "resolved"
    conflict.resolved_at = utcnow()
    conflict.resolved_by = getattr(actor, "user_id", None)
    conflict.resolution = {
        "take": resolution.take,
        "values": resolution.values,
        "note": resolution.note,
        "written": values,
    }
    conflict.resolution_version = version
    session.add(conflict)
    session.flush()
    return conflict
