"""JSON in and out: Decimals leave as strings (exact), times as RFC 3339 UTC, UUIDs as text."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson
from starlette.responses import Response

from backend.clock import as_utc
from backend.errors import PROBLEM_CONTENT_TYPE, AppError
from offline_sync.server.sqltypes import JSONText


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is UTC:  # most times we write (utcnow, read back): "+00:00" ends them
            return value.isoformat()[:-6] + "Z"
        return as_utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def _by_orjson(value: Any) -> bytes | None:
    """orjson's encoding, or None for an integer past 64 bits, which only the stdlib takes."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError as exc:
        if "Integer exceeds 64-bit range" not in str(exc):
            raise
        return None


def _by_stdlib(value: Any) -> bytes:
    return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":")).encode()


def dumps(value: Any) -> bytes:
    """UTF-8 JSON, compact, encoded once by orjson (the stdlib encoder only past 64-bit ints)."""
    encoded = _by_orjson(value)
    return encoded if encoded is not None else _by_stdlib(value)


def encoded(value: Any) -> JSONText:
    """`value` as the JSON text a JSON column stores as it is (`JSONText`): encoded once, not
    made plain values first (a feed record, a set row's audit snapshot)."""
    return JSONText(dumps(value).decode())


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


class GeoJSON(JSON):
    media_type = "application/geo+json"


def problem_response(error: AppError, instance: str) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return Response(
        dumps(error.problem(instance)),
        status_code=error.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def jsonable(value: Any) -> Any:
    """The same value as plain JSON types (for JSON columns such as the audit trail)."""
    by_orjson = _by_orjson(value)
    if by_orjson is None:  # orjson would read the big integer back as a float
        return json.loads(_by_stdlib(value))
    return orjson.loads(by_orjson)
