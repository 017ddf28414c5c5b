"""The publisher: at each commit, the unit of work's changed records go to the change feed.

Features say how their rows look (`backend.changes.register`); this module reads that registry
and writes the feed rows (offline_sync.server.feed), so REST and sync writes both reach devices
and the domain never imports sync.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend import changes
from backend.api.jsonio import encoded
from backend.changes import Change
from backend.registry.syncable import FULL_VIEW, flat
from offline_sync.protocol import ChangeKind
from offline_sync.server import feed
from offline_sync.server.sqltypes import JSONText
from offline_sync.server.tables import SyncChange

__all__ = ["FULL_VIEW", "flat", "publish_changes", "record_data"]


def record_data(session: Session, row: Any) -> tuple[str, str, dict[str, Any]]:
    """(entity, scope, data) of a syncable row as devices receive it."""
    found = changes.syncable(row)
    scope, data = found.present(session, [row])[0]
    return found.entity, scope, data


def _with_also(session: Session, batch: list[Change]) -> list[Change]:
    """The batch plus the rows whose published form a change alters (each row once)."""
    keys = {(type(c.row), c.row.id) for c in batch}
    out: list[Change] = []
    for c in batch:
        out.append(c)
        also = changes.syncable(c.row).also
        for other in also(session, c.row) if also is not None else []:
            if (type(other), other.id) not in keys:
                keys.add((type(other), other.id))
                out.append(Change(other, new=False))
    return out


def _present(session: Session, rows: list[Any]) -> list[changes.Presented]:
    """Each row's (scope, data), one `present` call per type."""
    by_type: dict[type, list[int]] = {}
    for i, row in enumerate(rows):
        by_type.setdefault(type(row), []).append(i)
    out: list[changes.Presented | None] = [None] * len(rows)
    for model, positions in by_type.items():
        presented = changes.SYNCABLES[model].present(session, [rows[i] for i in positions])
        for i, p in zip(positions, presented, strict=True):
            out[i] = p
    return [p for p in out if p is not None]


def publish_changes(session: Session, batch: list[Change]) -> None:
    """Publish a commit's changes as sets: new records in one insert, the others moved together
    (`offline_sync.server.feed.publish_many`: one read, one executemany, one insert)."""
    batch = _with_also(session, batch)
    presented = _present(session, [c.row for c in batch])
    new: list[tuple[str, uuid.UUID, tuple[str, ...], int, dict[str, Any] | JSONText | None]] = []
    moved: list[feed.Publication] = []
    for c, (scope, data) in zip(batch, presented, strict=True):
        found = changes.syncable(c.row)
        scopes = (scope, *found.mirrors)
        if c.new:
            new.append((found.entity, c.row.id, scopes, c.row.version, encoded(data)))
            continue
        deleted = getattr(c.row, "deleted_at", None) is not None
        moved.append(
            feed.Publication(
                entity=found.entity,
                record_id=c.row.id,
                scopes=scopes,
                kind=ChangeKind.delete if deleted else ChangeKind.upsert,
                version=c.row.version,
                data=None if deleted else encoded(data),
            )
        )
    feed.publish_many(session, moved)
    if new:
        feed.publish_new(session, new)


_LAST_SEQ = select(func.max(SyncChange.seq))  # the primary key's last entry: one index probe


def position(session: Session) -> int:
    """The feed's last position. Every commit that publishes moves it on, in commit order, so
    it is the validator of pages cached by readers (`backend.api.pagecache`)."""
    return int(session.connection().execute(_LAST_SEQ).scalar() or 0)


changes.subscribe(publish_changes)
