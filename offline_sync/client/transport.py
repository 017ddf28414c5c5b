"""HTTP to the sync server: gzip bodies, retry with exponential backoff and jitter, problem+json."""

from __future__ import annotations

import gzip
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from offline_sync.client.errors import DeviceRevoked, ServerRefused, TransportFailed

Sleep = Callable[[float], None]

# 408 and 429 are the server asking us to come back later; 5xx may have committed or not,
# which is safe because every op and every chunk is idempotent.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all; before try n+1 wait between half and all of
    min(max_delay, base_delay * 2**n) (equal jitter: never zero, never in lockstep)."""

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, retry: int, rng: random.Random) -> float:
        cap = min(self.max_delay, self.base_delay * 2**retry)
        return float(cap / 2 + rng.uniform(0, cap / 2))


@dataclass
class Transport:
    """One httpx client for one server. `transport` is where tests put an httpx.MockTransport."""

    base_url: str
    token: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Sleep = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    transport: httpx.BaseTransport | None = None
    timeout: float = 60.0
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.base_url,
                transport=self.transport,
                timeout=self.timeout,
                headers={"Accept-Encoding": "gzip", "User-Agent": "offline-sync-client/1"},
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
        compress: bool = False,
        token: str | None = None,
    ) -> httpx.Response:
        """Send, retrying transport errors and retryable statuses; return any other answer."""
        hdrs: dict[str, str] = dict(headers or {})
        bearer = token if token is not None else self.token
        if bearer:
            hdrs["Authorization"] = f"Bearer {bearer}"
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":")).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if compress and content is not None:
            # mtime=0: the same ops compress to the same bytes on every retry
            content = gzip.compress(content, compresslevel=6, mtime=0)
            hdrs["Content-Encoding"] = "gzip"
        last = "no attempt made"
        wait: float | None = None
        for attempt in range(self.retry.attempts):
            if attempt:
                backoff = self.retry.delay(attempt - 1, self.rng)
                self.sleep(
                    backoff if wait is None else max(backoff, min(wait, self.retry.max_delay))
                )
            try:
                response = self.client.request(
                    method, path, content=content, headers=hdrs, params=params
                )
            except httpx.TransportError as err:
                last, wait = f"{type(err).__name__}: {err}", None
                continue
            if response.status_code in RETRY_STATUSES:
                last, wait = f"HTTP {response.status_code}", _retry_after(response)
                continue
            return response
        raise TransportFailed(
            f"{method} {path}: gave up after {self.retry.attempts} attempts ({last})"
        )

    def json(self, method: str, path: str, *, expect: int = 200, **kwargs: Any) -> Any:
        """`request`, then the JSON body of an `expect`ed answer or a `ServerRefused`."""
        response = self.request(method, path, **kwargs)
        if response.status_code != expect:
            raise refused(response)
        return response.json()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def problem_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    return {
        "status": response.status_code,
        "title": response.reason_phrase,
        "detail": response.text,
    }


def refused(response: httpx.Response) -> ServerRefused:
    problem = problem_of(response)
    if response.status_code == 403 and response.request.url.path.endswith("/sync/v1/push"):
        return DeviceRevoked(403, problem)
    return ServerRefused(response.status_code, problem)
