"""Encoded list pages kept in each worker process, served again only while the data is unchanged.

A page is stored under the exact URL it answered (its links echo it), the method, and the
reader's scope: the role (which decides redaction) and everything the list queries filter on
(the districts granted, the organisation). Each entry carries the *validator* read just before
the page was computed: the change feed's position (`backend.sync.feed.position`), which every
committed write to a listed record or to anything shown beside it moves, in commit order
(REST, sync, custody events and deletes all publish to the feed in the same transaction).

Every request still authenticates, then reads the validator again (one indexed query); an
entry is served only if the validator is the same, so a write committed by any process is seen
by the next read in every process. The page is computed after its validator is read, so it
shows at least that state; if a write lands in between, the validator has moved on and the
entry is never served. Nothing is shared between processes, nothing expires by time, and
memory is bounded by the bytes held (least recently used goes first).

The body is kept encoded, and gzip-encoded the way `GZipMiddleware` would (same level, same
framing, so the same bytes) for readers that accept gzip; the middleware passes an
already-encoded answer through untouched.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from backend.auth.principal import Principal

# The application's GZipMiddleware settings (backend/app.py uses these).
GZIP_MIN_SIZE = 1024
GZIP_LEVEL = 6

Validator = Callable[[Session], int]
# A reader waiting for another request to make the same page waits this long at most, then
# makes it itself.
FOLLOW_WAIT_S = 5.0


def gzip_encode(body: bytes) -> bytes:
    """The body as GZipMiddleware encodes it (zlib's gzip framing: no name, no time)."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(body) + compressor.flush()


def accepts_gzip(request: Request) -> bool:
    # The same test GZipMiddleware makes, so both paths answer the same client the same way.
    return "gzip" in request.headers.get("accept-encoding", "")


@dataclass(frozen=True)
class Entry:
    validator: int
    media_type: str
    body: bytes
    gzipped: bytes | None

    @property
    def size(self) -> int:
        return len(self.body) + (len(self.gzipped) if self.gzipped is not None else 0)


def scope_key(request: Request, principal: Principal) -> tuple[Hashable, ...]:
    """What a list page's bytes depend on besides the data: URL, method and who reads it."""
    return (
        request.method,
        str(request.url),
        principal.role.value,
        tuple(sorted(principal.districts)),
        principal.organisation_id,
    )


class PageCache:
    """One process's encoded pages, LRU-bounded by bytes; thread-safe (handlers run in a pool)."""

    def __init__(self, max_bytes: int, validator: Validator) -> None:
        self.max_bytes = max_bytes
        self.validator = validator
        self._entries: OrderedDict[tuple[Hashable, ...], Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # Pages being made now: (validator, set when done), so concurrent misses make one.
        self._making: dict[tuple[Hashable, ...], tuple[int, threading.Event]] = {}
        self.hits = 0
        self.misses = 0

    @property
    def bytes_held(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def serve(
        self,
        session: Session,
        request: Request,
        principal: Principal,
        compute: Callable[[], Response],
    ) -> Response:
        """The stored page if the data is unchanged since it was made, else `compute()`'s.

        Right after a write, every reader of a page misses at once; one of them makes it and
        the others (same page, same validator) wait for it rather than make it again.
        """
        key = scope_key(request, principal)
        current = self.validator(session)
        gzip = accepts_gzip(request)
        entry = self._get(key, current)
        if entry is not None:
            return self._answer(entry, gzip)
        leader, done = self._claim(key, current)
        if not leader:
            done.wait(FOLLOW_WAIT_S)
            entry = self._get(key, current)
            if entry is not None:
                return self._answer(entry, gzip)
        try:
            with self._lock:
                self.misses += 1
            response = compute()
            entry = self._entry_of(response, current)
            if entry is None:
                return response
            self._put(key, entry)
            return self._answer(entry, gzip)
        finally:
            if leader:
                self._release(key, current, done)

    def _claim(self, key: tuple[Hashable, ...], validator: int) -> tuple[bool, threading.Event]:
        """(True, event) if this request makes the page; (False, event to wait on) if another
        request is making the same page for the same validator already."""
        with self._lock:
            running = self._making.get(key)
            if running is not None and running[0] == validator:
                return False, running[1]
            done = threading.Event()
            if running is None or running[0] < validator:
                self._making[key] = (validator, done)
            return True, done

    def _release(self, key: tuple[Hashable, ...], validator: int, done: threading.Event) -> None:
        with self._lock:
            if self._making.get(key) == (validator, done):
                del self._making[key]
        done.set()

    @staticmethod
    def _entry_of(response: Response, validator: int) -> Entry | None:
        """A storable copy of a plain 200 answer (nothing but its type and length as headers)."""
        if response.status_code != 200 or response.media_type is None:
            return None
        names = {name for name, _ in response.raw_headers}
        if names != {b"content-length", b"content-type"}:
            return None
        body = bytes(response.body)
        # Encoded once, when stored: most readers (devices, browsers) accept gzip.
        gzipped = gzip_encode(body) if len(body) >= GZIP_MIN_SIZE else None
        return Entry(validator, response.media_type, body, gzipped)

    @staticmethod
    def _answer(entry: Entry, gzip: bool) -> Response:
        if not gzip or entry.gzipped is None:
            # GZipMiddleware treats this answer as it treats any other (Vary, no encoding).
            return Response(entry.body, media_type=entry.media_type)
        # Encoded here, so GZipMiddleware passes it through; Vary as it would have set it.
        return Response(
            entry.gzipped,
            media_type=entry.media_type,
            headers={"vary": "Accept-Encoding", "content-encoding": "gzip"},
        )

    def _get(self, key: tuple[Hashable, ...], validator: int) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.validator != validator:
                if entry.validator < validator:  # stale for good: the feed only moves on
                    self._drop(key)
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def _put(self, key: tuple[Hashable, ...], entry: Entry) -> None:
        if entry.size > self.max_bytes // 4:
            return  # one page must not push out everything else
        with self._lock:
            held = self._entries.get(key)
            if held is not None:
                if held.validator > entry.validator:
                    return  # a slower thread's older page never replaces a newer one
                self._drop(key)
            self._entries[key] = entry
            self._bytes += entry.size
            self._shrink()

    def _drop(self, key: tuple[Hashable, ...]) -> None:
        entry = self._entries.pop(key)
        self._bytes -= entry.size

    def _shrink(self) -> None:
        while self._bytes > self.max_bytes and self._entries:
            self._drop(next(iter(self._entries)))
