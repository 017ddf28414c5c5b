"""The schemas query parameters really have: what the handlers parse, so /openapi.json is true."""

from __future__ import annotations

import re
from typing import Any

UUID_SCHEMA: dict[str, Any] = {"type": "string", "format": "uuid"}
TIME_SCHEMA: dict[str, Any] = {"type": "string", "format": "date-time"}
TIME_OR_DATE_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]
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
CURSOR_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^[A-Za-z0-9_-]{22}$"}


def integer_schema(minimum: int, maximum: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return schema
