"""Server-made identifiers: time-ordered UUIDv7 (RFC 9562) so inserts stay index-friendly."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0
# Random bytes from the OS read 4 KiB at a time (one system call per 512 ids, not one per id),
# and dropped in a forked child so that no two processes hand out the same ones.
_POOL_BYTES = 4096
_pool = b""
_pool_at = 0


def _drop_pool() -> None:
    global _pool, _pool_at
    _pool, _pool_at = b"", 0


os.register_at_fork(after_in_child=_drop_pool)


def _made(value: int) -> uuid.UUID:
    """`uuid.UUID(int=value)` for a value known to be a UUID, without re-checking it."""
    made = object.__new__(uuid.UUID)
    object.__setattr__(made, "int", value)
    object.__setattr__(made, "is_safe", uuid.SafeUUID.unknown)
    return made


def uuid7() -> uuid.UUID:
    """A UUIDv7: 48-bit Unix milliseconds, then a 12-bit counter ordering ids within one ms."""
    global _last_ms, _counter, _pool, _pool_at
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = 0
        counter = _counter
        if _pool_at + 8 > len(_pool):
            _pool, _pool_at = os.urandom(_POOL_BYTES), 0
        random_bytes = _pool[_pool_at : _pool_at + 8]
        _pool_at += 8
    rand = int.from_bytes(random_bytes, "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand
    return _made(value)
