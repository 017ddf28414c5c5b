"""Login throttling: failed logins counted per account and per client address, in the database.

Counts live in `login_throttle` so that every worker process agrees. Only failures count.
After `free` failures a key is locked out; each further failure after a lockout doubles it,
up to a ceiling. A key that stayed quiet for the window starts again from nothing, and a
successful login clears its account's count (not its address's: one good password must not
unlock an address that is guessing others).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlmodel import col, select

from backend.auth.models import LoginThrottle


@dataclass(frozen=True)
class Policy:
    account_free: int = 5
    address_free: int = 50
    first_lock: timedelta = timedelta(seconds=30)
    max_lock: timedelta = timedelta(hours=1)
    window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Keys:
    account: str
    address: str


def keys_for(username: str, address: str | None) -> Keys:
    return Keys(
        account="account:" + username.strip().lower(), address="address:" + (address or "?")
    )


def lock_for(failures: int, free: int, policy: Policy) -> timedelta | None:
    """How long a key with this many failures is locked out; None below the threshold."""
    over = failures - free
    if over <= 0:
        return None
    seconds = policy.first_lock.total_seconds() * 2 ** min(over - 1, 30)
    return timedelta(seconds=min(seconds, policy.max_lock.total_seconds()))


def retry_after(session: Session, keys: Keys, now: datetime) -> int | None:
    """Whole seconds until the later of the two keys' lockouts ends; None if neither is locked."""
    rows = session.scalars(
        select(LoginThrottle).where(col(LoginThrottle.key).in_([keys.account, keys.address]))
    )
    waits = [(r.locked_until - now).total_seconds() for r in rows if r.locked_until is not None]
    longest = max(waits, default=0.0)
    return math.ceil(longest) if longest > 0 else None


def record_failure(session: Session, keys: Keys, now: datetime, policy: Policy) -> None:
    """Count a failed login against the account and the address (row-locked, so workers agree)."""
    for key, free in ((keys.account, policy.account_free), (keys.address, policy.address_free)):
        _ensure_row(session, key, now)
        row = session.scalars(
            select(LoginThrottle).where(col(LoginThrottle.key) == key).with_for_update()
        ).one()
        quiet_since = row.locked_until or row.first_failure_at
        if now - quiet_since > policy.window:
            row.failures, row.first_failure_at, row.locked_until = 0, now, None
        row.failures += 1
        lock = lock_for(row.failures, free, policy)
        row.locked_until = now + lock if lock is not None else None
        session.add(row)
    session.flush()


def clear_account(session: Session, keys: Keys) -> None:
    session.execute(
        update(LoginThrottle)
        .where(col(LoginThrottle.key) == keys.account)
        .values(failures=0, locked_until=None)
    )


def _ensure_row(session: Session, key: str, now: datetime) -> None:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(LoginThrottle)
        .values(key=key, failures=0, first_failure_at=now, locked_until=None)
        .on_conflict_do_nothing(index_elements=["key"])
    )
