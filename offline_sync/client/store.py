"""The device's SQLite file: credentials and cursor, the outbox of ops, the replica, attachments.

Every method that changes more than one row does it in one transaction, so a crash (power,
kill, exception) between any two steps leaves the file either before or after that step.

The replica keeps, per record, `base`: the record as the server last showed it (with its
`version`), and `data`: `base` with the device's unanswered ops (queued or sent) on top, which
is what the device shows. An answer or a pulled change updates `base` and recomputes `data`.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from offline_sync.protocol import Change, ChangeKind, Op, OpKind, OpResult, OpStatus, PullResponse

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    op_id TEXT NOT NULL UNIQUE,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    base_version INTEGER,
    fields TEXT NOT NULL,
    device_time TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'settled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    result TEXT,
    settled_at TEXT
);
CREATE INDEX IF NOT EXISTS ix_outbox_state_seq ON outbox (state, seq);
CREATE INDEX IF NOT EXISTS ix_outbox_record ON outbox (entity, record_id, state);
CREATE TABLE IF NOT EXISTS replica (
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    version INTEGER,
    scope TEXT,
    base TEXT,
    base_deleted INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (entity, record_id)
);
CREATE INDEX IF NOT EXISTS ix_replica_scope ON replica (scope);
CREATE TABLE IF NOT EXISTS attachment (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    content BLOB NOT NULL,
    received INTEGER NOT NULL DEFAULT 0,
    complete INTEGER NOT NULL DEFAULT 0,
    added_at TEXT NOT NULL
);
"""

UNANSWERED = ("queued", "sent")
CORRECTED = "corrected:"  # meta key prefix: a rejected op id -> the op that corrects it
PROBLEM_OUTCOMES = frozenset({OpStatus.conflict, OpStatus.rejected})


def outcome_of(result: OpResult) -> OpStatus:
    """What happened to the op: a duplicate's outcome is the status it got the first time."""
    if result.status is OpStatus.duplicate:
        if result.first_status is not None:
            return result.first_status
        return OpStatus.applied if result.version is not None else OpStatus.duplicate
    return result.status


@dataclass(frozen=True)
class OutboxEntry:
    """One op as the device keeps it: what was sent, where it is, and the answer if any."""

    op: Op
    # queued: never sent; sent: sent, and no final answer yet (none kept, or `pending`);
    # settled: answered for good (applied, conflict, rejected)
    state: str
    attempts: int
    result: OpResult | None
    settled_at: datetime | None

    @property
    def outcome(self) -> OpStatus | None:
        return None if self.result is None else outcome_of(self.result)


@dataclass(frozen=True)
class Record:
    entity: str
    record_id: uuid.UUID
    version: int | None  # the server's version last seen; None: not on the server yet
    scope: str | None
    data: dict[str, Any]
    deleted: bool
    dirty: bool  # the device has ops on it that the server has not answered


@dataclass(frozen=True)
class Attachment:
    sha256: str
    size: int
    received: int
    complete: bool


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


class Store:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @classmethod
    def open(cls, path: str | Path) -> Store:
        # isolation_level=None: transactions are ours (BEGIN IMMEDIATE), never implicit
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        with _tx(conn):
            # not executescript: it commits first, and the schema belongs in this transaction
            for statement in _statements(SCHEMA):
                conn.execute(statement)
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('next_seq', '1')")
        return cls(conn)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with _tx(self.conn) as conn:
            yield conn

    # -- meta --------------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_many(self, values: dict[str, str | None]) -> None:
        with self.transaction() as conn:
            _set_meta(conn, values)

    # -- outbox ------------------------------------------------------------------------------

    def queue(
        self,
        *,
        entity: str,
        record_id: uuid.UUID,
        kind: OpKind,
        base_version: int | None,
        fields: dict[str, Any],
        device_time: datetime,
        corrects: uuid.UUID | None = None,
    ) -> Op:
        """Give the op an id and the next seq, keep it, and show it in the replica: one step.

        `corrects`: the rejected op this one corrects (noted in the same step)."""
        with self.transaction() as conn:
            seq = int(_meta(conn, "next_seq") or "1")
            op = Op(
                op_id=uuid.uuid4(),
                seq=seq,
                entity=entity,
                record_id=record_id,
                kind=kind,
                base_version=base_version,
                fields=fields,
                device_time=device_time,
            )
            conn.execute(
                "INSERT INTO outbox (seq, op_id, entity, record_id, kind, base_version, fields,"
                " device_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    op.seq,
                    str(op.op_id),
                    op.entity,
                    str(op.record_id),
                    op.kind.value,
                    op.base_version,
                    _dumps(op.fields),
                    op.device_time.isoformat(),
                ),
            )
            _set_meta(conn, {"next_seq": str(seq + 1)})
            if corrects is not None:
                _set_meta(conn, {CORRECTED + str(corrects): str(op.op_id)})
            _refresh(conn, entity, str(record_id))
        return op

    def corrected(self) -> dict[uuid.UUID, uuid.UUID]:
        """Rejected ops that were corrected and queued again: op id -> the correcting op id."""
        rows = self.conn.execute(
            "SELECT key, value FROM meta WHERE key LIKE ?", (CORRECTED + "%",)
        ).fetchall()
        return {uuid.UUID(k.removeprefix(CORRECTED)): uuid.UUID(v) for k, v in rows}

    def entry(self, op_id: uuid.UUID) -> OutboxEntry | None:
        row = self.conn.execute("SELECT * FROM outbox WHERE op_id = ?", (str(op_id),)).fetchone()
        return None if row is None else _entry(row)

    def unanswered(self, limit: int, *, after_seq: int = 0) -> list[Op]:
        """Ops without a final answer, by seq: never sent, sent with the answer lost, or
        answered `pending` (asked again, since a replay returns the op's answer as it is now)."""
        rows = self.conn.execute(
            "SELECT * FROM outbox WHERE state IN ('queued', 'sent') AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
        return [_op(row) for row in rows]

    def mark_sent(self, ops: Sequence[Op]) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE outbox SET state = 'sent', attempts = attempts + 1"
                " WHERE op_id = ? AND state != 'settled'",
                [(str(op.op_id),) for op in ops],
            )

    def settle(self, results: Iterable[OpResult], meta: dict[str, str | None]) -> list[OpResult]:
        """Keep each answer, settle its op and move the replica on, with `meta`, at once.

        Returns the results that matched an op still waiting (answers to unknown or already
        settled op ids are ignored, which makes a repeated answer harmless).
        """
        kept: list[OpResult] = []
        now = datetime.now(UTC).isoformat()
        with self.transaction() as conn:
            for result in results:
                row = conn.execute(
                    "SELECT * FROM outbox WHERE op_id = ?", (str(result.op_id),)
                ).fetchone()
                if row is None or row["state"] == "settled":
                    continue
                outcome = outcome_of(result)
                final = outcome is not OpStatus.pending and not result.retryable
                conn.execute(
                    "UPDATE outbox SET state = ?, outcome = ?, result = ?, settled_at = ?"
                    " WHERE op_id = ?",
                    (
                        "settled" if final else "sent",
                        None if result.retryable else outcome.value,
                        result.model_dump_json(),
                        now if final else None,
                        str(result.op_id),
                    ),
                )
                if outcome is OpStatus.applied and result.version is not None:
                    _confirm(conn, _op(row), result.version, merged=result.merged)
                _refresh(conn, row["entity"], row["record_id"])
                kept.append(result)
            _set_meta(conn, meta)
        return kept

    def entries(
        self, *, states: Sequence[str] | None = None, limit: int | None = None
    ) -> list[OutboxEntry]:
        sql = "SELECT * FROM outbox"
        args: list[Any] = []
        if states:
            sql += f" WHERE state IN ({', '.join('?' for _ in states)})"
            args.extend(states)
        sql += " ORDER BY seq DESC" if limit else " ORDER BY seq"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        rows = self.conn.execute(sql, args).fetchall()
        if limit:
            rows.reverse()
        return [_entry(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """Ops per state (queued, sent) and per outcome of the settled ones."""
        out: dict[str, int] = {}
        for state, outcome, n in self.conn.execute(
            "SELECT state, outcome, count(*) FROM outbox GROUP BY state, outcome"
        ):
            key = str(outcome) if outcome is not None else state
            out[key] = out.get(key, 0) + int(n)
        return out

    # -- replica -----------------------------------------------------------------------------

    def record(self, entity: str, record_id: uuid.UUID) -> Record | None:
        row = self.conn.execute(
            "SELECT * FROM replica WHERE entity = ? AND record_id = ?", (entity, str(record_id))
        ).fetchone()
        return None if row is None else self._record(row)

    def records(self, entity: str | None = None, *, include_deleted: bool = False) -> list[Record]:
        sql = "SELECT * FROM replica WHERE 1 = 1"
        args: list[Any] = []
        if entity is not None:
            sql += " AND entity = ?"
            args.append(entity)
        if not include_deleted:
            sql += " AND deleted = 0"
        rows = self.conn.execute(sql + " ORDER BY entity, record_id", args).fetchall()
        return [self._record(row) for row in rows]

    def _record(self, row: sqlite3.Row) -> Record:
        dirty = self.conn.execute(
            "SELECT 1 FROM outbox WHERE entity = ? AND record_id = ?"
            " AND state IN ('queued', 'sent') LIMIT 1",
            (row["entity"], row["record_id"]),
        ).fetchone()
        return Record(
            entity=row["entity"],
            record_id=uuid.UUID(row["record_id"]),
            version=row["version"],
            scope=row["scope"],
            data=json.loads(row["data"]),
            deleted=bool(row["deleted"]),
            dirty=dirty is not None,
        )

    def apply_page(self, page: PullResponse, *, fail_after: int | None = None) -> int:
        """Apply a pulled page and keep its cursor in one transaction; returns changes applied.

        Applying is idempotent: a change older than what the replica holds is skipped, so a
        page seen twice (the answer was lost, the device crashed) changes nothing the second time.
        `fail_after` is for crash tests: raise after that many changes, inside the transaction.
        """
        applied = 0
        with self.transaction() as conn:
            dirty = conn.execute(
                "SELECT 1 FROM outbox WHERE state IN ('queued', 'sent') LIMIT 1"
            ).fetchone()
            for scope in page.dropped_scopes:
                conn.execute("DELETE FROM replica WHERE scope = ?", (scope,))
            for n, change in enumerate(page.changes):
                if fail_after is not None and n >= fail_after:
                    raise RuntimeError("simulated crash while applying a page")
                if _apply_change(conn, change):
                    applied += 1
                    if dirty is not None:
                        _refresh(conn, change.entity, str(change.record_id))
            _set_meta(
                conn,
                {"cursor": page.cursor, "last_pull_at": page.server_time.isoformat()},
            )
        return applied

    # -- attachments -------------------------------------------------------------------------

    def add_attachment(self, sha256: str, content: bytes) -> Attachment:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO attachment (sha256, size, content, added_at)"
                " VALUES (?, ?, ?, ?)",
                (sha256, len(content), content, datetime.now(UTC).isoformat()),
            )
        found = self.attachment(sha256)
        assert found is not None
        return found

    def attachment(self, sha256: str) -> Attachment | None:
        row = self.conn.execute(
            "SELECT sha256, size, received, complete FROM attachment WHERE sha256 = ?", (sha256,)
        ).fetchone()
        if row is None:
            return None
        return Attachment(row[0], int(row[1]), int(row[2]), bool(row[3]))

    def attachments(self, *, incomplete_only: bool = True) -> list[Attachment]:
        sql = "SELECT sha256, size, received, complete FROM attachment"
        if incomplete_only:
            sql += " WHERE complete = 0"
        rows = self.conn.execute(sql + " ORDER BY added_at, sha256").fetchall()
        return [Attachment(r[0], int(r[1]), int(r[2]), bool(r[3])) for r in rows]

    def chunk(self, sha256: str, offset: int, size: int) -> bytes:
        row = self.conn.execute(
            "SELECT substr(content, ?, ?) FROM attachment WHERE sha256 = ?",
            (offset + 1, size, sha256),
        ).fetchone()
        return bytes(row[0]) if row is not None and row[0] is not None else b""

    def attachment_progress(self, sha256: str, received: int, complete: bool) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE attachment SET received = ?, complete = ? WHERE sha256 = ?",
                (received, int(complete), sha256),
            )


# -- helpers, all inside a caller's transaction -----------------------------------------------


@contextmanager
def _tx(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _set_meta(conn: sqlite3.Connection, values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


def _op(row: sqlite3.Row) -> Op:
    return Op(
        op_id=uuid.UUID(row["op_id"]),
        seq=row["seq"],
        entity=row["entity"],
        record_id=uuid.UUID(row["record_id"]),
        kind=OpKind(row["kind"]),
        base_version=row["base_version"],
        fields=json.loads(row["fields"]),
        device_time=datetime.fromisoformat(row["device_time"]),
    )


def _entry(row: sqlite3.Row) -> OutboxEntry:
    return OutboxEntry(
        op=_op(row),
        state=row["state"],
        attempts=row["attempts"],
        result=None if row["result"] is None else OpResult.model_validate_json(row["result"]),
        settled_at=None if row["settled_at"] is None else datetime.fromisoformat(row["settled_at"]),
    )


def _confirm(conn: sqlite3.Connection, op: Op, version: int, *, merged: bool = False) -> None:
    """The server applied `op` as `version`: move the record's base there, never backwards.

    A `merged` answer's version also holds other writers' changes that the device has not
    seen: the base keeps its version (with the op's fields on it, so that the device still
    shows them) until a pull brings the whole record. Based on the merged version, the
    device's next edit would overwrite those changes unseen; based on the old one, the server
    finds them and answers a conflict (it never counts the device's own versions as rivals).
    """
    row = conn.execute(
        "SELECT version, base, base_deleted, scope FROM replica WHERE entity = ? AND record_id = ?",
        (op.entity, str(op.record_id)),
    ).fetchone()
    if row is not None and row["version"] is not None and row["version"] >= version:
        return  # a pull already showed this version or a later one: the server's whole record
    base: dict[str, Any] = {} if row is None or row["base"] is None else json.loads(row["base"])
    deleted = False
    if op.kind is OpKind.create:
        base = {**op.fields, "id": str(op.record_id)}
    elif op.kind is OpKind.update:
        base.update(op.fields)
        base.setdefault("id", str(op.record_id))
    else:
        deleted = True
    if merged and row is not None and row["base"] is not None:
        version = row["version"]
    conn.execute(
        "INSERT INTO replica (entity, record_id, version, scope, base, base_deleted, data, deleted)"
        " VALUES (?, ?, ?, NULL, ?, ?, ?, ?)"
        " ON CONFLICT (entity, record_id) DO UPDATE SET version = excluded.version,"
        " base = excluded.base, base_deleted = excluded.base_deleted",
        (
            op.entity,
            str(op.record_id),
            version,
            _dumps(base),
            int(deleted),
            _dumps(base),
            int(deleted),
        ),
    )


def _apply_change(conn: sqlite3.Connection, change: Change) -> bool:
    """One pulled change into the replica's base; False when the replica already has newer."""
    entity, rid = change.entity, str(change.record_id)
    row = conn.execute(
        "SELECT version FROM replica WHERE entity = ? AND record_id = ?", (entity, rid)
    ).fetchone()
    if row is not None and row["version"] is not None and row["version"] > change.version:
        return False
    if change.kind is ChangeKind.exit:
        conn.execute("DELETE FROM replica WHERE entity = ? AND record_id = ?", (entity, rid))
        return True
    deleted = change.kind is ChangeKind.delete
    if change.data is not None:
        data = _dumps(change.data)
    else:  # a tombstone without data keeps the last data the device had
        old = conn.execute(
            "SELECT base FROM replica WHERE entity = ? AND record_id = ?", (entity, rid)
        ).fetchone()
        data = old["base"] if old is not None and old["base"] is not None else _dumps({"id": rid})
    conn.execute(
        "INSERT INTO replica (entity, record_id, version, scope, base, base_deleted, data, deleted)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (entity, record_id) DO UPDATE SET version = excluded.version,"
        " scope = excluded.scope, base = excluded.base, base_deleted = excluded.base_deleted,"
        " data = excluded.data, deleted = excluded.deleted",
        (entity, rid, change.version, change.scope, data, int(deleted), data, int(deleted)),
    )
    return True


def _refresh(conn: sqlite3.Connection, entity: str, record_id: str) -> None:
    """Recompute what the device shows for one record: its base, then its unanswered ops."""
    row = conn.execute(
        "SELECT base, base_deleted FROM replica WHERE entity = ? AND record_id = ?",
        (entity, record_id),
    ).fetchone()
    has_base = row is not None and row["base"] is not None
    data: dict[str, Any] = json.loads(row["base"]) if has_base else {}
    deleted = bool(row["base_deleted"]) if has_base else False
    ops = conn.execute(
        "SELECT kind, fields FROM outbox WHERE entity = ? AND record_id = ?"
        " AND state IN ('queued', 'sent') ORDER BY seq",
        (entity, record_id),
    ).fetchall()
    if not has_base and not ops:
        conn.execute("DELETE FROM replica WHERE entity = ? AND record_id = ?", (entity, record_id))
        return
    for op in ops:
        fields = json.loads(op["fields"])
        if op["kind"] == OpKind.create.value:
            data, deleted = {**data, **fields, "id": record_id}, False
        elif op["kind"] == OpKind.update.value:
            data.update(fields)
        else:
            deleted = True
    data.setdefault("id", record_id)
    conn.execute(
        "INSERT INTO replica (entity, record_id, data, deleted) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (entity, record_id) DO UPDATE SET data = excluded.data,"
        " deleted = excluded.deleted",
        (entity, record_id, _dumps(data), int(deleted)),
    )
