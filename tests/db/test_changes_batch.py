"""`changes.batch`: the commits inside a batch (a sync push's per-op savepoints) hold their
changes, which reach the feed together at the batch's own commit, or never if it fails."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from backend import changes
from tests.db.test_changes import feed_rows, last_seq, new_organisation, rename


def test_commits_inside_a_batch_reach_the_feed_only_at_the_commit_after_it(
    session: Session,
) -> None:
    first, second = new_organisation(session), new_organisation(session)
    before = last_seq(session)
    with changes.batch(session):
        rename(session, first, "First in batch")
        session.commit()
        rename(session, second, "Second in batch")
        session.commit()
        assert last_seq(session) == before
    session.commit()
    [(_, v1, seq1, d1)] = feed_rows(session, first.id)
    [(_, v2, seq2, d2)] = feed_rows(session, second.id)
    assert (v1, d1["name"], v2, d2["name"]) == (2, "First in batch", 2, "Second in batch")
    assert sorted([seq1, seq2]) == [before + 1, before + 2]


def test_a_record_changed_by_two_commits_of_a_batch_is_published_once_at_its_last_state(
    session: Session,
) -> None:
    org = new_organisation(session)
    before = last_seq(session)
    with changes.batch(session):
        rename(session, org, "Op one")
        session.commit()
        rename(session, org, "Op two")
        session.commit()
    session.commit()
    [(_, version, seq, data)] = feed_rows(session, org.id)
    assert (version, data["name"], seq) == (3, "Op two", before + 1)


def test_a_rolled_back_op_inside_a_batch_drops_only_its_own_changes(session: Session) -> None:
    kept, refused = new_organisation(session), new_organisation(session)
    with changes.batch(session):
        rename(session, kept, "Kept op")
        session.commit()
        rename(session, refused, "Refused op")
        session.rollback()
    session.commit()
    assert [(r[1], r[3]["name"]) for r in feed_rows(session, kept.id)] == [(2, "Kept op")]
    assert [r[1] for r in feed_rows(session, refused.id)] == [1]


def test_a_batch_that_raises_hands_over_nothing(session: Session) -> None:
    org = new_organisation(session)
    before = last_seq(session)
    with pytest.raises(RuntimeError, match="the push failed"), changes.batch(session):
        rename(session, org, "Lost with the batch")
        session.commit()
        raise RuntimeError("the push failed")
    session.commit()
    assert last_seq(session) == before
    assert [r[1] for r in feed_rows(session, org.id)] == [1]
