"""Keyset pagination over time-ordered UUIDs, with an opaque cursor."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select

from backend.api.params import BBOX_RE, CURSOR_SCHEMA
from backend.errors import FieldError, ValidationFailed

CURSOR_RE = re.compile(CURSOR_SCHEMA["pattern"])


@dataclass(frozen=True)
class Page:
    limit: int
    after: uuid.UUID | None


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        if not CURSOR_RE.match(cursor):
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed(
            "cursor is not one this server issued",
            errors=[FieldError("/query/cursor", "unknown cursor")],
        ) from exc


def page_from_query(query: Any, *, default: int, maximum: int) -> Page:
    errors: list[FieldError] = []
    limit = default
    raw = query.get("limit")
    if raw is not None:
        try:
            limit = int(raw)
            if not 1 <= limit <= maximum:
                raise ValueError
        except ValueError:
            errors.append(
                FieldError("/query/limit", f"limit must be an integer from 1 to {maximum}")
            )
    after = None
    if query.get("cursor") is not None:
        after = decode_cursor(query["cursor"])
    if errors:
        raise ValidationFailed(errors[0].detail, errors=errors)
    return Page(limit=limit, after=after)


def paginate(stmt: Select[Any], id_column: Any, page: Page) -> Select[Any]:
    if page.after is not None:
        stmt = stmt.where(id_column > page.after)
    return stmt.order_by(id_column).limit(page.limit + 1)


def split_page(rows: Sequence[Any], page: Page, id_of: Any) -> tuple[list[Any], str | None]:
    items = list(rows[: page.limit])
    more = len(rows) > page.limit
    return items, (encode_cursor(id_of(items[-1])) if more and items else None)


def parse_bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    if raw is None:
        return None
    try:
        if not BBOX_RE.match(raw):
            raise ValueError
        parts = [float(p) for p in raw.split(",")]
    except ValueError as exc:
        raise ValidationFailed(
            "bbox must be minLon,minLat,maxLon,maxLat",
            errors=[
                FieldError("/query/bbox", "expected four numbers: minLon,minLat,maxLon,maxLat")
            ],
        ) from exc
    minx, miny, maxx, maxy = parts
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise ValidationFailed(
            "bbox is out of range or inverted",
            errors=[
                FieldError(
                    "/query/bbox", "need -180<=minLon<=maxLon<=180 and -90<=minLat<=maxLat<=90"
                )
            ],
        )
    return minx, miny, maxx, maxy
