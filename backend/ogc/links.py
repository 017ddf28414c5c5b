"""Absolute links that stay right behind a TLS proxy (X-Forwarded-Proto and X-Forwarded-Host)."""

from __future__ import annotations

from starlette.requests import Request

OGC_ROOT = "/api/v1/ogc"


def base_url(request: Request) -> str:
    """scheme://host of the request as the client saw it (the first proxy hop's values)."""
    proto = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    host = request.headers.get("x-forwarded-host") or request.headers.get("host")
    host = (host or request.url.netloc).split(",")[0].strip()
    if proto not in ("http", "https"):
        proto = request.url.scheme
    return f"{proto}://{host}"


def href(request: Request, path: str, **query: object) -> str:
    url = base_url(request) + OGC_ROOT + path
    params = "&".join(f"{k}={v}" for k, v in query.items() if v is not None)
    return f"{url}?{params}" if params else url


def link(rel: str, url: str, media: str, title: str | None = None) -> dict[str, str]:
    out = {"rel": rel, "href": url, "type": media}
    if title:
        out["title"] = title
    return out
