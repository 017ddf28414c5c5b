"""Sync endpoints under /sync/v1: devices, push, pull, conflicts, pending ops, quarantine,
attachments. The protocol is in docs/sync-protocol.md."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col, select
from starlette.responses import Response, StreamingResponse

from backend import changes
from backend.api.inputs import parse_model
from backend.api.jsonio import JSON, dumps, problem_response
from backend.api.listing import (
    Q_CURSOR,
    Q_LIMIT,
    enum_param,
    page_of,
    reject_unknown_params,
    run_page,
    uuid_param,
)
from backend.api.params import BOOLEAN_SCHEMA, UUID_SCHEMA, integer_schema
from backend.api.routing import Context, QueryParam, Router
from backend.audit.service import record as audit
from backend.audit.service import record_many
from backend.auth.models import Role, Token, User
from backend.auth.principal import Principal
from backend.auth.tokens import TOKEN_PREFIX, digest, principal_of, revoke_device_credentials
from backend.clock import utcnow
from backend.errors import AppError, FieldError, Forbidden, NotFound, ValidationFailed
from backend.gcpause import gc_paused
from backend.ids import uuid7
from backend.settings import Settings
from backend.sync import quarantine
from backend.sync.entities import build_registry
from backend.sync.scope import scopes_for
from offline_sync.protocol import (
    AttachmentStatus,
    ConflictInfo,
    ConflictResolution,
    DeviceCredential,
    DeviceEnrol,
    DeviceInfo,
    OpStatus,
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
    the rest of the batch stands; the caller's transaction commits once, at the end. What the
    ops changed reaches the feed together at that end (`changes.batch`), not op by op.
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
            with changes.batch(session):
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
    "Enrol a device with a user token: it gets its own id and credential. With an "
    "`enrolment_key`, a resend gets the same device (and a fresh credential), never a second",
    request=DeviceEnrol,
    response=DeviceCredential,
    status=201,
    errors=(403, 422),
)
def enrol(ctx: Context) -> Response:
    scopes_for(ctx.user)  # donors do not sync
    body = parse_model(DeviceEnrol, ctx.body)
    if body.enrolment_key is not None:
        earlier = _enrolled(ctx.session, ctx.user, body.enrolment_key)
        if earlier is not None:
            return _reenrol(ctx, earlier, body)
    device = SyncDevice(
        id=uuid7(),
        user_id=ctx.user.user_id,
        name=body.name,
        platform=body.platform,
        enrolment_key=body.enrolment_key,
    )
    ctx.session.add(device)
    try:
        ctx.session.flush()
    except IntegrityError:
        # The same key, enrolled by a resend racing this one: answer with that device.
        ctx.session.rollback()
        assert body.enrolment_key is not None
        earlier = _enrolled(ctx.session, ctx.user, body.enrolment_key)
        if earlier is None:
            raise
        return _reenrol(ctx, earlier, body)
    secret, token = _credential(ctx, device)
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
    return _credential_response(device, secret, token)


def _enrolled(session: Session, p: Principal, key: str) -> SyncDevice | None:
    return session.scalars(
        select(SyncDevice).where(
            col(SyncDevice.user_id) == p.user_id, col(SyncDevice.enrolment_key) == key
        )
    ).first()


def _credential(ctx: Context, device: SyncDevice) -> tuple[str, Token]:
    now = utcnow()
    secret = TOKEN_PREFIX + "dev_" + secrets.token_urlsafe(32)
    token = Token(
        token_hash=digest(secret),
        user_id=device.user_id,
        device_id=str(device.id),
        device_credential=True,
        created_at=now,
        expires_at=now + timedelta(seconds=ctx.settings.device_token_ttl_seconds),
    )
    ctx.session.add(token)
    ctx.session.flush()
    return secret, token


def _credential_response(device: SyncDevice, secret: str, token: Token) -> Response:
    return JSON(
        DeviceCredential(
            device_id=device.id, device_token=secret, expires_at=token.expires_at
        ).model_dump(),
        status_code=201,
    )


def _reenrol(ctx: Context, device: SyncDevice, body: DeviceEnrol) -> Response:
    """A resent enrolment: the same device, a fresh credential, the lost one revoked."""
    if (device.name, device.platform) != (body.name, body.platform):
        raise ValidationFailed(
            "this enrolment_key enrolled a device with another name or platform",
            errors=[FieldError("/enrolment_key", "already used for another enrolment")],
        )
    if device.revoked_at is not None:
        raise Forbidden(
            f"device {device.id} was revoked; enrol again with a new enrolment_key",
            code="device-revoked",
        )
    revoked = revoke_device_credentials(session=ctx.session, device_id=str(device.id))
    secret, token = _credential(ctx, device)
    audit(
        session=ctx.session,
        principal=ctx.user,
        action="enrol-resend",
        entity_type="device",
        entity_id=device.id,
        before=None,
        after={"device": _device_info(device), "credentials_revoked": revoked},
    )
    ctx.session.commit()
    return _credential_response(device, secret, token)


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
    large_body=True,
    per_item="/ops",
)
def push(ctx: Context) -> Response:
    # A push of thousands of ops makes parsed ops, ORM rows, audit snapshots and answers, none
    # of them cyclic garbage: the cycle detector walking that growing heap cost a third of it.
    with gc_paused():
        return _push(ctx)


def _push(ctx: Context) -> Response:
    device = _device(ctx.session, ctx.user)
    request = parse_model(PushRequest, ctx.body)
    if device.revoked_at is not None:
        raise _quarantined(ctx, request)
    with batch_session(ctx) as session:
        # One push per device at a time: a resend racing its unanswered original waits for
        # it, then finds its ops in the ledger and answers `duplicate` with their outcome.
        device = _device(session, ctx.user, lock=True)
        response = sync_engine(ctx).push(session, device=device, actor=ctx.user, request=request)
        _settle_quarantine(session, ctx.user, response)
    return JSON(response.model_dump(mode="json"))


def _quarantined(ctx: Context, request: PushRequest) -> AppError:
    """Keep a revoked device's ops in quarantine, within its bounds; the 403 that says so."""
    device = _device(ctx.session, ctx.user, lock=True)
    held = quarantine.hold(
        ctx.session,
        device=device,
        request=request,
        max_ops=ctx.settings.quarantine_max_ops,
        max_bytes=ctx.settings.quarantine_max_bytes,
    )
    if held.stored:
        audit(
            session=ctx.session,
            principal=ctx.user,
            action="quarantine",
            entity_type="device",
            entity_id=device.id,
            before=None,
            after={"ops": [str(i) for i in held.stored]},
        )
    ctx.session.commit()
    detail = (
        f"device {device.id} was revoked at {device.revoked_at}; "
        f"{len(held.stored) + len(held.already)} op(s) are kept in quarantine for review"
    )
    if held.refused:
        detail += (
            f"; {len(held.refused)} op(s) were refused because this device's quarantine is "
            f"full ({ctx.settings.quarantine_max_ops} ops or "
            f"{ctx.settings.quarantine_max_bytes} bytes): keep them on the device"
        )
    return Forbidden(
        detail,
        code="device-revoked",
        extra={
            "quarantined": [str(i) for i in held.stored],
            "already_quarantined": [str(i) for i in held.already],
            "refused": [str(i) for i in held.refused],
        },
    )


def _settle_quarantine(session: Session, actor: Principal, response: PushResponse) -> None:
    """Quarantine entries whose ops this push applied (after re-enrolment) are marked so."""
    applied = [r.op_id for r in response.results if r.status is OpStatus.applied]
    entries = quarantine.mark_applied(session, applied)
    if entries:
        record_many(
            session=session,
            principal=actor,
            action="quarantine-applied",
            entity_type="sync_quarantine",
            entries=[(e.id, {"status": e.status}, {"status": quarantine.APPLIED}) for e in entries],
        )


# --- pull ----------------------------------------------------------------------------------------


@router.route(
    "GET",
    SYNC + "/pull",
    "Changes in your scope after a cursor (none: a snapshot), streamed",
    response=PullResponse,
    query=(
        QueryParam("cursor", "from the previous pull"),
        QueryParam("limit", "changes per page", integer_schema(1, Settings.pull_page_max)),
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
    query=(
        QueryParam("status", "open or resolved", {"type": "string", "enum": ["open", "resolved"]}),
    ),
)
def list_conflicts(ctx: Context) -> Response:
    status = enum_param(ctx.request, "status", ["open", "resolved"])
    stmt = select(SyncConflict).order_by(col(SyncConflict.created_at))
    if status:
        stmt = stmt.where(col(SyncConflict.status) == status)
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
    query=(QueryParam("escalated", "true: only the overdue", BOOLEAN_SCHEMA),),
    errors=(403,),
)
def list_pending(ctx: Context) -> Response:
    _supervisor(ctx.user)
    stmt = select(SyncOp).where(col(SyncOp.status) == "pending").order_by(col(SyncOp.received_at))
    if enum_param(ctx.request, "escalated", ["true", "false"]) == "true":
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


class QuarantineEntry(BaseModel):
    id: uuid.UUID
    device_id: uuid.UUID
    user_id: uuid.UUID
    op_id: uuid.UUID | None
    received_at: datetime
    reason: str
    status: Literal["unreviewed", "released", "applied", "discarded"]
    ops: int
    size_bytes: int
    payload: dict[str, Any]
    result: dict[str, Any] | None
    reviewed_at: datetime | None
    reviewed_by: uuid.UUID | None
    review_note: str | None


class QuarantinePage(BaseModel):
    items: list[QuarantineEntry]
    next_cursor: str | None


class QuarantineReview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["released", "applied", "discarded"]
    reason: Annotated[str, Field(min_length=1, max_length=2000)] | None = None


@router.route(
    "GET",
    SYNC + "/quarantine",
    "Ops of revoked devices, one entry per op, kept for review (paged)",
    response=QuarantinePage,
    query=(
        Q_LIMIT,
        Q_CURSOR,
        QueryParam(
            "status",
            "unreviewed, released, applied or discarded",
            {"type": "string", "enum": list(quarantine.STATUSES)},
        ),
        QueryParam("device_id", "one device's entries", UUID_SCHEMA),
    ),
    errors=(403, 422),
)
def list_quarantine(ctx: Context) -> Response:
    _supervisor(ctx.user)
    reject_unknown_params(ctx.request, ("status", "device_id"))
    stmt = select(SyncQuarantine)
    status = enum_param(ctx.request, "status", quarantine.STATUSES)
    if status is not None:
        stmt = stmt.where(col(SyncQuarantine.status) == status)
    device_id = uuid_param(ctx.request, "device_id")
    if device_id is not None:
        stmt = stmt.where(col(SyncQuarantine.device_id) == device_id)
    rows, cursor = run_page(
        ctx.session, stmt, SyncQuarantine.id, page_of(ctx.request, ctx.settings)
    )
    return JSON({"items": [quarantine.info(q) for q in rows], "next_cursor": cursor})


class ReviewClosed(AppError):
    status, code, title = 409, "already-reviewed", "The entry was reviewed already"


@router.route(
    "POST",
    SYNC + "/quarantine/{id}/review",
    "Review a quarantined op (supervisor): release it through the push rules, mark it "
    "applied, or discard it with a reason",
    request=QuarantineReview,
    response=QuarantineEntry,
    errors=(403, 404, 409, 422),
)
def review_quarantine(ctx: Context) -> Response:
    _supervisor(ctx.user)
    body = parse_model(QuarantineReview, ctx.body)
    entry_id = ctx.record_id()
    if body.decision == "discarded" and body.reason is None:
        raise ValidationFailed(
            "a discarded op needs a reason",
            errors=[FieldError("/reason", "required when the decision is discarded")],
        )
    with batch_session(ctx) as session:
        entry = session.get(SyncQuarantine, entry_id, with_for_update=True)
        if entry is None:
            raise NotFound(f"no quarantine entry {ctx.path['id']}")
        if entry.status != quarantine.UNREVIEWED:
            raise ReviewClosed(
                f"the entry is {entry.status} already", extra={"entry_status": entry.status}
            )
        before = quarantine.info(entry)
        if body.decision == "applied" and not quarantine.ledger_applied(session, entry.op_id):
            raise ValidationFailed(
                "the op is not in the ledger as applied; release or discard it instead",
                errors=[FieldError("/decision", "the op was not applied")],
            )
        if body.decision == "released":
            entry.payload = {**entry.payload, "result": _release(ctx, session, entry)}
        entry.status = body.decision
        entry.reviewed_at = utcnow()
        entry.reviewed_by = ctx.user.user_id
        entry.review_note = body.reason
        session.add(entry)
        session.flush()
        after = quarantine.info(entry)
        audit(
            session=session,
            principal=ctx.user,
            action="quarantine-review",
            entity_type="sync_quarantine",
            entity_id=entry.id,
            before=json.loads(dumps(before)),
            after=json.loads(dumps(after)),
            reason=body.reason,
        )
    return JSON(after)


def _release(ctx: Context, session: Session, entry: SyncQuarantine) -> dict[str, Any]:
    """Run a quarantined op through the push rules as its device, with its user's scope now."""
    device = session.get(SyncDevice, entry.device_id, with_for_update=True)
    user = session.get(User, entry.user_id)
    if device is None or user is None or not user.active:
        raise ValidationFailed(
            "the op's device or user is gone or disabled; discard it instead",
            errors=[FieldError("/decision", "cannot be released")],
        )
    actor = principal_of(session, user, device_id=str(device.id))
    kept = (device.last_seen_at, device.last_seq, device.clock_offset_ms, device.clock_drift)
    request = PushRequest.model_validate({"sent_at": utcnow(), "ops": entry.payload["ops"]})
    response = sync_engine(ctx).push(session, device=device, actor=actor, request=request)
    # A release is not the device being seen: keep what its last own push said.
    device.last_seen_at, device.last_seq, device.clock_offset_ms, device.clock_drift = kept
    session.add(device)
    return response.results[0].model_dump(mode="json")


# --- attachments ---------------------------------------------------------------------------------


class MissingPage(BaseModel):
    items: list[str]


@router.route(
    "GET",
    SYNC + "/attachments/missing",
    "Hashes that records you may edit name but that have not arrived whole",
    response=MissingPage,
    errors=(403,),
)
def missing(ctx: Context) -> Response:
    registry = sync_engine(ctx).registry
    if not registry.may_store_attachments(ctx.user):
        raise Forbidden(f"the {ctx.user.role.value} role stores no attachments")
    return JSON({"items": registry.missing_attachments(ctx.session, ctx.user)})


def _sha(ctx: Context) -> str:
    sha = str(ctx.path["sha256"])
    if not attachments.SHA256.match(sha):
        raise ValidationFailed(
            "not a lowercase hex SHA-256",
            errors=[FieldError("/path/sha256", "expected 64 hex digits")],
        )
    return sha


def _readable(ctx: Context, sha: str) -> None:
    """A 404 unless a record in the caller's scope names the attachment (its existence is
    itself personal data: a photo's hash says who was photographed)."""
    registry = sync_engine(ctx).registry
    if not (
        registry.attachment_readable(ctx.session, ctx.user, sha)
        or registry.attachment_writable(ctx.session, ctx.user, sha)
    ):
        raise NotFound(f"no attachment {sha} that a record in your scope names")


@router.route(
    "GET",
    SYNC + "/attachments/{sha256:sha256}",
    "How much of an attachment has arrived (a record in your scope must name it)",
    response=AttachmentStatus,
    errors=(404, 422),
)
def attachment_status(ctx: Context) -> Response:
    from offline_sync.server.tables import SyncAttachment

    sha = _sha(ctx)
    _readable(ctx, sha)
    row = ctx.session.get(SyncAttachment, sha)
    if row is None:
        raise NotFound(f"no attachment {sha}: start at offset 0")
    return JSON(attachments.status_of(row).model_dump())


@router.route(
    "POST",
    SYNC + "/attachments/{sha256:sha256}",
    "Upload a chunk at ?offset= (X-Attachment-Size: total bytes); a record you may edit "
    "must name the attachment",
    response=AttachmentStatus,
    raw_body=True,
    query=(QueryParam("offset", "where this chunk starts", integer_schema(0)),),
    errors=(403, 409, 422),
)
def upload_chunk(ctx: Context) -> Response:
    sha = _sha(ctx)
    registry = sync_engine(ctx).registry
    if not registry.may_store_attachments(ctx.user):
        raise Forbidden(f"the {ctx.user.role.value} role stores no attachments")
    if not registry.attachment_writable(ctx.session, ctx.user, sha):
        raise Forbidden(
            f"no record you may edit names attachment {sha}: push the record first",
            code="attachment-unreferenced",
        )
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
            uploader=_device_id(ctx.user) or ctx.user.user_id,
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
    audit(
        session=ctx.session,
        principal=ctx.user,
        action="upload-complete" if status.complete else "upload",
        entity_type="attachment",
        entity_id=sha,
        before=None,
        after={**status.model_dump(), "offset": offset},
    )
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
    SYNC + "/attachments/{sha256:sha256}/content",
    "The bytes of a complete attachment",
    media_type="application/octet-stream",
    errors=(404, 422),
)
def attachment_content(ctx: Context) -> Response:
    sha = _sha(ctx)
    if not sync_engine(ctx).registry.attachment_readable(ctx.session, ctx.user, sha):
        raise NotFound(f"no attachment {sha} that a record you may see in full names")
    data = attachments.content(ctx.session, sha)
    if data is None:
        raise NotFound(f"attachment {sha} is not complete")
    return Response(
        data,
        media_type="application/octet-stream",
        # Personal data: private caches only, and only for the one who asked.
        headers={"Cache-Control": "private, max-age=86400"},
    )
