"""`create_app(settings)`: the Starlette application with every feature's routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from backend import __doc__ as product
from backend import schema
from backend.api import openapi
from backend.api.jsonio import JSON, problem_response
from backend.api.pagecache import GZIP_LEVEL, GZIP_MIN_SIZE, PageCache
from backend.api.routing import Endpoint, starlette_route
from backend.audit.routes import router as audit_router
from backend.auth.routes import authenticate
from backend.auth.routes import router as auth_router
from backend.certificates.keys import load_keyring
from backend.certificates.routes import router as certificates_router
from backend.custody.routes import router as custody_router
from backend.db import make_engine, reader_factory, session_factory
from backend.errors import AppError, MalformedRequest, NotFound
from backend.evidence.routes import router as evidence_router
from backend.incidents.routes import router as incidents_router
from backend.insight.routes import router as insight_router
from backend.ogc.routes import router as ogc_router
from backend.registry.routes import router as registry_router
from backend.settings import Settings
from backend.sync.feed import position as feed_position
from backend.sync.routes import engine_for
from backend.sync.routes import router as sync_router
from backend.web import pages
from backend.web.render import make_web

log = logging.getLogger("backend")
VERSION = "0.1.0"
ROUTERS = (
    auth_router,
    registry_router,
    audit_router,
    sync_router,
    custody_router,
    evidence_router,
    incidents_router,
    certificates_router,
    insight_router,
    ogc_router,
)


def endpoints() -> list[Endpoint]:
    return [e for r in ROUTERS for e in r.endpoints]


class MethodNotAllowed(AppError):
    status, code, title = 405, "method-not-allowed", "Method not allowed"


def app_from_env() -> Starlette:
    """The application of one `serve` worker process, configured from the environment."""
    return create_app(Settings.from_env())


def allowed_methods(routes: Sequence[BaseRoute], path: str) -> list[str]:
    """Every method some route answers on this path (RFC 9110 wants them all in `Allow`).

    Each endpoint is its own route, so Starlette's own `Allow` would name only the first.
    """
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.path_regex.match(path) and route.methods:
            methods.update(route.methods)
    return sorted(methods)


def create_app(settings: Settings, *, check_schema: bool = True) -> Starlette:
    keyring = load_keyring(settings.certificate_key_files)  # a bad key file stops start-up
    engine = make_engine(settings)
    if check_schema:
        schema.ensure_current(engine)
    spec = openapi.build(
        endpoints(), title="Alluvial diamond production tracking API", version=VERSION
    )

    def healthz(request: Request) -> Response:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return JSON({"status": "ok", "database": engine.dialect.name, "version": VERSION})

    async def openapi_json(request: Request) -> Response:
        return JSON(spec)

    async def index(request: Request) -> Response:
        if pages.wants_html(request):
            return await run_in_threadpool(pages.landing, request)
        return JSON(
            {
                "name": product,
                "version": VERSION,
                "links": [
                    {"rel": "service-desc", "href": "/openapi.json"},
                    {"rel": "service-doc", "href": "/docs", "type": "text/html"},
                    {"rel": "health", "href": "/healthz"},
                    {"rel": "map", "href": "/map", "type": "text/html"},
                    {"rel": "dashboard", "href": "/dashboard", "type": "text/html"},
                    {"rel": "certificate-check", "href": "/certificates", "type": "text/html"},
                    {"rel": "sign-in", "href": "/signin", "type": "text/html"},
                ],
            }
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return problem_response(NotFound(f"no route {request.url.path}"), request.url.path)
        if exc.status_code == 405:
            allowed = allowed_methods(request.app.router.routes, request.url.path)
            response = problem_response(
                MethodNotAllowed(
                    f"{request.method} is not allowed on {request.url.path}; "
                    f"use {', '.join(allowed)}"
                ),
                request.url.path,
            )
            response.headers["Allow"] = ", ".join(allowed)
            return response
        return problem_response(MalformedRequest(str(exc.detail)), request.url.path)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(
            AppError("the server failed; the error was logged and nothing was changed"),
            request.url.path,
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        engine.dispose()

    page_cache = (
        PageCache(settings.page_cache_bytes, feed_position) if settings.page_cache_bytes else None
    )
    routes: list[Any] = [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/openapi.json", openapi_json),
        *[starlette_route(e, authenticate, page_cache) for e in endpoints()],
        *pages.routes(),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: server_error},
        # Devices pay for every byte over the air: answers over 1 KiB leave gzip-compressed.
        middleware=[
            Middleware(GZipMiddleware, minimum_size=GZIP_MIN_SIZE, compresslevel=GZIP_LEVEL)
        ],
    )
    app.state.settings = settings
    app.state.web = make_web(settings)
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.read_sessions = reader_factory(engine)
    app.state.sync_engine = engine_for(settings)
    app.state.keyring = keyring
    app.state.page_cache = page_cache
    return app
