"""List responses: filters from the query string, a keyset page, and the `next` link."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select
from starlette.requests import Request

from backend.api.pagination import (
    CursorSigner,
    Page,
    page_from_query,
    paginate,
    parse_bbox,
    split_page,
)
from backend.api.params import CURSOR_SCHEMA, TIME_SCHEMA, integer_schema, time_param
from backend.api.routing import QueryParam
from backend.errors import FieldError, ValidationFailed
from backend.keys import server_key
from backend.settings import Settings

PAGE_PARAMS = ("limit", "cursor")

# The page-size bound is a setting no environment variable changes, so its default is the truth.
Q_LIMIT = QueryParam("limit", "page size", integer_schema(1, Settings.page_size_max))
Q_CURSOR = QueryParam("cursor", "`next_cursor` of the previous page", CURSOR_SCHEMA)
Q_SINCE = QueryParam("updated_since", "only records changed after this RFC 3339 time", TIME_SCHEMA)


def page_of(request: Request, settings: Settings) -> Page:
    """The page a list request asks for; its cursor must be signed for this path and filters."""
    return page_from_query(
        request.query_params,
        default=settings.page_size_default,
        maximum=settings.page_size_max,
        signer=CursorSigner(key=server_key(settings), context=cursor_context(request)),
    )


def cursor_context(request: Request) -> str:
    """What a cursor is bound to: the list's path and its filters (not the page size)."""
    filters = sorted((k, v) for k, v in request.query_params.multi_items() if k not in PAGE_PARAMS)
    return request.url.path + "?" + urlencode(filters)


def enum_param(request: Request, name: str, allowed: Sequence[str]) -> str | None:
    value = request.query_params.get(name)
    if value is not None and value not in allowed:
        raise ValidationFailed(
            f"{name} must be one of {', '.join(allowed)}",
            errors=[FieldError(f"/query/{name}", f"must be one of {', '.join(allowed)}")],
        )
    return value


def uuid_param(request: Request, name: str) -> uuid.UUID | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise ValidationFailed(
            f"{name} is not a UUID", errors=[FieldError(f"/query/{name}", "expected a UUID")]
        ) from exc


def reject_unknown_params(request: Request, known: Sequence[str]) -> None:
    unknown = sorted(set(request.query_params) - set(known) - set(PAGE_PARAMS))
    if unknown:
        raise ValidationFailed(
            f"unknown query parameter(s): {', '.join(unknown)}",
            errors=[
                FieldError(f"/query/{u}", f"not a filter here; known: {', '.join(known)}")
                for u in unknown
            ],
        )


def bbox_param(request: Request) -> tuple[float, float, float, float] | None:
    return parse_bbox(request.query_params.get("bbox"))


def since_param(request: Request) -> Any:
    return time_param(request.query_params, "updated_since", allow_date=False)


def run_page(
    session: Any, stmt: Select[Any], id_column: Any, page: Page
) -> tuple[list[Any], str | None]:
    rows = list(session.scalars(paginate(stmt, id_column, page)))
    return split_page(rows, page, lambda r: r.id)


def next_link(request: Request, cursor: str | None) -> list[dict[str, str]]:
    links = [{"rel": "self", "href": str(request.url), "type": "application/geo+json"}]
    if cursor is not None:
        links.append(
            {
                "rel": "next",
                "href": str(request.url.include_query_params(cursor=cursor)),
                "type": "application/geo+json",
            }
        )
    return links


def feature_collection(
    request: Request, features: list[dict[str, Any]], cursor: str | None
) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": features,
        "numberReturned": len(features),
        "next_cursor": cursor,
        "links": next_link(request, cursor),
    }
