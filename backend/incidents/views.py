"""How an incident leaves the API and the change feed."""

from __future__ import annotations

from typing import Any

from shapely.geometry import Point

from backend.incidents.models import Incident, IncidentFollowUp
from backend.spatial import from_db


def _point(value: Any) -> dict[str, Any] | None:
    shape = from_db(value)
    if not isinstance(shape, Point):
        return None
    return {"type": "Point", "coordinates": [shape.x, shape.y]}


def follow_up_public(row: IncidentFollowUp) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at,
        "by": row.by,
        "device_id": row.device_id,
        "note": row.note,
        "status_before": row.status_before,
        "status_after": row.status_after,
        "attachments": list(row.attachments or []),
    }


def incident_public(row: Incident, follow_ups: list[IncidentFollowUp]) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "status": row.status,
        "occurred_at": row.occurred_at,
        "district": row.district_code,
        "site_id": row.site_id,
        "miner_id": row.miner_id,
        "organisation_id": row.organisation_id,
        "lot_id": row.lot_id,
        "summary": row.summary,
        "location": _point(row.location),
        "attachments": list(row.attachments or []),
        "reported_by": row.reported_by,
        "device_id": row.device_id,
        "closed_at": row.closed_at,
        "follow_ups": [follow_up_public(f) for f in follow_ups],
        "version": row.version,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
