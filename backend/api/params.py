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
BBOX_PATTERN = rf"^\s*{_NUMBER}\s*(,\s*{_NUMBER}\s*){{3}}$"
BBOX_RE = re.compile(BBOX_PATTERN)
# Four numbers; `format: bbox` names what a pattern cannot say (WGS 84 ranges, min <= max).
BBOX_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "bbox",
    "pattern": BBOX_PATTERN,
    "description": "minLon,minLat,maxLon,maxLat in WGS 84: -180 <= minLon <= maxLon <= 180, "
    "-90 <= minLat <= maxLat <= 90",
}


def integer_schema(minimum: int, maximum: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return schema
