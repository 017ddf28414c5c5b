"""Push: answer every op exactly once; apply in device order; merge, conflict, park or reject.

A push is one database transaction; each op runs in a savepoint of it, so a refused op leaves
nothing behind while the others in the batch stand. The ledger row of every op is written in
the same transaction as its effect, which makes replays after a lost response harmless.

The session handed to `push` must be joined to an outer transaction with
`join_transaction_mode="create_savepoint"`: then `session.commit()` (which the application's
use cases call) only releases a savepoint, and the caller commits the batch once.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session
from sqlmodel import col, select

from offline_sync.protocol import (
    FieldProblem,
    Op,
    OpKind,
    OpResult,
    OpStatus,
    PushRequest,
    PushResponse,
)
from offline_sync.server.anyof import any_of
from offline_sync.server.bulkinsert import insert_rows
from offline_sync.server.entities import (
    ApplyContext,
    ClockReading,
    OpRejected,
    Registry,
    StaleBase,
    UpdateItem,
    record_exists,
)
from offline_sync.server.sqltypes import utcnow
from offline_sync.server.tables import SyncConflict, SyncDevice, SyncOp
from offline_sync.server.values import storable, unstorable

DELETED = "_deleted"
# Ledger rows of a set go in as one COPY or INSERT: the ORM's bulk insert costs more than writing.
_LEDGER = SyncOp.metadata.tables[str(SyncOp.__tablename__)]


@dataclass(frozen=True)
class EngineSettings:
    pending_timeout: timedelta = timedelta(hours=72)
    clock_drift_threshold: timedelta = timedelta(minutes=5)


def _ledger_values(
    device: SyncDevice,
    op: Op,
    result: OpResult,
    depends_on: str | None,
    offset_ms: int,
    now: datetime,
) -> dict[str, Any]:
    """The op ledger row of an op and its answer."""
    return {
        "op_id": op.op_id,
        "device_id": device.id,
        "user_id": device.user_id,
        "seq": op.seq,
        "entity": storable(op.entity),
        "record_id": op.record_id,
        "kind": op.kind.value,
        "base_version": op.base_version,
        "fields": storable(op.fields),
        "content_hash": op.content_hash(),
        "device_time": op.device_time,
        "received_at": now,
        "clock_offset_ms": offset_ms,
        "status": result.status.value,
        "result": result.model_dump(mode="json"),
        "depends_on": depends_on,
        "escalated_at": None,
        "settled_at": None if result.status is OpStatus.pending else now,
    }


def _ledger(
    device: SyncDevice,
    op: Op,
    result: OpResult,
    depends_on: str | None,
    offset_ms: int,
    now: datetime,
) -> SyncOp:
    return SyncOp(**_ledger_values(device, op, result, depends_on, offset_ms, now))


def _rejected(
    op: Op, code: str, detail: str, errors: list[dict[str, str]] | None = None
) -> OpResult:
    return OpResult(
        op_id=op.op_id,
        seq=op.seq,
        status=OpStatus.rejected,
        code=code,
        detail=detail,
        errors=[FieldProblem(**e) for e in errors or []],
    )


def _waiting(op: Op, detail: str) -> OpResult:
    return OpResult(
        op_id=op.op_id,
        seq=op.seq,
        status=OpStatus.pending,
        code="waiting-for-create",
        detail=detail,
    )


def _wrote(row: SyncOp) -> bool:
    """Whether a ledger row's op wrote the version its answer carries."""
    if not row.result.get("version"):
        return False
    if row.status == OpStatus.conflict.value:
        return bool(row.result.get("merged"))
    return row.kind != OpKind.update.value or bool(row.fields)


def _reused(op: Op) -> OpResult:
    return _rejected(
        op,
        "op-id-reused",
        f"op {op.op_id} was received before with different content; the first is kept. "
        "Send new content under a new op id.",
    )


class Engine:
    def __init__(self, registry: Registry, settings: EngineSettings | None = None) -> None:
        self.registry = registry
        self.settings = settings or EngineSettings()

    # --- push --------------------------------------------------------------------------------

    def push(
        self, session: Session, *, device: SyncDevice, actor: Any, request: PushRequest
    ) -> PushResponse:
        now = utcnow()
        offset_ms = int((now - request.sent_at).total_seconds() * 1000)
        drift = abs(offset_ms) > self.settings.clock_drift_threshold.total_seconds() * 1000
        clock = ClockReading(offset=timedelta(milliseconds=offset_ms), drift=drift)
        ctx = ApplyContext(session=session, actor=actor, device_id=device.id, clock=clock)
        # Answers by position: one op id sent twice in a batch gets two answers.
        results: dict[int, OpResult] = {}
        ops = sorted(request.ops, key=lambda o: o.seq)
        # One query for the ledger rows of the whole batch: replays are then answered from memory.
        seen = {
            row.op_id: row
            for row in session.scalars(
                select(SyncOp).where(any_of(session, col(SyncOp.op_id), {o.op_id for o in ops}))
            )
        }
        # Creates that depend on nothing else in the batch are checked one by one and written
        # together, per entity; every other op then runs alone, in sequence order.
        first_in_batch: dict[uuid.UUID, Op] = {}
        for run in self._independent_creates(ops, seen).values():
            if len(run) > 1:
                answered = self._bulk_create(ctx, device, run, offset_ms, now)
                for op in run:
                    results[id(op)] = answered[op.op_id]
                    first_in_batch[op.op_id] = op
        rest = [op for op in ops if id(op) not in results]
        op_ids = Counter(op.op_id for op in ops)
        at = 0
        while at < len(rest):
            run = self._update_run(ctx, rest, at, seen, op_ids)
            if len(run) > 1:
                answered = self._bulk_update(ctx, device, run, offset_ms, now)
                for op in run:
                    results[id(op)] = answered[op.op_id]
                    first_in_batch[op.op_id] = op
                at += len(run)
                continue
            op = rest[at]
            at += 1
            first = first_in_batch.get(op.op_id)
            if first is not None:
                results[id(op)] = self._again_in_batch(op, first, results[id(first)])
                continue
            first_in_batch[op.op_id] = op
            results[id(op)] = self._one(ctx, device, op, offset_ms, now)
        device.last_seen_at = now
        device.last_seq = max([device.last_seq, *(o.seq for o in request.ops)])
        device.clock_offset_ms = offset_ms
        device.clock_drift = drift
        session.add(device)
        self._escalate_overdue(session, now)
        return PushResponse(
            results=[results[id(o)] for o in request.ops],
            server_time=now,
            clock_offset_ms=offset_ms,
            clock_drift=drift,
        )

    def _independent_creates(
        self, ops: list[Op], seen: dict[uuid.UUID, SyncOp]
    ) -> dict[str, list[Op]]:
        """Per entity, the creates no earlier op of the batch touches and that name no record
        the batch itself creates: their order against the rest cannot change any outcome."""
        op_ids = Counter(op.op_id for op in ops)
        batch_records = {str(op.record_id) for op in ops}
        touched: set[uuid.UUID] = set()
        runs: dict[str, list[Op]] = {}
        for op in ops:
            handler = self.registry.handlers.get(op.entity)
            if (
                op.kind is OpKind.create
                and handler is not None
                and handler.writable
                and getattr(handler, "create_many", None) is not None
                and op.op_id not in seen
                and op_ids[op.op_id] == 1
                and op.record_id not in touched
                and not any(isinstance(v, str) and v in batch_records for v in op.fields.values())
                and not unstorable(op)
            ):
                runs.setdefault(op.entity, []).append(op)
            touched.add(op.record_id)
        return runs

    def _update_run(
        self,
        ctx: ApplyContext,
        rest: list[Op],
        start: int,
        seen: dict[uuid.UUID, SyncOp],
        op_ids: Counter[uuid.UUID],
    ) -> list[Op]:
        """The updates from `start` on that can be applied as sets: consecutive in device
        order, of one entity, new and sent once. `_bulk_update` keeps each record's own order;
        the order of different records' updates among themselves cannot matter (a database
        constraint between two of them sends the set back to one-by-one), and nothing else
        moves past them."""
        run: list[Op] = []
        for op in rest[start:]:
            handler = self.registry.handlers.get(op.entity)
            if (
                op.kind is not OpKind.update
                or handler is None
                or not handler.writable
                or getattr(handler, "update_many", None) is None
                or ctx.actor is None
                or op.base_version is None
                or not op.fields
                or op.op_id in seen
                or op_ids[op.op_id] != 1
                or (run and op.entity != run[0].entity)
                or unstorable(op)
            ):
                break
            run.append(op)
        return run

    def _bulk_update(
        self, ctx: ApplyContext, device: SyncDevice, run: list[Op], offset_ms: int, now: datetime
    ) -> dict[uuid.UUID, OpResult]:
        """A run of updates (`_update_run`) in rounds: a record's first update in the first
        round, its second in the second, and so on, so each record's updates keep their device
        order. In each round, those made from the record's current version are written as one
        set (of one, too); the rest (a record that moved on, or is not there yet) and any the
        set could not take go one by one, in device order, after it, before the next round."""
        handler: Any = self.registry.handlers[run[0].entity]
        rounds: list[list[Op]] = []
        seen_times: Counter[uuid.UUID] = Counter()
        for op in run:
            at = seen_times[op.record_id]
            seen_times[op.record_id] += 1
            if at == len(rounds):
                rounds.append([])
            rounds[at].append(op)
        results: dict[uuid.UUID, OpResult] = {}
        for round_ops in rounds:
            current = handler.versions(ctx, [op.record_id for op in round_ops])
            ready = [op for op in round_ops if current.get(op.record_id) == op.base_version]
            if ready:  # a set of one too: a third of the statements of the one-by-one path
                results.update(self._update_set(ctx, device, handler, ready, offset_ms, now))
            for op in round_ops:
                if op.op_id not in results:
                    results[op.op_id] = self._one(ctx, device, op, offset_ms, now)
        return results

    def _update_set(
        self,
        ctx: ApplyContext,
        device: SyncDevice,
        handler: Any,
        ops: list[Op],
        offset_ms: int,
        now: datetime,
    ) -> dict[uuid.UUID, OpResult]:
        """Updates with nothing to merge, through the handler's `update_many`: one answer and
        one ledger row each, the ledger as one insert. Those it answers `StaleBase` (a race
        after the version read) are left for the caller to take one by one."""
        items = [
            UpdateItem(
                record_id=op.record_id,
                version=op.base_version or 0,
                fields=dict(op.fields),
                actor=self.registry.author(ctx.session, ctx.actor, device.user_id, device.id, op),
            )
            for op in ops
        ]
        savepoint = ctx.session.begin_nested()
        try:
            outcomes = handler.update_many(ctx, items)
        except Exception:
            # Something only the database could see (a constraint between two of them, say):
            # the caller takes them one by one.
            if savepoint.is_active:
                savepoint.rollback()
            ctx.session.rollback()
            return {}
        answered = [
            (op, o) for op, o in zip(ops, outcomes, strict=True) if not isinstance(o, StaleBase)
        ]
        results = self._record_set(ctx, device, answered, offset_ms, now)
        ctx.session.commit()
        return results

    def _record_set(
        self,
        ctx: ApplyContext,
        device: SyncDevice,
        answered: list[tuple[Op, Any]],
        offset_ms: int,
        now: datetime,
    ) -> dict[uuid.UUID, OpResult]:
        """The answers of ops a handler took as a set (a version, or `OpRejected`), and their
        ledger rows as one COPY or INSERT (plain rows: ORM objects cost more than writing)."""
        results: dict[uuid.UUID, OpResult] = {}
        for op, outcome in answered:
            if isinstance(outcome, OpRejected):
                results[op.op_id] = _rejected(op, outcome.code, outcome.detail, outcome.errors)
            else:
                results[op.op_id] = OpResult(
                    op_id=op.op_id, seq=op.seq, status=OpStatus.applied, version=outcome
                )
        if answered:
            insert_rows(
                ctx.session,
                _LEDGER,
                [
                    _ledger_values(device, op, results[op.op_id], None, offset_ms, now)
                    for op, _ in answered
                ],
            )
        return results

    def _bulk_create(
        self, ctx: ApplyContext, device: SyncDevice, run: list[Op], offset_ms: int, now: datetime
    ) -> dict[uuid.UUID, OpResult]:
        handler: Any = self.registry.handlers[run[0].entity]
        parked = self._parents_missing(ctx, run)
        if parked:
            # Creates naming a record the server has not seen wait, one by one, for it.
            answers = {op.op_id: self._one(ctx, device, op, offset_ms, now) for op in parked}
            rest = [op for op in run if op.op_id not in answers]
            if rest:
                answers.update(self._bulk_create(ctx, device, rest, offset_ms, now))
            return answers
        savepoint = ctx.session.begin_nested()
        try:
            outcomes = handler.create_many(ctx, [(op.record_id, dict(op.fields)) for op in run])
        except Exception:
            # Something only the database could see (a race on an id): take them one by one.
            if savepoint.is_active:
                savepoint.rollback()
            ctx.session.rollback()
            return {op.op_id: self._one(ctx, device, op, offset_ms, now) for op in run}
        results = self._record_set(
            ctx, device, list(zip(run, outcomes, strict=True)), offset_ms, now
        )
        created = [
            f"{op.entity}:{op.record_id}"
            for op in run
            if results[op.op_id].status is OpStatus.applied
        ]
        waiting = ctx.session.scalars(
            select(col(SyncOp.depends_on))
            .where(
                col(SyncOp.status) == OpStatus.pending.value,
                any_of(ctx.session, col(SyncOp.depends_on), created),
            )
            .distinct()
        ).all()
        for key in waiting:
            if key is not None:
                entity, record_id = key.split(":", 1)
                self._release_parked(ctx, entity, uuid.UUID(record_id), now)
        ctx.session.commit()
        return results

    def _again_in_batch(self, op: Op, first_op: Op, first: OpResult) -> OpResult:
        """An op id seen earlier in the same batch: the same content is a duplicate, other
        content is refused (the first is kept), never silently dropped."""
        if first_op.content_hash() != op.content_hash():
            return _reused(op)
        return first.model_copy(
            update={"op_id": op.op_id, "status": OpStatus.duplicate, "first_status": first.status}
        )

    def _one(
        self, ctx: ApplyContext, device: SyncDevice, op: Op, offset_ms: int, now: datetime
    ) -> OpResult:
        session = ctx.session
        seen = session.get(SyncOp, op.op_id)
        if seen is not None:
            if seen.content_hash != op.content_hash():
                return _reused(op)
            first = OpResult.model_validate(seen.result)
            return first.model_copy(
                update={"status": OpStatus.duplicate, "first_status": first.status}
            )
        problems = unstorable(op)
        if problems:
            result = _rejected(
                op,
                "unstorable-value",
                "the op carries values no database keeps (a NUL character, NaN or infinity)",
                problems,
            )
            depends_on = None
        else:
            author = self.registry.author(session, ctx.actor, device.user_id, device.id, op)
            result, depends_on = self._apply(replace(ctx, actor=author), op)
        if result.retryable:
            return result  # not recorded: the same op id may simply be sent again
        session.add(_ledger(device, op, result, depends_on, offset_ms, now))
        session.flush()
        if op.kind is OpKind.create and result.status is OpStatus.applied:
            self._release_parked(ctx, op.entity, op.record_id, now)
        session.commit()  # releases this op's savepoint: effect and ledger stand together
        return result

    def _apply(self, ctx: ApplyContext, op: Op) -> tuple[OpResult, str | None]:
        handler = self.registry.handlers.get(op.entity)
        if handler is None:
            known = ", ".join(sorted(self.registry.handlers))
            return _rejected(
                op, "unknown-entity", f"{op.entity} is not syncable (known: {known})"
            ), None
        if not handler.writable:
            return _rejected(op, "pull-only", f"{op.entity} records are read-only on devices"), None
        if ctx.actor is None:
            return _rejected(
                op, "author-inactive", "the op's author may no longer make changes"
            ), None
        if op.kind is not OpKind.create and op.base_version is None:
            return _rejected(
                op,
                "base-version-required",
                f"a {op.kind.value} needs base_version",
                [{"field": "base_version", "pointer": "#/base_version", "detail": "required"}],
            ), None
        current = handler.version_of(ctx, op.record_id)
        if op.kind is OpKind.create:
            if current is not None:
                exists = record_exists(op.entity, op.record_id)
                return _rejected(op, exists.code, exists.detail), None
            missing = self._missing_parent(ctx, op)
            if missing is not None:
                entity, record_id, field = missing
                return _waiting(
                    op,
                    f"{op.entity} {op.record_id} names {entity} {record_id} ({field}), which the "
                    "server has not received yet; the op waits for it",
                ), f"{entity}:{record_id}"
        elif current is None:
            return _waiting(
                op, f"{op.entity} {op.record_id} does not exist yet; the op waits for it"
            ), f"{op.entity}:{op.record_id}"
        # Each op already runs in its own savepoint (the previous op ended with a commit, which
        # in a batch session releases one): rolling back drops exactly this op's work.
        try:
            result = self._write(ctx, op, current)
        except OpRejected as err:
            ctx.session.rollback()
            return _rejected(op, err.code, err.detail, err.errors), None
        except StaleBase as err:
            ctx.session.rollback()
            return OpResult(
                op_id=op.op_id,
                seq=op.seq,
                status=OpStatus.rejected,
                code="raced",
                detail=f"{err} (a concurrent change won the race); send the op again",
                retryable=True,
            ), None
        except DataError:
            # A value the database itself refuses (out of its range, say): this op only.
            ctx.session.rollback()
            return _rejected(
                op, "unstorable-value", "the database refused a value of this op"
            ), None
        return result, None

    def _parents_missing(self, ctx: ApplyContext, run: list[Op]) -> list[Op]:
        """The creates of a run that name a record not on the server yet: one query per kind
        of parent for the whole run."""
        parents = getattr(self.registry.handlers[run[0].entity], "parents", None)
        if parents is None:
            return []
        named: dict[str, set[uuid.UUID]] = {}
        for op in run:
            for entity, record_id in parents(op.fields).values():
                named.setdefault(entity, set()).add(record_id)
        absent: set[tuple[str, uuid.UUID]] = set()
        for entity, ids in named.items():
            handler: Any = self.registry.handlers.get(entity)
            if handler is None:
                continue
            found = handler.existing_ids(ctx, sorted(ids))
            absent.update((entity, i) for i in ids - found)
        return [op for op in run if set(parents(op.fields).values()) & absent]

    def _missing_parent(self, ctx: ApplyContext, op: Op) -> tuple[str, uuid.UUID, str] | None:
        """The first record a create names (a visit's site, say) that does not exist yet."""
        handler: Any = self.registry.handlers[op.entity]
        parents = getattr(handler, "parents", None)
        if parents is None:
            return None
        for field, (entity, record_id) in parents(op.fields).items():
            parent = self.registry.handlers.get(entity)
            if parent is not None and parent.version_of(ctx, record_id) is None:
                return entity, record_id, field
        return None

    def _write(self, ctx: ApplyContext, op: Op, current: int | None) -> OpResult:
        handler = self.registry.handlers[op.entity]
        if op.kind is OpKind.create:
            version = handler.create(ctx, op.record_id, dict(op.fields))
            return OpResult(op_id=op.op_id, seq=op.seq, status=OpStatus.applied, version=version)
        assert current is not None and op.base_version is not None
        if op.base_version > current:
            raise OpRejected(
                "base-version-ahead",
                f"base_version {op.base_version} is newer than the record's {current}",
            )
        changed = (
            handler.changed_since(
                ctx, op.record_id, op.base_version, ignore=self._own_versions(ctx, op)
            )
            if op.base_version < current
            else {}
        )
        if op.kind is OpKind.delete:
            if changed:
                return self._conflict(
                    ctx,
                    op,
                    current,
                    {DELETED: {"server": False, "device": True}},
                    current,
                    merged=False,
                )
            version = handler.delete(ctx, op.record_id, current)
            return OpResult(op_id=op.op_id, seq=op.seq, status=OpStatus.applied, version=version)
        overlap = {f: v for f, v in op.fields.items() if f in changed and changed[f] != v}
        clean = {f: v for f, v in op.fields.items() if f not in overlap}
        version = current
        if clean:
            version = handler.update(ctx, op.record_id, current, clean)
        merged = op.base_version < current
        if overlap:
            both = {f: {"server": changed[f], "device": v} for f, v in overlap.items()}
            return self._conflict(ctx, op, current, both, version, merged=bool(clean))
        return OpResult(
            op_id=op.op_id, seq=op.seq, status=OpStatus.applied, version=version, merged=merged
        )

    def _conflict(
        self,
        ctx: ApplyContext,
        op: Op,
        server_version: int,
        fields: dict[str, Any],
        version: int,
        *,
        merged: bool,
    ) -> OpResult:
        handler = self.registry.handlers[op.entity]
        conflict = SyncConflict(
            id=uuid.uuid4(),
            entity=op.entity,
            record_id=op.record_id,
            op_id=op.op_id,
            device_id=ctx.device_id,
            user_id=getattr(ctx.actor, "user_id", uuid.UUID(int=0)),
            scope=handler.scope_of(ctx, op.record_id),
            base_version=op.base_version or 0,
            server_version=server_version,
            fields=fields,
        )
        ctx.session.add(conflict)
        ctx.session.flush()
        return OpResult(
            op_id=op.op_id,
            seq=op.seq,
            status=OpStatus.conflict,
            version=version,
            conflict_id=conflict.id,
            merged=merged,
            detail=f"the server changed {', '.join(sorted(fields))} since version "
            f"{op.base_version}; it kept its value; a supervisor decides (conflict {conflict.id})",
        )

    def _own_versions(self, ctx: ApplyContext, op: Op) -> frozenset[int]:
        """Versions this device's own earlier ops wrote: a device never conflicts with itself.

        A device offline edits from the version it last saw, so its second edit of a field
        carries the same base as its first; the first is no rival to the second. Only versions
        an op *wrote* count: a conflict that wrote nothing answers with the server's version,
        which is someone else's change.
        """
        rows = ctx.session.scalars(
            select(SyncOp).where(
                col(SyncOp.device_id) == ctx.device_id,
                col(SyncOp.record_id) == op.record_id,
                col(SyncOp.seq) < op.seq,
                col(SyncOp.status).in_([OpStatus.applied.value, OpStatus.conflict.value]),
            )
        )
        return frozenset(int(r.result["version"]) for r in rows if _wrote(r))

    # --- parked ops --------------------------------------------------------------------------

    def _release_parked(
        self, ctx: ApplyContext, entity: str, record_id: uuid.UUID, now: datetime
    ) -> None:
        """Apply, in device order, the ops that were waiting for this record's create."""
        parked = ctx.session.scalars(
            select(SyncOp)
            .where(
                col(SyncOp.status) == OpStatus.pending.value,
                col(SyncOp.depends_on) == f"{entity}:{record_id}",
            )
            .order_by(col(SyncOp.received_at), col(SyncOp.seq))
        ).all()
        if not parked:
            return
        # The op that released them stands whatever their fate; each of them runs in a savepoint.
        ctx.session.commit()
        for row in parked:
            op = Op(
                op_id=row.op_id,
                seq=row.seq,
                entity=row.entity,
                record_id=row.record_id,
                kind=OpKind(row.kind),
                base_version=row.base_version,
                fields=row.fields,
                device_time=row.device_time,
            )
            # The parked op is applied as its own author on its own device, with its own clock:
            # whoever pushed the create that released it had no part in it.
            offset = timedelta(milliseconds=row.clock_offset_ms or 0)
            author = ApplyContext(
                session=ctx.session,
                actor=self.registry.author(ctx.session, None, row.user_id, row.device_id, op),
                device_id=row.device_id,
                clock=ClockReading(
                    offset=offset,
                    drift=abs(offset) > self.settings.clock_drift_threshold,
                ),
            )
            result, depends_on = self._apply(author, op)
            if result.retryable:
                continue  # stays pending; the next release or the device's resend applies it
            row.status = result.status.value
            row.result = result.model_dump(mode="json")
            row.depends_on = depends_on
            row.settled_at = None if result.status is OpStatus.pending else now
            ctx.session.add(row)
            ctx.session.commit()
            if op.kind is OpKind.create and result.status is OpStatus.applied:
                self._release_parked(ctx, op.entity, op.record_id, now)
        ctx.session.flush()

    def _escalate_overdue(self, session: Session, now: datetime) -> None:
        session.execute(
            update(SyncOp)
            .where(
                col(SyncOp.status) == OpStatus.pending.value,
                col(SyncOp.escalated_at).is_(None),
                col(SyncOp.received_at) < now - self.settings.pending_timeout,
            )
            .values(escalated_at=now)
        )
