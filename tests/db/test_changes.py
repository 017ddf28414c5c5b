"""The unit of work (backend/changes.py): what a transaction changed reaches the feed at its
commit, once per record, and nothing of a rolled-back savepoint or transaction does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend import changes
from backend.auth.models import Role
from backend.registry import service
from backend.registry.models import Organisation, OrganisationKind
from backend.registry.schemas import OrganisationCreate
from offline_sync.server.tables import SyncChange
from tests.conftest import actor


def feed_rows(session: Session, record_id: uuid.UUID) -> list[tuple[str, int, int, Any]]:
    """(scope, version, seq, data) of a record's feed rows."""
    rows = session.execute(
        select(
            col(SyncChange.scope), col(SyncChange.version), col(SyncChange.seq), SyncChange.data
        ).where(col(SyncChange.record_id) == record_id)
    ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def last_seq(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(SyncChange.seq), 0))) or 0)


def new_organisation(session: Session) -> Organisation:
    admin = actor(session, Role.admin)
    return service.create_organisation(
        session=session,
        principal=admin,
        props=OrganisationCreate(
            name=f"Unit of work test {uuid.uuid4().hex[:8]}",
            kind=OrganisationKind.exporter,
            country_code="SL",
        ),
    )


def rename(session: Session, org: Organisation, name: str) -> None:
    org.name = name
    org.version += 1
    session.flush()
    changes.changed(session, org)


def test_a_created_record_is_in_the_feed_after_its_commit(session: Session) -> None:
    org = new_organisation(session)
    [(scope, version, _, data)] = feed_rows(session, org.id)
    assert (scope, version, data["name"]) == ("national", 1, org.name)


def test_a_change_reaches_the_feed_at_commit_not_before(session: Session) -> None:
    org = new_organisation(session)
    before = feed_rows(session, org.id)
    rename(session, org, "Renamed before commit")
    assert feed_rows(session, org.id) == before
    session.commit()
    [(_, version, seq, data)] = feed_rows(session, org.id)
    assert (version, data["name"]) == (2, "Renamed before commit")
    assert seq > before[0][2]


def test_a_record_changed_twice_in_one_commit_is_published_once_at_its_last_state(
    session: Session,
) -> None:
    org = new_organisation(session)
    start = last_seq(session)
    rename(session, org, "First name")
    rename(session, org, "Second name")
    session.commit()
    [(_, version, seq, data)] = feed_rows(session, org.id)
    assert (version, data["name"], seq) == (3, "Second name", start + 1)


def test_a_change_made_in_a_rolled_back_savepoint_never_reaches_the_feed(
    session: Session,
) -> None:
    org = new_organisation(session)
    before = feed_rows(session, org.id)
    savepoint = session.begin_nested()
    rename(session, org, "Rolled back")
    savepoint.rollback()
    session.commit()
    assert feed_rows(session, org.id) == before


def test_a_change_made_in_a_released_savepoint_is_published_with_its_transaction(
    session: Session,
) -> None:
    org = new_organisation(session)
    savepoint = session.begin_nested()
    rename(session, org, "Kept")
    savepoint.commit()
    session.commit()
    [(_, version, _, data)] = feed_rows(session, org.id)
    assert (version, data["name"]) == (2, "Kept")


def test_a_rolled_back_transaction_forgets_its_changes(session: Session) -> None:
    org = new_organisation(session)
    other = new_organisation(session)
    rename(session, org, "Never committed")
    session.rollback()
    session.refresh(other)
    rename(session, other, "Committed")
    session.commit()
    assert [r[1] for r in feed_rows(session, org.id)] == [1]
    assert [(r[1], r[3]["name"]) for r in feed_rows(session, other.id)] == [(2, "Committed")]


@dataclass
class NotSyncable:
    id: uuid.UUID


def test_an_unregistered_type_is_refused_where_it_is_named(session: Session) -> None:
    with pytest.raises(TypeError, match="NotSyncable is not syncable"):
        changes.changed(session, NotSyncable(uuid.uuid4()))


def test_a_record_created_as_a_plain_row_and_changed_through_another_object_is_published_at_its_last_state(  # noqa: E501
    session: Session,
) -> None:
    """A sync push writes creates as a set of plain objects; a later op of the same push reads
    the record again as another object. The feed gets the later object's state."""
    admin = actor(session, Role.admin)
    row = Organisation(name="Written as a set", kind=OrganisationKind.exporter, country_code="SL")
    before = last_seq(session)
    with changes.batch(session):
        service.insert_many(session=session, principal=admin, entity="organisation", rows=[row])
        assert row not in session  # written by Core: a plain object
        again = session.get(Organisation, row.id)
        assert again is not None and again is not row
        rename(session, again, "Renamed after")
        session.commit()
    session.commit()
    [(_, version, seq, data)] = feed_rows(session, row.id)
    assert (version, data["name"]) == (2, "Renamed after") and seq > before
