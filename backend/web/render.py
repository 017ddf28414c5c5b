"""Rendering a page: Jinja templates in the request's language, with the pages' security headers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import HTMLResponse

from backend.auth.principal import Principal
from backend.settings import Settings
from backend.web.i18n import LANG_COOKIE, LANGUAGES, Catalogue, load, negotiate

TEMPLATES = Path(__file__).parent / "templates"
ONE_YEAR = 365 * 24 * 3600


@dataclass(frozen=True)
class Web:
    """What every page needs, built once per app: templates, catalogues, map settings."""

    env: jinja2.Environment
    catalogues: dict[str, Catalogue]
    tile_url: str | None
    tile_attribution: str
    csp: str


def content_security_policy(tile_url: str | None) -> str:
    images = "'self' data:"
    if tile_url:
        parts = urlsplit(tile_url.replace("{s}", "a"))
        host = parts.netloc.replace("a.", "*.", 1) if "{s}" in tile_url else parts.netloc
        images += f" {parts.scheme}://{host}"
    # No inline script anywhere: data reaches scripts as JSON blocks or data-* attributes.
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src {images}; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )


def make_web(settings: Settings) -> Web:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Web(
        env=env,
        catalogues=load(),
        tile_url=settings.map_tile_url,
        tile_attribution=settings.map_tile_attribution,
        csp=content_security_policy(settings.map_tile_url),
    )


def language(request: Request) -> str:
    return negotiate(
        asked=request.query_params.get("lang"),
        cookie=request.cookies.get(LANG_COOKIE),
        accept_language=request.headers.get("accept-language", ""),
    )


def _relative(url: URL) -> str:
    return f"{url.path}?{url.query}"


def page(
    web: Web,
    request: Request,
    template: str,
    *,
    user: Principal | None,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    lang = language(request)
    cat = web.catalogues[lang]
    switch = {code: _relative(request.url.include_query_params(lang=code)) for code in LANGUAGES}
    html = web.env.get_template(template).render(
        t=cat.t,
        lang=lang,
        switch=switch,
        user=user,
        current_path=request.url.path,
        messages=cat.messages,
        **values,
    )
    response = HTMLResponse(html, status_code=status)
    headers = response.headers
    headers["Content-Language"] = lang
    headers["Vary"] = "Accept, Accept-Language, Cookie"
    headers["Cache-Control"] = "no-store"
    headers["Content-Security-Policy"] = web.csp
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=ONE_YEAR, samesite="lax")
    return response
