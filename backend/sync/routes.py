"""Sync endpoints under /sync/v1: devices, push, pull, conflicts, pending ops, quarantine,
attachments. The protocol is in docs/sync-protocol.md."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from sqlmodel import col, select
from starlette.responses import Response, StreamingResponse

from backend.api.inputs import parse_model
from backend.api.jsonio import JSON, dumps, problem_response
from backend.api.routing import Context, QueryParam, Router
from backend.audit.service import record as audit
from backend.auth.models import Role, Token
from backend.auth.principal import Principal
from backend.auth.tokens import TOKEN_PREFIX, digest
from backend.clock import utcnow
from backend.errors import AppError, FieldError, Forbidden, NotFound, ValidationFailed
from backend.ids import uuid7
from backend.settings import Settings
from backend.sync.entities import build_registry
from backend.sync.scope import scopes_for
from offline_sync.protocol import (
    AttachmentStatus,
    ConflictInfo,
    ConflictResolution,
    DeviceCredential,
    DeviceEnrol,
    DeviceInfo,
    PullResponse,
    PushRequest,
    PushResponse,
)
from offline_sync.server import attachments, conflicts, feed
from offline_sync.server.engine import Engine as SyncEngine
from offline_sync.server.engine import EngineSettings
from offline_sync.server.entities import OpRejected
from offline_sync.server.tables import SyncConflict, SyncDevice, SyncOp, SyncQuarantine

router = Router("sync")
SYNC = "/sync/v1"
SUPERVISORS = frozenset({Role.admin, Role.ministry})


def sync_engine(ctx: Context) -> SyncEngine:
    """The application's sync engine, built once at start-up (see backend.app)."""
    engine: SyncEngine = ctx.request.app.state.sync_engine
    return engine


def engine_for(settings: Settings) -> SyncEngine:
    return SyncEngine(
        build_registry(settings),
        EngineSettings(
            pending_timeout=timedelta(seconds=settings.sync_pending_timeout_seconds),
            clock_drift_threshold=timedelta(seconds=settings.sync_clock_drift_seconds),
        ),
    )


def _supervisor(p: Principal) -> None:
    if p.role not in SUPERVISORS:
        raise Forbidden(
            f"only a supervisor (ministry) or an admin may do this, not a {p.role.value}"
        )


def _device_info(d: SyncDevice) -> dict[str, Any]:
    return DeviceInfo(
        id=d.id,
        user_id=d.user_id,
        name=d.name,
        platform=d.platform,
        enrolled_at=d.enrolled_at,
        revoked_at=d.revoked_at,
        last_seen_at=d.last_seen_at,
        last_seq=d.last_seq,
        clock_offset_ms=d.clock_offset_ms,
        clock_drift=d.clock_drift,
    ).model_dump(mode="json")


def _device(session: Session, p: Principal, *, lock: bool = False) -> SyncDevice:
    """The enrolled device behind a device credential; `lock` holds its row to the commit."""
    try:
        device_id = uuid.UUID(p.device_id or "")
    except ValueError:
        device_id = None
    device = session.get(SyncDevice, device_id, with_for_update=lock) if device_id else None
    if device is None or device.user_id != p.user_id:
        raise Forbidden("sync needs a device credential: enrol with POST /sync/v1/devices")
    return device


@contextmanager
def batch_session(ctx: Context) -> Iterator[Session]:
    """One transaction for a whole batch, in which the use cases' own commits are savepoints.

    The sync engine applies each op in a savepoint so that a refused op leaves nothing while
    the rest of the batch stands; the caller's transaction commits once, at the end.
    """
    ctx.session.close()
    engine: Engine = ctx.request.app.state.engine
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(
            bind=conn,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
            autoflush=False,
        )
        try:
            yield session
            session.commit()
            outer.commit()
        except BaseException:
            outer.rollback()
            raise
        finally:
            session.close()


# --- devices -----------------------------------------------------------------------------------


@router.route(
    "POST",
    SYNC + "/devices",
    "Enrol a device: it gets its own id and credential",
    request=DeviceEnrol,
    response=DeviceCredential,
    status=201,
    errors=(403, 422),
)
def enrol(ctx: Context) -> Response:
    scopes_for(ctx.user)  # donors do not sync
    body = parse_model(DeviceEnrol, ctx.body)
    now = utcnow()
    device = SyncDevice(
        id=uuid7(), user_id=ctx.user.user_id, name=body.name, platform=body.platform
    )
    secret = TOKEN_PREFIX + "dev_" + secrets.token_urlsafe(32)
    token = Token(
        token_hash=digest(secret),
        user_id=ctx.user.user_id,
        device_id=str(device.id),
        created_at=now,
        expires_at=now + timedelta(seconds=ctx.settings.device_token_ttl_seconds),
    )
    ctx.session.add_all([device, token])
    ctx.session.flush()
    audit(
        session=ctx.session,
        principal=ctx.user,
        action="enrol",
        entity_type="device",
        entity_id=device.id,
        before=None,
        after=_device_info(device),
    )
    ctx.session.commit()
    return JSON(
        DeviceCredential(
            device_id=device.id, device_token=secret, expires_at=token.expires_at
        ).model_dump(),
        status_code=201,
    )


class DevicesPage(BaseModel):
    items: list[DeviceInfo]


@router.route(
    "GET", SYNC + "/devices", "Devices: your own; supervisors see all", response=DevicesPage
)
def list_devices(ctx: Context) -> Response:
    stmt = select(SyncDevice).order_by(col(SyncDevice.enrolled_at))
    if ctx.user.role not in SUPERVISORS:
        stmt = stmt.where(col(SyncDevice.user_id) == ctx.user.user_id)
    return JSON({"items": [_device_info(d) for d in ctx.session.scalars(stmt)]})


@router.route(
    "POST",
    SYNC + "/devices/{id}/revoke",
    "Revoke one device (supervisor); the user's other devices keep working",
    response=DeviceInfo,
    errors=(403, 404),
)
def revoke_device(ctx: Context) -> Response:
    _supervisor(ctx.user)
    device = ctx.session.get(SyncDevice, ctx.record_id())
    if device is None:
        raise NotFound(f"no device {ctx.path['id']}")
    before = _device_info(device)
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        device.revoked_by = ctx.user.user_id
        ctx.session.add(device)
        ctx.session.flush()
        audit(
            session=ctx.session,
            principal=ctx.user,
            action="revoke",
            entity_type="device",
            entity_id=device.id,
            before=before,
            after=_device_info(device),
        )
        ctx.session.commit()
    return JSON(_device_info(device))


# --- push ----------------------------------------------------------------------------------------


@router.route(
    "POST",
    SYNC + "/push",
    "Push a batch of ops; exactly one result per op",
    request=PushRequest,
    response=PushResponse,
    errors=(403, 413, 415, 422),
)
def push(ctx: Context) -> Response:
    device = _device(ctx.session, ctx.user)
    if device.revoked_at is not None:
        quarantine = SyncQuarantine(
            id=uuid7(),
            device_id=device.id,
            user_id=device.user_id,
            reason="device revoked",
            payload=ctx.body if isinstance(ctx.body, dict) else {"body": ctx.body},
        )
        ctx.session.add(quarantine)
        ctx.session.commit()
        raise Forbidden(
            f"device {device.id} was revoked at {device.revoked_at}; its ops are kept in "
            f"quarantine ({quarantine.id}) for review",
            code="device-revoked",
        )
    request = parse_model(PushRequest, ctx.body)
    with batch_session(ctx) as session:
        # One push per device at a time: a resend racing its unanswered original waits for
        # it, then finds its ops in the ledger and answers `duplicate` with their outcome.
        device = _device(session, ctx.user, lock=True)
        response = sync_engine(ctx).push(session, device=device, actor=ctx.user, request=request)
    return JSON(response.model_dump(mode="json"))


# --- pull ----------------------------------------------------------------------------------------


@router.route(
    "GET",
    SYNC + "/pull",
    "Changes in your scope after a cursor (none: a snapshot), streamed",
    response=PullResponse,
    query=(
        QueryParam("cursor", "from the previous pull"),
        QueryParam("limit", "changes per page", {"type": "integer", "minimum": 1}),
    ),
    errors=(403, 422),
)
def pull(ctx: Context) -> Response:
    device = _device(ctx.session, ctx.user)
    if device.revoked_at is not None:
        raise Forbidden(f"device {device.id} was revoked", code="device-revoked")
    settings = ctx.settings
    try:
        limit = int(ctx.query.get("limit", settings.pull_page_default))
        if not 1 <= limit <= settings.pull_page_max:
            raise ValueError
    except ValueError as exc:
        raise ValidationFailed(
            f"limit must be 1..{settings.pull_page_max}",
            errors=[FieldError("/query/limit", f"1..{settings.pull_page_max}")],
        ) from exc
    try:
        positions = feed.decode_cursor(ctx.query.get("cursor"))
    except feed.BadCursor as exc:
        raise ValidationFailed(str(exc), errors=[FieldError("/query/cursor", str(exc))]) from exc
    registry = sync_engine(ctx).registry
    scopes = registry.scopes_for(ctx.user)
    actor = ctx.user
    # The page is read here, in the request's session, which is closed before the first byte
    # leaves: a tablet on a slow link then holds no connection, no transaction and no lock
    # while it downloads.
    rows, new_positions, dropped, has_more = feed.read(
        ctx.session, scopes=scopes, positions=positions, limit=limit, mirrors=registry.mirror_scopes
    )
    ctx.session.close()

    def stream() -> Iterator[bytes]:
        # Changes leave in chunks of ~64 KiB: one write per row would cost a thread hop
        # and a gzip flush each. Rows are plain columns; their JSON is the stored JSON.
        buffer = [b'{"changes":[']
        size = 0
        separator = b""
        for row in rows:
            handler = registry.handlers.get(row.entity)
            data = row.data
            if data is not None and handler is not None:
                data = handler.present(data, actor)
            change = {
                "entity": row.entity,
                "record_id": str(row.record_id),
                "kind": row.kind,
                "version": row.version,
                "scope": row.scope,
                "data": data,
            }
            encoded = (
                separator + json.dumps(change, separators=(",", ":"), ensure_ascii=False).encode()
            )
            separator = b","
            buffer.append(encoded)
            size += len(encoded)
            if size >= 65536:
                yield b"".join(buffer)
                buffer, size = [], 0
        yield b"".join(buffer)
        tail = {
            "cursor": feed.encode_cursor(new_positions),
            "has_more": has_more,
            "dropped_scopes": dropped,
            "server_time": utcnow(),
        }
        yield b"]," + dumps(tail)[1:]

    return StreamingResponse(stream(), media_type="application/json")


# --- conflicts ---------------------------------------------------------------------------------


class ConflictsPage(BaseModel):
    items: list[ConflictInfo]


@router.route(
    "GET",
    SYNC + "/conflicts",
    "Conflicts: your own; supervisors see all",
    response=ConflictsPage,
    query=(QueryParam("status", "open or resolved"),),
)
def list_conflicts(ctx: Context) -> Response:
    stmt = select(SyncConflict).order_by(col(SyncConflict.created_at))
    if ctx.query.get("status"):
        stmt = stmt.where(col(SyncConflict.status) == ctx.query["status"])
    if ctx.user.role not in SUPERVISORS:
        stmt = stmt.where(col(SyncConflict.user_id) == ctx.user.user_id)
    return JSON(
        {"items": [conflicts.info(c).model_dump(mode="json") for c in ctx.session.scalars(stmt)]}
    )


@router.route(
    "POST",
    SYNC + "/conflicts/{id}/resolve",
    "Resolve a conflict (supervisor): the result syncs back",
    request=ConflictResolution,
    response=ConflictInfo,
    errors=(403, 404, 409, 422),
)
def resolve_conflict(ctx: Context) -> Response:
    _supervisor(ctx.user)
    body = parse_model(ConflictResolution, ctx.body)
    conflict = ctx.session.get(SyncConflict, ctx.record_id())
    if conflict is None:
        raise NotFound(f"no conflict {ctx.path['id']}")
    try:
        with batch_session(ctx) as session:
            # Held to the commit: two supervisors resolving one conflict do so one after the other.
            conflict = session.get(SyncConflict, conflict.id, with_for_update=True)
            assert conflict is not None
            conflicts.resolve(
                session,
                sync_engine(ctx).registry,
                conflict=conflict,
                resolution=body,
                actor=ctx.user,
                device_id=uuid.UUID(int=0),
            )
    except conflicts.ConflictClosed as err:
        raise ConflictClosedError(str(err)) from err
    except conflicts.RecordMoved as err:
        raise RecordMovedError(
            f"{err}; read it and decide again (the conflict stays open)",
            errors=[FieldError("/version", f"the record is at version {err.version}")],
            extra={"current_version": err.version},
        ) from err
    except OpRejected as err:
        raise ValidationFailed(
            err.detail,
            code=err.code,
            errors=[FieldError(e["pointer"].lstrip("#"), e["detail"]) for e in err.errors],
        ) from err
    return JSON(conflicts.info(conflict).model_dump(mode="json"))


# --- pending ops and quarantine (supervisors) ----------------------------------------------------


class PendingOp(BaseModel):
    op_id: uuid.UUID
    device_id: uuid.UUID
    seq: int
    entity: str
    record_id: uuid.UUID
    kind: str
    received_at: Any
    escalated_at: Any
    depends_on: str | None


class PendingPage(BaseModel):
    items: list[PendingOp]


@router.route(
    "GET",
    SYNC + "/pending",
    "Ops waiting for a record's create; escalated ones are overdue",
    response=PendingPage,
    query=(QueryParam("escalated", "true: only the overdue"),),
    errors=(403,),
)
def list_pending(ctx: Context) -> Response:
    _supervisor(ctx.user)
    stmt = select(SyncOp).where(col(SyncOp.status) == "pending").order_by(col(SyncOp.received_at))
    if ctx.query.get("escalated") == "true":
        stmt = stmt.where(col(SyncOp.escalated_at).isnot(None))
    return JSON(
        {
            "items": [
                PendingOp(
                    op_id=o.op_id,
                    device_id=o.device_id,
                    seq=o.seq,
                    entity=o.entity,
                    record_id=o.record_id,
                    kind=o.kind,
                    received_at=o.received_at,
                    escalated_at=o.escalated_at,
                    depends_on=o.depends_on,
                ).model_dump(mode="json")
                for o in ctx.session.scalars(stmt)
            ]
        }
    )


class QuarantinePage(BaseModel):
    items: list[dict[str, Any]]


@router.route(
    "GET",
    SYNC + "/quarantine",
    "Pushes from revoked devices, kept for review",
    response=QuarantinePage,
    errors=(403,),
)
def list_quarantine(ctx: Context) -> Response:
    _supervisor(ctx.user)
    rows = ctx.session.scalars(select(SyncQuarantine).order_by(col(SyncQuarantine.received_at)))
    return JSON(
        {
            "items": [
                {
                    "id": q.id,
                    "device_id": q.device_id,
                    "user_id": q.user_id,
                    "received_at": q.received_at,
                    "reason": q.reason,
                    "ops": len(q.payload.get("ops", [])) if isinstance(q.payload, dict) else 0,
                    "payload": q.payload,
                    "reviewed_at": q.reviewed_at,
                    "review_note": q.review_note,
                }
                for q in rows
            ]
        }
    )


# --- attachments ---------------------------------------------------------------------------------


class MissingPage(BaseModel):
    items: list[str]


@router.route(
    "GET",
    SYNC + "/attachments/missing",
    "Hashes that records name but that have not arrived whole",
    response=MissingPage,
)
def missing(ctx: Context) -> Response:
    registry = sync_engine(ctx).registry
    hashes: set[str] = set()
    for source in registry.missing_attachments:
        hashes.update(source(ctx.session))
    return JSON({"items": sorted(hashes)})


def _sha(ctx: Context) -> str:
    sha = str(ctx.path["sha256"])
    if not attachments.SHA256.match(sha):
        raise ValidationFailed(
            "not a lowercase hex SHA-256",
            errors=[FieldError("/path/sha256", "expected 64 hex digits")],
        )
    return sha


@router.route(
    "GET",
    SYNC + "/attachments/{sha256}",
    "How much of an attachment has arrived",
    response=AttachmentStatus,
    errors=(404,),
)
def attachment_status(ctx: Context) -> Response:
    from offline_sync.server.tables import SyncAttachment

    row = ctx.session.get(SyncAttachment, _sha(ctx))
    if row is None:
        raise NotFound(f"no attachment {ctx.path['sha256']}: start at offset 0")
    return JSON(attachments.status_of(row).model_dump())


@router.route(
    "POST",
    SYNC + "/attachments/{sha256}",
    "Upload a chunk at ?offset= (X-Attachment-Size: total bytes)",
    response=AttachmentStatus,
    raw_body=True,
    query=(QueryParam("offset", "where this chunk starts", {"type": "integer", "minimum": 0}),),
    errors=(409, 422),
)
def upload_chunk(ctx: Context) -> Response:
    sha = _sha(ctx)
    try:
        offset = int(ctx.query.get("offset", "0"))
        total = int(ctx.request.headers.get("x-attachment-size", "0"))
    except ValueError as exc:
        raise ValidationFailed(
            "offset and X-Attachment-Size are integers",
            errors=[FieldError("/query/offset", "integer")],
        ) from exc
    try:
        status = attachments.put_chunk(
            ctx.session,
            sha256=sha,
            offset=offset,
            total=total,
            data=bytes(ctx.body or b""),
            device_id=_device_id(ctx.user),
        )
    except attachments.AttachmentError as err:
        if err.code == "hash-mismatch":
            ctx.session.commit()  # keep the reset: the next upload starts from 0
        else:
            ctx.session.rollback()
        error = (ValidationFailed if err.code in ("hash-mismatch", "bad-chunk") else _Conflict)(
            err.detail,
            code=err.code,
            errors=[FieldError("/" + err.field, err.detail)],
            extra={"received": err.status.received if err.status else 0},
        )
        return problem_response(error, ctx.request.url.path)
    ctx.session.commit()
    return JSON(status.model_dump())


class ConflictClosedError(AppError):
    status, code, title = 409, "conflict-closed", "The conflict was resolved already"


class RecordMovedError(AppError):
    status, code, title = 409, "record-moved", "The record changed while the conflict was resolved"


class _Conflict(AppError):
    status, code, title = 409, "wrong-offset", "Resume where the server is"


def _device_id(p: Principal) -> uuid.UUID | None:
    try:
        return uuid.UUID(p.device_id or "")
    except ValueError:
        return None


@router.route(
    "GET",
    SYNC + "/attachments/{sha256}/content",
    "The bytes of a complete attachment",
    media_type="application/octet-stream",
    errors=(404,),
)
def attachment_content(ctx: Context) -> Response:
    data = attachments.content(ctx.session, _sha(ctx))
    if data is None:
        raise NotFound(f"attachment {ctx.path['sha256']} is not complete")
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )
