"""Login throttle state in the database: counts per account and address, a growing lockout."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.orm import Session

from backend.auth import throttle
from backend.clock import utcnow

POLICY = throttle.Policy(account_free=2, address_free=4, first_lock=timedelta(seconds=30))


def _keys(address: str = "192.0.2.7") -> throttle.Keys:
    return throttle.keys_for(f"user-{uuid.uuid4().hex[:8]}", address)


def test_lockout_starts_after_the_free_failures_and_doubles_with_each_further_one(
    session: Session,
) -> None:
    keys, now = _keys(), utcnow()
    waits = []
    for _ in range(5):
        throttle.record_failure(session, keys, now, POLICY)
        waits.append(throttle.retry_after(session, throttle.Keys(keys.account, "address:x"), now))
    assert waits == [None, None, 30, 60, 120]


def test_failures_from_one_address_over_many_accounts_lock_the_address(session: Session) -> None:
    address, now = f"198.51.100.{uuid.uuid4().int % 250}", utcnow()
    for _ in range(5):
        throttle.record_failure(session, _keys(address), now, POLICY)
    fresh_account = _keys(address)
    assert throttle.retry_after(session, fresh_account, now) == 30
    assert throttle.retry_after(session, _keys("203.0.113.9"), now) is None


def test_a_key_quiet_for_the_window_starts_again_and_clearing_resets_the_account(
    session: Session,
) -> None:
    keys, now = _keys(), utcnow()
    for _ in range(3):
        throttle.record_failure(session, keys, now, POLICY)
    assert throttle.retry_after(session, keys, now) == 30
    later = now + timedelta(seconds=30) + POLICY.window + timedelta(seconds=1)
    throttle.record_failure(session, keys, later, POLICY)
    assert throttle.retry_after(session, keys, later) is None
    throttle.record_failure(session, keys, later, POLICY)
    throttle.clear_account(session, keys)
    throttle.record_failure(session, keys, later, POLICY)
    assert throttle.retry_after(session, keys, later) is None


def test_lock_for_is_capped() -> None:
    assert throttle.lock_for(2, 2, POLICY) is None
    assert throttle.lock_for(3, 2, POLICY) == timedelta(seconds=30)
    assert throttle.lock_for(10_000, 2, POLICY) == POLICY.max_lock
