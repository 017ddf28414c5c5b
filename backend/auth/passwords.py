"""Password hashing with argon2id, with a bounded number of hashes running at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so timing does not reveal usernames.
_DUMMY = _hasher.hash("not a password of anyone")

MIN_LENGTH = 10


class HashingBusy(Exception):
    """Every hashing slot stayed taken for the whole wait."""


# One semaphore per slot count, per process: a bound on local CPU, not shared state, so
# worker processes need not agree on it. Created under a lock (requests run in threads).
_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


@contextmanager
def hashing_slot(size: int, wait_seconds: float) -> Iterator[None]:
    """Hold one of `size` hashing slots, waiting at most `wait_seconds` for it."""
    with _slots_lock:
        slots = _slots.setdefault(size, threading.BoundedSemaphore(size))
    if not slots.acquire(timeout=wait_seconds):
        raise HashingBusy
    try:
        yield
    finally:
        slots.release()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
