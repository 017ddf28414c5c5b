"""The public certificate page, where a certificate's QR code leads: status, fields, keys."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from backend.auth.principal import Principal
from backend.certificates import queries
from backend.certificates.keys import KeyRing
from backend.certificates.views import fields_public, is_expired
from backend.clock import utcnow
from backend.web import session as web_session
from backend.web.render import Web, page

MAX_NUMBER = 64


def _render(request: Request, user: Principal | None, **values: Any) -> Response:
    web: Web = request.app.state.web
    keyring: KeyRing = request.app.state.keyring
    return page(web, request, "certificate.html", user=user, keys=keyring.published(), **values)


def lookup(request: Request) -> Response:
    """The checker on its own, or the number typed into its form sent on to its page."""
    number = request.query_params.get("number", "").strip()
    if number and len(number) <= MAX_NUMBER:
        return RedirectResponse(f"/certificates/{quote(number, safe='')}", status_code=303)
    return _render(
        request,
        web_session.current_user(request),
        number=None,
        state=None,
        expired=False,
        replaced_by=None,
        fields=None,
    )


def certificate(request: Request) -> Response:
    number = str(request.path_params["number"])[:MAX_NUMBER]
    # Who is signed in is read first: SQLite sessions take the write lock, so a second
    # session opened inside this one would wait for it.
    user = web_session.current_user(request)
    with web_session.sessions(request)() as session:
        cert = queries.by_number(session, number)
        if cert is None:
            return _render(
                request,
                user,
                number=number,
                state="unknown",
                expired=False,
                replaced_by=None,
                fields=None,
                status=404,
            )
        replaced_by = queries.replaced_by(session, [cert.id]).get(cert.id)
        return _render(
            request,
            user,
            number=cert.number,
            state=str(cert.status),
            expired=is_expired(cert, utcnow().date()),
            replaced_by=replaced_by,
            fields=fields_public(cert),
        )
