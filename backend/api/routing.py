"""Endpoints: declared once with their schemas, run as plain `def` in the thread pool.

An `Endpoint` names its method, path, request and response models and the handler. The
async shell checks the query string, authenticates (before reading any body), reads the body
under the size limit, inflates and parses it under the route's ceilings (large bodies a few at a
time), and hands everything blocking to Starlette's thread pool, so no database call ever runs
on the event loop. The same declarations feed `/openapi.json`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from backend.api.bodies import comma_ceiling, inflate, parse_json
from backend.api.jsonio import problem_response
from backend.api.pagecache import PageCache
from backend.api.params import check_query
from backend.auth.principal import Principal
from backend.errors import (
    AppError,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from backend.settings import Settings

log = logging.getLogger("backend.api")


class Sha256Convertor(Convertor[str]):
    """`{name:sha256}`: a path segment that is a lowercase hex SHA-256, or no match at all.

    So `/attachments/missing` never reaches the `{sha256}` routes, and a method they accept
    is not advertised on it.
    """

    regex = "[0-9a-f]{64}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("sha256", Sha256Convertor())

TEXT_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^[^\\u0000]*$"}

# The OpenAPI schema of a path parameter written `{name:convertor}`.
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "sha256": {"type": "string", "pattern": f"^{Sha256Convertor.regex}$"}
}


@dataclass(frozen=True)
class QueryParam:
    name: str
    description: str
    # Free text, but never a NUL: `check_query` refuses one in any parameter.
    schema: dict[str, Any] = field(default_factory=lambda: dict(TEXT_SCHEMA))
    required: bool = False


@dataclass
class Context:
    """What a handler gets: the request's parts, a session, who asks, and the settings."""

    request: Request
    body: Any
    session: Session
    principal: Principal | None
    settings: Settings

    @property
    def path(self) -> dict[str, Any]:
        return dict(self.request.path_params)

    def record_id(self, name: str = "id") -> uuid.UUID:
        """A UUID path parameter; anything else names no record, so it is a 404."""
        raw = str(self.request.path_params[name])
        try:
            return uuid.UUID(raw)
        except ValueError as exc:
            raise NotFound(f"{raw} is not a record id") from exc

    @property
    def query(self) -> Any:
        return self.request.query_params

    @property
    def user(self) -> Principal:
        if self.principal is None:  # pragma: no cover - guarded by Endpoint.auth
            raise AssertionError("endpoint declared auth=False but used the principal")
        return self.principal


Handler = Callable[[Context], Response]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True
    query: Sequence[QueryParam] = ()
    media_type: str = "application/json"
    # Other media types the same success answer may take (e.g. `?format=csv`), documented beside it.
    alternates: Sequence[str] = ()
    description: str = ""
    errors: Sequence[int] = ()
    # GeoJSON: the request body is a Feature with these geometry types and `request` properties;
    # the response is a Feature or FeatureCollection whose properties are `response`.
    geometry: tuple[str, ...] | None = None
    shape: str = "object"  # object | feature | collection
    raw_body: bool = False  # the handler gets the body's bytes (attachments), not JSON
    # A batch (sync push): may inflate to `max_inflated_bytes` and hold more numbers.
    large_body: bool = False
    # The array (a JSON pointer) whose items the handler answers one by one; see api.bodies.
    per_item: str | None = None
    # A list page whose bytes follow from the data, the URL and the reader's scope alone (no
    # clock, no other header): served from the process's page cache while the feed stands still.
    cached: bool = False


class Router:
    """A feature's endpoints, collected by decorator."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.endpoints: list[Endpoint] = []

    def route(
        self, method: str, path: str, summary: str, **kwargs: Any
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method=method,
                    path=path,
                    handler=handler,
                    summary=summary,
                    tag=self.tag,
                    **kwargs,
                )
            )
            return handler

        return register


def declared_length(request: Request, limit: int) -> int | None:
    """The Content-Length, if sent: a 400 if it is not one decimal number, a 413 past `limit`."""
    values = request.headers.getlist("content-length")
    if not values:
        return None
    if len(set(values)) != 1 or not values[0].strip().isdigit() or not values[0].isascii():
        raise MalformedRequest("Content-Length must be a single decimal number of bytes")
    declared = int(values[0])
    if declared > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}")
    return declared


async def read_body(request: Request, limit: int) -> bytes:
    declared_length(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def large_body_gate(request: Request) -> asyncio.Semaphore:
    """The process's bound on large bodies handled at once (made on first use, on the loop)."""
    state = request.app.state
    gate: asyncio.Semaphore | None = getattr(state, "large_body_gate", None)
    if gate is None:
        gate = asyncio.Semaphore(state.settings.max_large_bodies)
        state.large_body_gate = gate
    return gate


Authenticator = Callable[[Session, Request], Principal]


def starlette_route(
    endpoint: Endpoint, authenticate: Authenticator, cache: PageCache | None = None
) -> Route:
    has_body = endpoint.method in ("POST", "PUT", "PATCH")
    # Reads never take SQLite's write lock (backend.db.reader_factory).
    sessions = "read_sessions" if endpoint.method in ("GET", "HEAD") else "sessions"

    def who(request: Request) -> Principal:
        """Authentication alone, in its own session: done before a body is read."""
        factory: sessionmaker[Session] = request.app.state.sessions
        with factory() as session:
            return authenticate(session, request)

    def run(request: Request, body: Any, principal: Principal | None) -> Response:
        settings: Settings = request.app.state.settings
        factory: sessionmaker[Session] = getattr(request.app.state, sessions)
        session = factory()
        try:
            if endpoint.auth and principal is None:
                principal = authenticate(session, request)
            ctx = Context(
                request=request, body=body, session=session, principal=principal, settings=settings
            )
            if endpoint.cached and cache is not None and principal is not None:
                return cache.serve(session, request, principal, lambda: endpoint.handler(ctx))
            return endpoint.handler(ctx)
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def decode(raw: bytes, encoding: str, content_type: str | None, settings: Settings) -> Any:
        """Inflate and parse, under the route's ceilings (CPU-bound: runs in the thread pool)."""
        large = endpoint.large_body
        numbers = settings.max_large_json_numbers if large else settings.max_json_numbers
        if encoding == "gzip":
            raw = inflate(
                raw,
                settings.max_inflated_bytes if large else settings.max_body_bytes,
                max_commas=None if endpoint.raw_body else comma_ceiling(numbers),
            )
        if endpoint.raw_body:
            return raw
        # An action that takes no input (revoke, for one) needs no body.
        if endpoint.request is None and not raw.strip():
            return None
        return parse_json(raw, content_type, numbers=numbers, per_item=endpoint.per_item)

    async def asgi(request: Request) -> Response:
        try:
            return await handle(request)
        except ClientDisconnect:
            # Field networks drop connections mid-request; nothing was read, nothing changed.
            log.info("client went away during %s %s", request.method, request.url.path)
            return Response(status_code=400)

    async def handle(request: Request) -> Response:
        try:
            check_query(request.query_params, endpoint.query)
            if not has_body:
                return await run_in_threadpool(run, request, None, None)
            settings: Settings = request.app.state.settings
            encoding = request.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("gzip", "identity"):
                raise UnsupportedMediaType(
                    f"Content-Encoding {encoding} is not supported (use gzip)"
                )
            declared_length(request, settings.max_body_bytes)
            # Who asks is settled before a byte of the body is read, inflated or parsed.
            principal = await run_in_threadpool(who, request) if endpoint.auth else None
            raw = await read_body(request, settings.max_body_bytes)
            content_type = request.headers.get("content-type")
            if encoding == "identity" and len(raw) <= settings.large_body_bytes:
                body = decode(raw, encoding, content_type, settings)
                return await run_in_threadpool(run, request, body, principal)
            async with large_body_gate(request):
                body = await run_in_threadpool(decode, raw, encoding, content_type, settings)
                return await run_in_threadpool(run, request, body, principal)
        except AppError as error:
            return problem_response(error, request.url.path)

    return Route(
        endpoint.path, asgi, methods=[endpoint.method], name=f"{endpoint.method} {endpoint.path}"
    )
