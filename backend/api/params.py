"""Query strings read once for every route, and the schemas /openapi.json gives them.

`check_query` runs in the routing shell before any handler, over every parameter sent and each
one the endpoint declares: no name or value may hold a NUL, and a declared integer must be one
within its schema's bounds and the 64-bit range of the database. `time_param` is the one reader
of time filters, so each accepts the same forms and refuses the same edges. The `*_SCHEMA`
constants are what the handlers really parse, so the description and the server agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol

from backend.api.fields import INT64_MAX, INT64_MIN, bounded_time
from backend.errors import FieldError, ValidationFailed


class Declared(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def schema(self) -> dict[str, Any]: ...


def _refuse(name: str, detail: str) -> ValidationFailed:
    return ValidationFailed(f"{name}: {detail}", errors=[FieldError(f"/query/{name}", detail)])


def check_query(query: Any, declared: Sequence[Declared]) -> None:
    """Refuse, as a 422 naming the parameter, what no handler below may be given."""
    for name, value in query.multi_items():
        if "\x00" in name or "\x00" in value:
            raise _refuse(name.replace("\x00", "\\u0000"), "may not contain NUL (%00)")
    for param in declared:
        raw = query.get(param.name)
        if raw is None or param.schema.get("type") != "integer":
            continue
        check_integer(param.name, raw, param.schema)


def check_integer(name: str, raw: str, schema: Mapping[str, Any]) -> int:
    low = max(int(schema.get("minimum", INT64_MIN)), INT64_MIN)
    high = min(int(schema.get("maximum", INT64_MAX)), INT64_MAX)
    text = raw.strip()
    try:
        if len(text) > 20:  # 2^63 has 19 digits; longer is out of range (or an attack)
            raise ValueError
        value = int(text)
        if not low <= value <= high:
            raise ValueError
    except ValueError as exc:
        raise _refuse(name, f"expected an integer from {low} to {high}") from exc
    return value


def time_param(query: Any, name: str, *, allow_date: bool = True) -> datetime | None:
    """An RFC 3339 time (or a date, meaning its midnight UTC) within the calendar's range."""
    raw = query.get(name)
    if raw is None:
        return None
    text = raw.strip().replace(" ", "+").replace("Z", "+00:00").replace("z", "+00:00")
    try:
        if len(text) == 10 and allow_date:
            d = date.fromisoformat(text)
            value = datetime(d.year, d.month, d.day, tzinfo=UTC)
        else:
            value = datetime.fromisoformat(text)
    except ValueError as exc:
        example = "2026-01-31T12:00:00Z" + (" or 2026-01-31" if allow_date else "")
        raise _refuse(name, f"expected e.g. {example}") from exc
    if value.tzinfo is None:
        raise _refuse(name, "needs a time zone: add Z or an offset such as +00:00")
    try:
        return bounded_time(value)
    except ValueError as exc:
        raise _refuse(name, str(exc)) from exc


# --- schemas -------------------------------------------------------------------------------

UUID_SCHEMA: dict[str, Any] = {"type": "string", "format": "uuid"}
# Times and dates are bounded (backend.api.fields.bounded_time); the pattern states the years.
_YEARS = r"^(19\d\d|2\d\d\d)-"
_BOUNDS = "within 1900-01-01 to 2999-12-31 (UTC)"
TIME_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "date-time",
    "pattern": _YEARS,
    "description": f"RFC 3339 time {_BOUNDS}",
}
TIME_OR_DATE_SCHEMA: dict[str, Any] = {
    "anyOf": [TIME_SCHEMA, {"type": "string", "format": "date", "pattern": _YEARS}],
    "description": f"RFC 3339 time or date {_BOUNDS}",
}
BOOLEAN_SCHEMA: dict[str, Any] = {"type": "string", "enum": ["true", "false"]}

_NUMBER = r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?"
BBOX_RE = re.compile(rf"^{_NUMBER}(,{_NUMBER}){{3}}$")
# JSON Schema cannot say "four numbers in WGS 84 ranges, min <= max": `format: bbox` names it
# (clients and schemathesis register the format; tests/e2e/schemathesis_hooks.py does).
BBOX_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "bbox",
    "description": "minLon,minLat,maxLon,maxLat in WGS 84: -180 <= minLon <= maxLon <= 180, "
    "-90 <= minLat <= maxLat <= 90",
}
# Page cursors are 16 bytes in unpadded base64url (see backend.api.pagination.encode_cursor).
# A page's last id (16 bytes) and its HMAC tag (12 bytes), base64url without padding.
CURSOR_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^[A-Za-z0-9_-]{38}$"}


def integer_schema(minimum: int, maximum: int = INT64_MAX) -> dict[str, Any]:
    """An integer query parameter; `check_query` holds every one to the database's 64 bits."""
    return {"type": "integer", "minimum": minimum, "maximum": maximum}
