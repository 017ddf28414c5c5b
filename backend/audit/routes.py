"""Reading the audit trail (admin, ministry, auditor)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from starlette.responses import Response

from backend.api.jsonio import JSON
from backend.api.listing import Q_CURSOR, Q_LIMIT, page_of, reject_unknown_params, run_page
from backend.api.routing import Context, QueryParam, Router
from backend.audit.models import AuditEntry
from backend.auth.permissions import Action, require

router = Router("audit")


class AuditEntryPublic(BaseModel):
    id: str
    at: datetime
    user_id: str | None
    username: str | None
    device_id: str | None
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


class AuditPage(BaseModel):
    items: list[AuditEntryPublic]
    next_cursor: str | None


@router.route(
    "GET",
    "/api/v1/audit",
    "The audit trail, oldest first",
    response=AuditPage,
    query=(
        QueryParam("entity_type", "e.g. site"),
        QueryParam("entity_id", "a record id"),
        Q_LIMIT,
        Q_CURSOR,
    ),
    errors=(403,),
)
def list_audit(ctx: Context) -> Response:
    require(ctx.user, "audit", Action.read)
    reject_unknown_params(ctx.request, ("entity_type", "entity_id"))
    stmt = select(AuditEntry)
    if ctx.query.get("entity_type"):
        stmt = stmt.where(AuditEntry.entity_type == ctx.query["entity_type"])
    if ctx.query.get("entity_id"):
        stmt = stmt.where(AuditEntry.entity_id == ctx.query["entity_id"])
    rows, cursor = run_page(ctx.session, stmt, AuditEntry.id, page_of(ctx.request, ctx.settings))
    return JSON(
        {
            "items": [
                {
                    "id": str(e.id),
                    "at": e.at,
                    "user_id": e.user_id and str(e.user_id),
                    "username": e.username,
                    "device_id": e.device_id,
                    "action": e.action,
                    "entity_type": e.entity_type,
                    "entity_id": e.entity_id,
                    "before": e.before,
                    "after": e.after,
                    "reason": e.reason,
                }
                for e in rows
            ],
            "next_cursor": cursor,
        }
    )
