"""The export office's readable evidence report: each check's verdict and sentence, overrides."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from backend.errors import Forbidden, NotFound
from backend.evidence import access, reports, views
from backend.web import session as web_session
from backend.web.pages import error_page, record_id, sign_in_first
from backend.web.render import Web, page


def evidence(request: Request) -> Response:
    user = web_session.current_user(request)
    if user is None:
        return sign_in_first(request)
    lot_id = record_id(request)
    if lot_id is None:
        return error_page(request, user, 404, "error.not_found")
    with web_session.sessions(request)() as session:
        try:
            lot = access.readable_lot(session, user, lot_id)
        except Forbidden:
            return error_page(request, user, 403, "error.forbidden")
        except NotFound:
            return error_page(request, user, 404, "error.not_found")
        latest = reports.latest_report(session, lot.id)
        report: dict[str, Any] | None = None
        if latest is not None:
            report = views.report_public(
                latest,
                lot.tag,
                reports.is_current(session, latest),
                reports.overrides_of(session, latest.id),
            )
        web: Web = request.app.state.web
        return page(web, request, "evidence.html", user=user, lot=lot, report=report)
