"""Keyset pagination over time-ordered UUIDs, with cursors signed for the list they page."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select

from backend.api.params import BBOX_RE, CURSOR_SCHEMA
from backend.errors import FieldError, ValidationFailed

CURSOR_TAG_BYTES = 12


@dataclass(frozen=True)
class CursorSigner:
    """Signs cursors with the server's key, bound to one list and its filters.

    A cursor is the last id of a page and an HMAC-SHA256 tag (truncated) over that id and
    `context`, the list's path and filters. A cursor from another list, from other filters or
    from another server's key, or one made up, fails the tag and is a 422 naming `cursor`.
    """

    key: bytes
    context: str

    def tag(self, raw: bytes) -> bytes:
        message = self.context.encode() + b"\x00" + raw
        return hmac.new(self.key, message, hashlib.sha256).digest()[:CURSOR_TAG_BYTES]


CURSOR_RE = re.compile(CURSOR_SCHEMA["pattern"])


@dataclass(frozen=True)
class Page:
    limit: int
    after: uuid.UUID | None
    signer: CursorSigner | None = field(default=None, compare=False)


def encode_cursor(last_id: uuid.UUID, signer: CursorSigner) -> str:
    raw = last_id.bytes
    return base64.urlsafe_b64encode(raw + signer.tag(raw)).decode().rstrip("=")


def decode_cursor(cursor: str, signer: CursorSigner) -> uuid.UUID:
    try:
        if not CURSOR_RE.match(cursor):
            raise ValueError("not a cursor")
        blob = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        raw, tag = blob[:16], blob[16:]
        if len(raw) != 16 or not hmac.compare_digest(tag, signer.tag(raw)):
            raise ValueError("bad tag")
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed(
            "cursor is not one this server issued for this list and these filters",
            errors=[FieldError("/query/cursor", "unknown cursor; start without one")],
        ) from exc


def page_from_query(query: Any, *, default: int, maximum: int, signer: CursorSigner) -> Page:
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
        after = decode_cursor(query["cursor"], signer)
    if errors:
        raise ValidationFailed(errors[0].detail, errors=errors)
    return Page(limit=limit, after=after, signer=signer)


def paginate(stmt: Select[Any], id_column: Any, page: Page) -> Select[Any]:
    if page.after is not None:
        stmt = stmt.where(id_column > page.after)
    return stmt.order_by(id_column).limit(page.limit + 1)


def split_page(rows: Sequence[Any], page: Page, id_of: Any) -> tuple[list[Any], str | None]:
    items = list(rows[: page.limit])
    more = len(rows) > page.limit
    if not (more and items):
        return items, None
    if page.signer is None:  # pragma: no cover - page_from_query always sets it
        raise AssertionError("a page that continues needs a cursor signer")
    return items, encode_cursor(id_of(items[-1]), page.signer)


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
