"""The unit of work: which syncable records a transaction changed, handed over at its commit.

Below the domain. Features register their syncable types here (`register`), and reactions to
changes (`react`); their use cases say what they changed (`changed`, `created`); a publisher
(the sync layer, `backend/sync/feed.py`) subscribes and receives, at each commit, every change
of the transaction once, in order. Nothing here knows the sync feed, and the domain never
imports it.

Changes follow the session's transactions: those made in a savepoint that rolls back are
dropped, those of a released savepoint join its parent, those of a rolled-back transaction
are forgotten.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

# Feed scopes a record can belong to (who pulls which: backend/sync/scope.py).
NATIONAL = "national"
# Every miner and site again, for buyers and exporters: they name both in a purchase logged
# offline (miners reach them redacted to name and licence numbers).
TRADE = "trade"


def district(code: str) -> str:
    return f"district:{code}"


def organisation(org_id: object) -> str:
    return f"org:{org_id}"


def miner(miner_id: object) -> str:
    return f"miner:{miner_id}"


Presented = tuple[str, dict[str, Any]]  # (scope, record as devices receive it)


@dataclass(frozen=True)
class Syncable:
    """How one model's rows reach devices.

    `present` gives (scope, data) for each row, in order, for many rows at once (a feature
    may batch its look-ups); `mirrors` are scopes that repeat every record beside its own;
    `also` names other rows whose published form this row's change alters.
    """

    entity: str
    present: Callable[[Session, list[Any]], list[Presented]]
    mirrors: tuple[str, ...] = ()
    also: Callable[[Session, Any], list[Any]] | None = None


SYNCABLES: dict[type, Syncable] = {}
Reaction = Callable[[Session, list[Any]], None]
REACTIONS: list[Reaction] = []


def register(model: type, syncable: Syncable) -> None:
    """Declare `model` syncable (features call this at import; idempotent)."""
    SYNCABLES[model] = syncable


def react(reaction: Reaction) -> None:
    """Run `reaction(session, rows)` on the changed rows of each commit, before they publish.

    A reaction may change more rows (and say so); those are handed over in the same commit.
    """
    if reaction not in REACTIONS:
        REACTIONS.append(reaction)


def syncable(row: Any) -> Syncable:
    found = SYNCABLES.get(type(row))
    if found is None:
        raise TypeError(f"{type(row).__name__} is not syncable")
    return found


@dataclass(frozen=True)
class Change:
    row: Any
    new: bool  # just created: nothing published for it before


@dataclass
class _Pending:
    by_transaction: dict[SessionTransaction, list[Change]] = field(default_factory=dict)
    committing: bool = False
    released: SessionTransaction | None = None  # the savepoint whose release is under way
    held: list[Change] | None = None  # a batch's committed changes, handed over at its end


_PENDING: weakref.WeakKeyDictionary[Session, _Pending] = weakref.WeakKeyDictionary()
Publisher = Callable[[Session, list[Change]], None]
_PUBLISHERS: list[Publisher] = []


def subscribe(publisher: Publisher) -> None:
    """The sync layer's hook: `publisher(session, changes)` at each commit that has changes."""
    if publisher not in _PUBLISHERS:
        _PUBLISHERS.append(publisher)


def _innermost(session: Session) -> SessionTransaction:
    nested = session.get_nested_transaction()
    if nested is not None:
        return nested
    root = session.get_transaction()
    if root is None:
        root = session.begin()
    return root


def _mark(session: Session, rows: Iterable[Any], new: bool) -> None:
    entries = [Change(row, new) for row in rows]
    for entry in entries:
        syncable(entry.row)  # refuse an unregistered type where it is named, not at commit
    if entries:
        pending = _PENDING.setdefault(session, _Pending())
        pending.by_transaction.setdefault(_innermost(session), []).extend(entries)


def changed(session: Session, *rows: Any) -> None:
    """`rows` (syncable) were created, updated or soft-deleted in this transaction."""
    _mark(session, rows, new=False)


def created(session: Session, rows: Iterable[Any]) -> None:
    """`rows` were just created together: nothing was ever published for them."""
    _mark(session, rows, new=True)


def _key(row: Any) -> tuple[type, uuid.UUID]:
    return type(row), row.id


def take(session: Session) -> list[Change]:
    """The root transaction's changes so far, each row once: at its first mention, with its
    last mention's object (a row written as a set is a plain object, and a later use case reads
    it again as another one), new only if every mention was a creation."""
    pending = _PENDING.get(session)
    if pending is None:
        return []
    root = session.get_transaction()
    entries = pending.by_transaction.pop(root, []) if root is not None else []
    seen: dict[tuple[type, uuid.UUID], int] = {}
    out: list[Change] = []
    for entry in entries:
        at = seen.get(_key(entry.row))
        if at is None:
            seen[_key(entry.row)] = len(out)
            out.append(entry)
        else:
            out[at] = Change(entry.row, new=out[at].new and entry.new)
    return out


@contextmanager
def batch(session: Session) -> Iterator[None]:
    """Hold the changes of every commit inside, and hand them over together at the first commit
    after the block (the batch's own): one publish per batch, not one per use case.

    For a caller whose session commits stand for savepoints of one outer transaction (a sync
    push). If the block raises, what it held is dropped with the outer transaction.
    """
    pending = _PENDING.setdefault(session, _Pending())
    if pending.held is not None:
        yield  # already inside a batch: its end hands everything over
        return
    pending.held = []
    try:
        yield
    except BaseException:
        pending.held = None
        raise
    held, pending.held = pending.held, None
    if held:
        current = pending.by_transaction.setdefault(_innermost(session), [])
        current[:0] = held


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint's release: its changes join the parent when it ends
    pending = _PENDING.get(session)
    if pending is None or pending.committing:
        return
    if pending.held is not None:
        pending.held.extend(take(session))  # published at the batch's end (`batch`)
        return
    pending.committing = True
    try:
        while True:
            batch = take(session)
            if not batch:
                return
            if not _PUBLISHERS:
                raise RuntimeError(
                    "syncable records changed but no publisher is subscribed "
                    "(import backend.sync.feed)"
                )
            # Rows a reaction changes come round in the next pass (and meet the reactions too).
            for reaction in REACTIONS:
                reaction(session, [c.row for c in batch])
            for publisher in _PUBLISHERS:
                publisher(session, batch)
    finally:
        pending.committing = False


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = _PENDING.get(session)
    if pending is not None:
        pending.released = session.get_nested_transaction()


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    pending = _PENDING.get(session)
    if pending is None:
        return
    entries = pending.by_transaction.pop(transaction, [])
    released = pending.released is transaction
    pending.released = None
    if released and transaction.parent is not None and entries:
        pending.by_transaction.setdefault(transaction.parent, []).extend(entries)
