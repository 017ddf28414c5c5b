"""`offline_sync.server.feed.publish_many` writes what `publish` writes record by record: the
same rows in the same scopes, exits where a record left, positions in the same order."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from offline_sync.protocol import ChangeKind
from offline_sync.server import feed
from offline_sync.server.tables import SyncChange

IDS = [uuid.uuid4() for _ in range(4)]
FIRST = [  # (record, scopes, kind, version, data): the state before
    (IDS[0], ("district:KONO", "trade"), ChangeKind.upsert, 1, {"n": 1}),
    (IDS[1], ("district:KONO",), ChangeKind.upsert, 1, {"n": 2}),
    (IDS[2], ("national",), ChangeKind.upsert, 1, {"n": 3}),
]
THEN = [  # moved district (an exit), deleted, unchanged scope, and one never published
    (IDS[0], ("district:KENEMA", "trade"), ChangeKind.upsert, 2, {"n": 10}),
    (IDS[1], ("district:KONO",), ChangeKind.delete, 2, None),
    (IDS[2], ("national",), ChangeKind.upsert, 2, {"n": 30}),
    (IDS[3], ("district:BO", "trade"), ChangeKind.upsert, 1, {"n": 4}),
]


def one_by_one(session: Session, entity: str, records: list[Any]) -> None:
    for record_id, scopes, kind, version, data in records:
        feed.publish(
            session,
            entity=entity,
            record_id=record_id,
            scope=scopes[0],
            also=scopes[1:],
            kind=kind,
            version=version,
            data=data,
        )


def together(session: Session, entity: str, records: list[Any]) -> None:
    feed.publish_many(session, [feed.Publication(entity, *r) for r in records])


def rows_of(session: Session, entity: str) -> list[tuple[Any, ...]]:
    """The entity's feed rows in position order, without the positions themselves."""
    return [
        tuple(r)
        for r in session.execute(
            select(
                col(SyncChange.record_id),
                col(SyncChange.scope),
                col(SyncChange.kind),
                col(SyncChange.version),
                SyncChange.data,
            )
            .where(col(SyncChange.entity) == entity)
            .order_by(col(SyncChange.seq))
        )
    ]


def test_publish_many_leaves_the_rows_publish_leaves_one_record_at_a_time(
    session: Session,
) -> None:
    one_by_one(session, "probe_single", FIRST)
    one_by_one(session, "probe_single", THEN)
    one_by_one(session, "probe_many", FIRST)
    together(session, "probe_many", THEN)
    single, many = rows_of(session, "probe_single"), rows_of(session, "probe_many")
    assert many == single
    assert (IDS[0], "district:KONO", "exit", 2, None) in many
    assert (IDS[1], "district:KONO", "delete", 2, None) in many


def test_publish_many_takes_positions_after_every_earlier_one(session: Session) -> None:
    one_by_one(session, "probe_order", FIRST)
    session.commit()
    before = session.scalar(
        select(col(SyncChange.seq)).order_by(col(SyncChange.seq).desc()).limit(1)
    )
    together(session, "probe_order", THEN)
    seqs = session.scalars(
        select(col(SyncChange.seq)).where(col(SyncChange.entity) == "probe_order")
    ).all()
    assert before is not None
    assert sorted(s for s in seqs if s > before) == list(range(before + 1, before + 8))


def test_publish_many_refuses_a_record_named_twice(session: Session) -> None:
    twice = [feed.Publication("probe_twice", *THEN[2]), feed.Publication("probe_twice", *THEN[2])]
    with pytest.raises(ValueError, match="each record once"):
        feed.publish_many(session, twice)
