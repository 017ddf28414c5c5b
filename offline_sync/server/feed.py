"""The change feed: publish a record's new state, read changes after a cursor.

One row per (entity, record, scope). Publishing moves the row to the next `seq`; a record that
leaves a scope leaves an `exit` row behind there. `seq` is taken under a transaction-scoped
lock, so sequence order is commit order and a reader's cursor never skips a late commit.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, func, or_, select, text, update
from sqlalchemy.orm import Session
from sqlmodel import col

from offline_sync.protocol import ChangeKind
from offline_sync.server.anyof import any_of
from offline_sync.server.bulkinsert import insert_rows
from offline_sync.server.sqltypes import JSONText, utcnow
from offline_sync.server.tables import SyncChange

ALL = "*"
_LOCK_KEY = 7_351_208_443  # any constant: the advisory lock that orders feed writers


class BadCursor(ValueError):
    pass


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    # SQLite: every write transaction already holds the database's write lock (BEGIN IMMEDIATE).


def _take_seqs(session: Session, count: int) -> int:
    """The first of `count` feed positions reserved for this transaction.

    The lock and the max are taken once per database transaction (a whole sync batch is one);
    later publishes in it count on from there. The lock is held to the commit, so nobody else
    can take a position in between; positions of a rolled-back savepoint are simply skipped.
    """
    conn = session.connection()
    outer = conn.get_transaction()
    cached = conn.info.get(_SEQ_KEY)
    if cached is not None and cached[0] is outer:
        first = int(cached[1])
    else:
        _lock(session)
        first = (
            int(session.execute(select(func.coalesce(func.max(SyncChange.seq), 0))).scalar_one())
            + 1
        )
    conn.info[_SEQ_KEY] = (outer, first + count)
    return first


_SEQ_KEY = "offline_sync.feed.next_seq"


def publish(
    session: Session,
    *,
    entity: str,
    record_id: uuid.UUID,
    scope: str,
    kind: ChangeKind,
    version: int,
    data: dict[str, Any] | None,
    also: tuple[str, ...] = (),
) -> None:
    """The record's new state in `scope` (and in the `also` scopes that mirror it); every
    scope it was in before and is no longer in gets an `exit`."""
    scopes = (scope, *also)
    rows = session.execute(
        select(col(SyncChange.scope), col(SyncChange.kind)).where(
            col(SyncChange.entity) == entity, col(SyncChange.record_id) == record_id
        )
    ).all()
    exits = [s for s, k in rows if s not in scopes and k != ChangeKind.exit]
    next_seq = _take_seqs(session, len(exits) + len(scopes))
    now = utcnow()
    existing = {s for s, _ in rows}
    for old_scope in exits:
        session.execute(
            update(SyncChange)
            .where(
                col(SyncChange.entity) == entity,
                col(SyncChange.record_id) == record_id,
                col(SyncChange.scope) == old_scope,
            )
            .values(seq=next_seq, kind=ChangeKind.exit, version=version, data=None, changed_at=now)
        )
        next_seq += 1
    for target in scopes:
        if target in existing:
            session.execute(
                update(SyncChange)
                .where(
                    col(SyncChange.entity) == entity,
                    col(SyncChange.record_id) == record_id,
                    col(SyncChange.scope) == target,
                )
                .values(seq=next_seq, kind=kind.value, version=version, data=data, changed_at=now)
            )
        else:
            session.add(
                SyncChange(
                    seq=next_seq,
                    entity=entity,
                    record_id=record_id,
                    scope=target,
                    kind=kind.value,
                    version=version,
                    data=data,
                    changed_at=now,
                )
            )
        next_seq += 1
    session.flush()


class Publication(NamedTuple):
    """One record's new state for `publish_many`: its scopes (own first, then mirrors)."""

    entity: str
    record_id: uuid.UUID
    scopes: tuple[str, ...]
    kind: ChangeKind
    version: int
    data: dict[str, Any] | JSONText | None  # JSONText: encoded already, stored as it is


_TABLE = SyncChange.metadata.tables[str(SyncChange.__tablename__)]
# Moves a record's row in one scope to a new position: an executemany of these, keyed by
# (entity, record, scope); Core, not the ORM's bulk update, which keys on the primary key (seq).
_MOVE = (
    update(_TABLE)
    .where(
        _TABLE.c.entity == bindparam("b_entity"),
        _TABLE.c.record_id == bindparam("b_record_id"),
        _TABLE.c.scope == bindparam("b_scope"),
    )
    .values(
        {
            name: bindparam(f"b_{name}", type_=_TABLE.c[name].type)
            for name in ("seq", "kind", "version", "data", "changed_at")
        }
    )
)
_READ_CHUNK = 500


def publish_many(session: Session, records: list[Publication]) -> None:
    """What `publish` does for each record, in order, for many records at once.

    One read of their feed rows (per entity and 500 ids), one executemany that moves the rows
    already there (and leaves `exit`s in scopes a record left), one multi-row insert of the rest.
    Each record once: the caller keeps the last state of a record changed twice.
    """
    if not records:
        return
    if len({(r.entity, r.record_id) for r in records}) != len(records):
        raise ValueError("publish_many takes each record once (its last state)")
    known: dict[tuple[str, uuid.UUID], dict[str, str]] = {}
    by_entity: dict[str, list[uuid.UUID]] = {}
    for r in records:
        by_entity.setdefault(r.entity, []).append(r.record_id)
    for entity, ids in by_entity.items():
        unique = list(dict.fromkeys(ids))
        for i in range(0, len(unique), _READ_CHUNK):
            rows = session.execute(
                select(
                    col(SyncChange.record_id), col(SyncChange.scope), col(SyncChange.kind)
                ).where(
                    col(SyncChange.entity) == entity,
                    any_of(session, col(SyncChange.record_id), unique[i : i + _READ_CHUNK]),
                )
            ).all()
            for record_id, scope, kind in rows:
                known.setdefault((entity, record_id), {})[scope] = kind
    planned: list[tuple[Publication, list[str], set[str]]] = []
    for r in records:
        there = known.get((r.entity, r.record_id), {})
        exits = [s for s, k in there.items() if s not in r.scopes and k != ChangeKind.exit]
        planned.append((r, exits, {s for s in r.scopes if s not in there}))
    next_seq = _take_seqs(session, sum(len(e) + len(r.scopes) for r, e, _ in planned))
    now = utcnow()
    moves: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    for r, exits, fresh in planned:
        key = {"b_entity": r.entity, "b_record_id": r.record_id, "b_changed_at": now}
        for old_scope in exits:
            moves.append(
                key
                | {"b_scope": old_scope, "b_seq": next_seq, "b_kind": ChangeKind.exit.value}
                | {"b_version": r.version, "b_data": None}
            )
            next_seq += 1
        for target in r.scopes:
            values = {"kind": r.kind.value, "version": r.version, "data": r.data}
            if target in fresh:
                inserts.append(
                    {"seq": next_seq, "entity": r.entity, "record_id": r.record_id}
                    | {"scope": target, "changed_at": now}
                    | values
                )
            else:
                moves.append(
                    key
                    | {"b_scope": target, "b_seq": next_seq}
                    | {f"b_{k}": v for k, v in values.items()}
                )
            next_seq += 1
    if moves:
        session.execute(_MOVE, moves)
    if inserts:
        insert_rows(session, _TABLE, inserts)


def publish_new(
    session: Session,
    records: list[tuple[str, uuid.UUID, tuple[str, ...], int, dict[str, Any] | JSONText | None]],
) -> None:
    """First publication of records just created, in one multi-row insert.

    (entity, record id, scopes, version, data) each; a new record has no feed row to move.
    """
    rows = [
        (entity, record_id, scope, version, data)
        for entity, record_id, scopes, version, data in records
        for scope in scopes
    ]
    if not rows:
        return
    next_seq = _take_seqs(session, len(rows))
    now = utcnow()
    insert_rows(
        session,
        _TABLE,
        [
            {
                "seq": next_seq + i,
                "entity": entity,
                "record_id": record_id,
                "scope": scope,
                "kind": ChangeKind.upsert.value,
                "version": version,
                "data": data,
                "changed_at": now,
            }
            for i, (entity, record_id, scope, version, data) in enumerate(rows)
        ],
    )


# --- reading -----------------------------------------------------------------------------------


CURSOR_MAX = 2**63 - 1  # positions are BIGINT sequence numbers


def encode_cursor(positions: dict[str, int]) -> str:
    raw = json.dumps(positions, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, int]:
    if not cursor:
        return {}
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        positions = json.loads(raw)
        if not isinstance(positions, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and 0 <= v <= CURSOR_MAX
            for k, v in positions.items()
        ):
            raise ValueError
        return {str(k): int(v) for k, v in positions.items()}
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested 10,000 deep
        raise BadCursor("the cursor is not one this server issued") from exc


class FeedRow(NamedTuple):
    entity: str
    record_id: uuid.UUID
    kind: str
    version: int
    scope: str
    data: dict[str, Any] | None


COLUMNS = (
    col(SyncChange.entity),
    col(SyncChange.record_id),
    col(SyncChange.kind),
    col(SyncChange.version),
    col(SyncChange.scope),
    col(SyncChange.data),
)


def read(
    session: Session,
    *,
    scopes: list[str] | None,
    positions: dict[str, int],
    limit: int,
    mirrors: frozenset[str] = frozenset(),
) -> tuple[list[FeedRow], dict[str, int], list[str], bool]:
    """Changes after the cursor in these scopes (None: every scope but the `mirrors`, which
    only repeat records held in another scope), oldest first.

    Returns the page's rows, read whole so that the caller can close its session before it
    sends them (a slow reader then holds no connection and no lock), the next cursor
    positions, the scopes the cursor had that the reader no longer has, and whether more
    rows wait.
    """
    keys = [ALL] if scopes is None else sorted(set(scopes))
    dropped = sorted(k for k in positions if k not in keys)
    if scopes is None:
        where: Any = col(SyncChange.seq) > positions.get(ALL, 0)
        if mirrors:
            where = and_(where, col(SyncChange.scope).not_in(sorted(mirrors)))
    else:
        where = or_(
            *[
                and_(col(SyncChange.scope) == k, col(SyncChange.seq) > positions.get(k, 0))
                for k in keys
            ]
        )
    # The page's last seq first (cheap, index-only); then the rows are streamed.
    seqs = (
        session.execute(
            select(col(SyncChange.seq)).where(where).order_by(col(SyncChange.seq)).limit(limit + 1)
        )
        .scalars()
        .all()
    )
    has_more = len(seqs) > limit
    seqs = seqs[:limit]
    new_positions = {k: positions.get(k, 0) for k in keys}
    if not seqs:
        return [], new_positions, dropped, False
    last = seqs[-1]
    for k in keys:
        new_positions[k] = max(new_positions[k], last)
    rows = session.execute(
        select(*COLUMNS).where(where, col(SyncChange.seq) <= last).order_by(col(SyncChange.seq))
    ).all()
    return [FeedRow(*r) for r in rows], new_positions, dropped, has_more
