"""The prepared-boundary cache: one copy per thread, reloaded when the boundary's version moves."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import Session

from backend.registry import placement
from backend.registry.placement import boundary_of, jurisdiction


def test_a_thread_reuses_its_prepared_boundary_and_never_shares_it_with_another(
    session: Session,
) -> None:
    kono = jurisdiction(session, "SL-E-KO")
    assert kono is not None
    first = boundary_of(session, kono)
    assert first is not None
    assert boundary_of(session, kono) is first

    def other_thread() -> object:
        # The cache is per thread: a miss here reads from a session of the same connection.
        return boundary_of(session, kono)

    with ThreadPoolExecutor(max_workers=1) as pool:
        theirs = pool.submit(other_thread).result()
    assert theirs is not None and theirs is not first
    assert theirs.equals(first)


def test_a_new_boundary_version_is_read_again_not_served_from_the_cache(
    session: Session,
) -> None:
    kono = jurisdiction(session, "SL-E-KO")
    assert kono is not None
    before = boundary_of(session, kono)
    kono.version += 1  # what any process's boundary edit does
    after = boundary_of(session, kono)
    assert after is not before
    assert len(placement._PREPARED.shapes) <= placement._PREPARED_MAX
