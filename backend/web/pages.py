"""The pages' routes: landing, sign-in and sign-out, map, site and lot trace, API reference."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from backend.api.routing import read_body
from backend.auth.permissions import Action, allowed
from backend.auth.principal import Principal
from backend.custody import queries as custody_queries
from backend.custody import trace
from backend.errors import AppError, Unauthenticated
from backend.registry import queries as registry_queries
from backend.registry.models import Licence, Site
from backend.web import session as web_session
from backend.web.render import Web, page

STATIC = Path(__file__).parent / "static"
FORM_LIMIT = 8 * 1024


def wants_html(request: Request) -> bool:
    """A browser asks for text/html; API clients (and `*/*`) keep getting JSON."""
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept.split(",")[0]


def _web(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def sign_in_first(request: Request) -> Response:
    return RedirectResponse(f"/signin?next={quote(request.url.path)}", status_code=303)


def error_page(request: Request, user: Principal | None, status: int, detail_key: str) -> Response:
    return page(
        _web(request),
        request,
        "error.html",
        user=user,
        status=status,
        status_code=status,
        detail_key=detail_key,
    )


def landing(request: Request) -> Response:
    return page(_web(request), request, "index.html", user=web_session.current_user(request))


def docs(request: Request) -> Response:
    return page(_web(request), request, "docs.html", user=web_session.current_user(request))


def signin_form(request: Request) -> Response:
    return page(
        _web(request),
        request,
        "signin.html",
        user=web_session.current_user(request),
        next=web_session.safe_next(request.query_params.get("next")),
        username="",
        error_key=None,
    )


async def signin(request: Request) -> Response:
    if not web_session.same_origin(request):
        return await run_in_threadpool(error_page, request, None, 403, "error.cross_site")
    if request.headers.get("content-type", "").split(";")[0] != (
        "application/x-www-form-urlencoded"
    ):
        return await run_in_threadpool(error_page, request, None, 415, "error.form_expected")
    try:
        raw = await read_body(request, FORM_LIMIT)
    except AppError:
        return await run_in_threadpool(error_page, request, None, 413, "error.form_too_large")
    form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    username, password = form.get("username", "").strip(), form.get("password", "")
    target = web_session.safe_next(form.get("next"))

    def again(error_key: str, status: int) -> Response:
        return page(
            _web(request),
            request,
            "signin.html",
            user=None,
            status=status,
            next=target,
            username=username,
            error_key=error_key,
        )

    if not username or not password:
        return await run_in_threadpool(again, "signin.missing", 422)
    try:
        signed = await run_in_threadpool(web_session.sign_in, request, username, password)
    except Unauthenticated:
        return await run_in_threadpool(again, "signin.refused", 401)
    response = RedirectResponse(target, status_code=303)
    web_session.set_cookie(response, request, signed)
    return response


async def signout(request: Request) -> Response:
    if not web_session.same_origin(request):
        return await run_in_threadpool(error_page, request, None, 403, "error.cross_site")
    await run_in_threadpool(web_session.sign_out, request)
    response = RedirectResponse("/", status_code=303)
    web_session.clear_cookie(response, request)
    return response


def map_page(request: Request) -> Response:
    user = web_session.current_user(request)
    if user is None:
        return sign_in_first(request)
    web = _web(request)
    return page(
        web,
        request,
        "map.html",
        user=user,
        tile_url=web.tile_url or "",
        tile_attribution=web.tile_attribution,
    )


def dashboard(request: Request) -> Response:
    user = web_session.current_user(request)
    if user is None:
        return sign_in_first(request)
    return page(_web(request), request, "dashboard.html", user=user)


def record_id(request: Request) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(request.path_params["id"]))
    except ValueError:
        return None


def site_page(request: Request) -> Response:
    user = web_session.current_user(request)
    if user is None:
        return sign_in_first(request)
    site_id = record_id(request)
    if site_id is None:
        return error_page(request, user, 404, "error.not_found")
    with web_session.sessions(request)() as session:
        stmt = registry_queries.sites(user, registry_queries.Filters())
        site = registry_queries.one(session, stmt, Site, site_id)
        if site is None:
            return error_page(request, user, 404, "error.not_found")
        licence = None
        if site.licence_id is not None:
            licences = registry_queries.licences(user, registry_queries.Filters())
            licence = registry_queries.one(session, licences, Licence, site.licence_id)
        return page(
            _web(request),
            request,
            "site.html",
            user=user,
            site=site,
            licence=licence,
            may_trace=allowed(user, "trace", Action.read),
        )


def lot_page(request: Request) -> Response:
    user = web_session.current_user(request)
    if user is None:
        return sign_in_first(request)
    if not allowed(user, "trace", Action.read):
        return error_page(request, user, 403, "error.forbidden")
    lot_id = record_id(request)
    if lot_id is None:
        return error_page(request, user, 404, "error.not_found")
    with web_session.sessions(request)() as session:
        lot = custody_queries.one_lot(session, user, lot_id)
        if lot is None:
            return error_page(request, user, 404, "error.not_found")
        backward: dict[str, Any] = trace.backward(session, user, lot_id, with_path=True)
    path = sorted(backward["path"] or [], key=lambda s: (-s["depth"], s["occurred_at"]))
    return page(_web(request), request, "lot.html", user=user, lot=lot, trace=backward, path=path)


def lot_lookup(request: Request) -> Response:
    """The landing page's form: a lot id typed in, sent on to its trace page."""
    raw = request.query_params.get("id", "").strip()
    try:
        return RedirectResponse(f"/lots/{uuid.UUID(raw)}", status_code=303)
    except ValueError:
        return error_page(request, web_session.current_user(request), 404, "error.not_a_lot_id")


def routes() -> list[BaseRoute]:
    # Imported here: these pages read features above custody, which import this module's
    # helpers in turn.
    from backend.web import certificate_page, evidence_page

    return [
        Route("/docs", docs),
        Route("/dashboard", dashboard),
        Route("/certificates", certificate_page.lookup),
        Route("/certificates/{number}", certificate_page.certificate),
        Route("/lots/{id}/evidence", evidence_page.evidence),
        Route("/signin", signin_form, methods=["GET"]),
        Route("/signin", signin, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/map", map_page),
        Route("/sites/{id}", site_page),
        Route("/lots", lot_lookup),
        Route("/lots/{id}", lot_page),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
