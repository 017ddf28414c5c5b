"""The page cache's own bookkeeping: bounded by bytes, least recently used out first, never
an older page over a newer one, and nothing but plain 200 answers stored."""

from __future__ import annotations

import gzip
import threading
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from backend.api.jsonio import JSON
from backend.api.pagecache import GZIP_MIN_SIZE, PageCache, gzip_encode
from backend.auth.models import Role
from backend.auth.principal import Principal

READER = Principal(user_id=uuid.uuid4(), username="reader", role=Role.ministry)


class Feed:
    """A stand-in for the change feed's position, moved by hand."""

    def __init__(self) -> None:
        self.seq = 1

    def __call__(self, session: Any) -> int:
        return self.seq


def request(path: str, *, accept: str = "gzip") -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "server": ("api.example.org", 80),
            "path": path,
            "query_string": b"",
            "headers": [(b"host", b"api.example.org"), (b"accept-encoding", accept.encode())],
        }
    )


def page(size: int, fill: str = "x") -> JSON:
    return JSON({"items": [fill * size]})


def serve(cache: PageCache, path: str, answer: Response, **kw: Any) -> tuple[Response, bool]:
    """The answer to `path` and whether it was computed (a miss)."""
    computed: list[bool] = []

    def compute() -> Response:
        computed.append(True)
        return answer

    out = cache.serve(None, request(path, **kw), READER, compute)  # type: ignore[arg-type]
    return out, bool(computed)


def test_a_page_is_computed_once_while_the_feed_stands_still_and_again_when_it_moves() -> None:
    feed = Feed()
    cache = PageCache(1 << 20, feed)
    assert serve(cache, "/a", page(10))[1] is True
    assert serve(cache, "/a", page(10))[1] is False
    feed.seq += 1
    assert serve(cache, "/a", page(10))[1] is True
    assert (cache.hits, cache.misses) == (1, 2)
    assert len(cache) == 1  # the stale entry was replaced, not kept beside the new one


def test_memory_is_bounded_by_bytes_and_the_least_recently_used_page_goes_first() -> None:
    cache = PageCache(1600, Feed())
    for path in ("/a", "/b", "/c"):
        serve(cache, path, page(300))  # 314 bytes each, too small to gzip
    serve(cache, "/a", page(300))  # /a is now the most recently used
    for path in ("/d", "/e", "/f"):  # the sixth page would pass 1600 bytes: /b goes
        serve(cache, path, page(300))
    assert cache.bytes_held == 5 * 314 and len(cache) == 5
    assert serve(cache, "/a", page(300))[1] is False
    assert serve(cache, "/c", page(300))[1] is False
    assert serve(cache, "/b", page(300))[1] is True


def test_a_page_larger_than_a_quarter_of_the_bound_is_answered_but_not_kept() -> None:
    cache = PageCache(4000, Feed())
    out, _ = serve(cache, "/big", page(1200), accept="identity")
    assert out.status_code == 200 and len(cache) == 0 and cache.bytes_held == 0


def test_an_older_page_computed_late_never_replaces_a_newer_one() -> None:
    feed = Feed()
    cache = PageCache(1 << 20, feed)
    feed.seq = 5

    def slow() -> Response:
        # A slower thread read the feed at 5; meanwhile another stores the page at 6.
        feed.seq = 6
        serve(cache, "/a", page(3, "new"))
        return page(3, "old")

    cache.serve(None, request("/a"), READER, slow)  # type: ignore[arg-type]
    out, computed = serve(cache, "/a", page(3, "never"), accept="identity")
    assert computed is False and b"new" in out.body


def test_only_plain_200_answers_are_kept() -> None:
    cache = PageCache(1 << 20, Feed())
    refused = JSON({"title": "no"}, status_code=403)
    assert serve(cache, "/a", refused)[0] is refused
    with_header = JSON({"items": []}, headers={"x-extra": "1"})
    assert serve(cache, "/b", with_header)[0] is with_header
    assert len(cache) == 0


def test_the_gzip_body_is_what_the_middleware_would_send_and_only_to_who_accepts_it() -> None:
    cache = PageCache(1 << 20, Feed())
    answer = page(GZIP_MIN_SIZE * 2)
    body = bytes(answer.body)
    serve(cache, "/a", answer)
    zipped, _ = serve(cache, "/a", page(1))
    plain, _ = serve(cache, "/a", page(1), accept="identity")
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.body == gzip_encode(body) and gzip.decompress(zipped.body) == body
    assert "content-encoding" not in plain.headers and plain.body == body


def test_readers_of_another_scope_have_their_own_entries() -> None:
    cache = PageCache(1 << 20, Feed())
    officer = Principal(
        user_id=uuid.uuid4(), username="o", role=Role.field_officer, districts=frozenset({"X"})
    )
    other = Principal(
        user_id=uuid.uuid4(), username="p", role=Role.field_officer, districts=frozenset({"Y"})
    )
    for who, fill in ((officer, "X"), (other, "Y"), (READER, "all")):
        cache.serve(None, request("/s"), who, lambda f=fill: page(2, f))  # type: ignore[arg-type, misc]
    assert len(cache) == 3
    out = cache.serve(None, request("/s", accept="identity"), other, lambda: page(2, "?"))  # type: ignore[arg-type]
    assert b"YY" in out.body


def test_readers_missing_the_same_page_at_once_make_it_once() -> None:
    """The second reader arrives while the first is making the page, and waits for it."""
    claimed = threading.Event()

    class Watched(PageCache):
        def _claim(self, key: Any, validator: int) -> tuple[bool, threading.Event]:
            out = super()._claim(key, validator)
            if not out[0]:
                claimed.set()  # the follower is about to wait for the leader
            return out

    cache = Watched(1 << 20, Feed())
    made: list[str] = []

    def leader_page() -> Response:
        made.append("leader")
        assert claimed.wait(10), "the second reader never arrived"
        return page(3, "L")

    def follower_page() -> Response:
        made.append("follower")
        return page(3, "F")

    answers: list[Response] = []
    first = threading.Thread(
        target=lambda: answers.append(
            cache.serve(None, request("/a", accept="identity"), READER, leader_page)  # type: ignore[arg-type]
        )
    )
    first.start()
    while not made:  # the leader has claimed the page and is making it
        threading.Event().wait(0.001)
    second = cache.serve(None, request("/a", accept="identity"), READER, follower_page)  # type: ignore[arg-type]
    first.join()
    assert made == ["leader"]
    assert second.body == answers[0].body and b"LLL" in second.body
    assert (cache.hits, cache.misses) == (1, 1)
