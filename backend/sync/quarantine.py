"""Quarantine: a revoked device's ops, one entry per op, bounded per device, reviewed by people.

A revoked device's push changes no record. Each of its ops is kept once (a retry finds its
entry and adds nothing) until the device holds `max_ops` entries or `max_bytes` of op JSON;
ops beyond that are refused and named in the answer, so the device keeps them. A supervisor
reviews each entry: `released` (the op is run through the push rules on the device's behalf,
with its user's present scope), `discarded` (with a reason) or `applied` (the op is in the
ledger as applied, for instance after the tablet was enrolled again and pushed it). A later
push that applies an entry's op marks the entry `applied` by itself.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.orm import Session
from sqlmodel import col, select

from backend.clock import utcnow
from backend.ids import uuid7
from offline_sync.protocol import PushRequest
from offline_sync.server.anyof import any_of
from offline_sync.server.tables import SyncDevice, SyncOp, SyncQuarantine

UNREVIEWED = "unreviewed"
RELEASED = "released"
APPLIED = "applied"
DISCARDED = "discarded"
STATUSES = (UNREVIEWED, RELEASED, APPLIED, DISCARDED)


@dataclass
class Held:
    """What one push of a revoked device left in quarantine."""

    stored: list[uuid.UUID] = field(default_factory=list)
    already: list[uuid.UUID] = field(default_factory=list)
    refused: list[uuid.UUID] = field(default_factory=list)


def entry_payload(request: PushRequest, index: int) -> dict[str, Any]:
    """An entry's payload: a push of its one op, so that it can be run again as it came."""
    return {
        "sent_at": request.sent_at.isoformat(),
        "ops": [request.ops[index].model_dump(mode="json")],
    }


def hold(
    session: Session, *, device: SyncDevice, request: PushRequest, max_ops: int, max_bytes: int
) -> Held:
    """Keep each op of the push once, within the device's bounds; the caller holds its row."""
    held = Held()
    ids = {op.op_id for op in request.ops}
    known = set(
        session.scalars(
            select(col(SyncQuarantine.op_id)).where(
                col(SyncQuarantine.device_id) == device.id, col(SyncQuarantine.op_id).in_(ids)
            )
        )
    )
    count, used = session.execute(
        select(func.count(), func.coalesce(func.sum(col(SyncQuarantine.size_bytes)), 0)).where(
            col(SyncQuarantine.device_id) == device.id
        )
    ).one()
    count, used = int(count), int(used)
    now = utcnow()
    for index, op in enumerate(request.ops):
        if op.op_id in known:
            held.already.append(op.op_id)
            continue
        payload = entry_payload(request, index)
        size = len(json.dumps(payload, separators=(",", ":")).encode())
        if count + 1 > max_ops or used + size > max_bytes:
            held.refused.append(op.op_id)
            continue
        session.add(
            SyncQuarantine(
                id=uuid7(),
                device_id=device.id,
                user_id=device.user_id,
                op_id=op.op_id,
                received_at=now,
                reason="device revoked",
                payload=payload,
                size_bytes=size,
                status=UNREVIEWED,
            )
        )
        known.add(op.op_id)
        held.stored.append(op.op_id)
        count, used = count + 1, used + size
    session.flush()
    return held


def mark_applied(session: Session, op_ids: Iterable[uuid.UUID]) -> list[SyncQuarantine]:
    """Entries not yet settled whose ops a push has now applied: marked `applied`."""
    ids = set(op_ids)
    if not ids:
        return []
    entries = list(
        session.scalars(
            select(SyncQuarantine).where(
                any_of(session, col(SyncQuarantine.op_id), ids),
                col(SyncQuarantine.status).in_((UNREVIEWED, RELEASED)),
            )
        )
    )
    if entries:
        session.execute(
            update(SyncQuarantine)
            .where(col(SyncQuarantine.id).in_([e.id for e in entries]))
            .values(status=APPLIED, reviewed_at=utcnow(), review_note="applied by a later push")
        )
    return entries


def ledger_applied(session: Session, op_id: uuid.UUID | None) -> bool:
    """Whether the op is in the ledger as applied (by any device)."""
    if op_id is None:
        return False
    row = session.get(SyncOp, op_id)
    return row is not None and row.status == APPLIED


def info(q: SyncQuarantine) -> dict[str, Any]:
    payload = q.payload if isinstance(q.payload, dict) else {}
    ops = payload.get("ops", [])
    return {
        "id": q.id,
        "device_id": q.device_id,
        "user_id": q.user_id,
        "op_id": q.op_id,
        "received_at": q.received_at,
        "reason": q.reason,
        "status": q.status,
        "ops": len(ops) if isinstance(ops, list) else 0,
        "size_bytes": q.size_bytes,
        "payload": q.payload,
        "result": payload.get("result"),
        "reviewed_at": q.reviewed_at,
        "reviewed_by": q.reviewed_by,
        "review_note": q.review_note,
    }
