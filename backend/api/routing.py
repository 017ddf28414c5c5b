"""Endpoints: declared once with their schemas, run as plain `def` in the thread pool.

An `Endpoint` names its method, path, request and response models and the handler. The
async shell reads the body (with the size limit) and hands everything blocking (session,
authentication, the handler itself) to Starlette's thread pool, so no database call ever runs
on the event loop. The same declarations feed `/openapi.json`.
"""

from __future__ import annotations

import logging
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from backend.api.jsonio import parse_body, problem_response
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


@dataclass(frozen=True)
class QueryParam:
    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


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
    description: str = ""
    errors: Sequence[int] = ()
    # GeoJSON: the request body is a Feature with these geometry types and `request` properties;
    # the response is a Feature or FeatureCollection whose properties are `response`.
    geometry: tuple[str, ...] | None = None
    shape: str = "object"  # object | feature | collection
    raw_body: bool = False  # the handler gets the body's bytes (attachments), not JSON


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


def inflate(raw: bytes, limit: int) -> bytes:
    """A gzip body, decompressed with a ceiling."""
    out = zlib.decompressobj(wbits=31)
    try:
        data = out.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise MalformedRequest(f"Content-Encoding is gzip but the body is not: {exc}") from exc
    if len(data) > limit or out.unconsumed_tail:
        raise PayloadTooLarge(f"the body inflates beyond the limit of {limit} bytes")
    return data


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}")
        except ValueError as exc:
            raise MalformedRequest("Content-Length is not a number") from exc
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


Authenticator = Callable[[Session, Request], Principal]


def starlette_route(endpoint: Endpoint, authenticate: Authenticator) -> Route:
    has_body = endpoint.method in ("POST", "PUT", "PATCH")
    # Reads never take SQLite's write lock (backend.db.reader_factory).
    sessions = "read_sessions" if endpoint.method in ("GET", "HEAD") else "sessions"

    def run(request: Request, body: Any) -> Response:
        settings: Settings = request.app.state.settings
        factory: sessionmaker[Session] = getattr(request.app.state, sessions)
        session = factory()
        try:
            principal = authenticate(session, request) if endpoint.auth else None
            ctx = Context(
                request=request, body=body, session=session, principal=principal, settings=settings
            )
            return endpoint.handler(ctx)
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    async def asgi(request: Request) -> Response:
        try:
            return await handle(request)
        except ClientDisconnect:
            # Field networks drop connections mid-request; nothing was read, nothing changed.
            log.info("client went away during %s %s", request.method, request.url.path)
            return Response(status_code=400)

    async def handle(request: Request) -> Response:
        try:
            body = None
            if has_body:
                settings = request.app.state.settings
                raw = await read_body(request, settings.max_body_bytes)
                encoding = request.headers.get("content-encoding", "identity").lower()
                if encoding == "gzip":
                    raw = inflate(raw, settings.max_inflated_bytes)
                elif encoding != "identity":
                    raise UnsupportedMediaType(
                        f"Content-Encoding {encoding} is not supported (use gzip)"
                    )
                if endpoint.raw_body:
                    body = raw
                # An action that takes no input (revoke, for one) needs no body.
                elif endpoint.request is not None or raw.strip():
                    body = parse_body(raw, request.headers.get("content-type"))
            return await run_in_threadpool(run, request, body)
        except AppError as error:
            return problem_response(error, request.url.path)

    return Route(
        endpoint.path, asgi, methods=[endpoint.method], name=f"{endpoint.method} {endpoint.path}"
    )
