"""Values no database keeps (NUL characters, NaN, infinities): found per op, and made storable.

PostgreSQL refuses a NUL in text and JSON, and NaN in JSON; SQLite would keep them and hand
them back to every device. An op carrying one is refused on its own, with a pointer to each
value, and its ledger row keeps a storable copy (the content hash is of the op as sent).
"""

from __future__ import annotations

import math
from typing import Any

from offline_sync.protocol import Op

NUL = "\x00"
REPLACEMENT = "\ufffd"


def _escape(token: str) -> str:
    """One JSON Pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def _walk(value: Any, pointer: str, field: str, found: list[dict[str, str]]) -> None:
    if isinstance(value, str):
        if NUL in value:
            found.append({"field": field, "pointer": pointer, "detail": "contains a NUL character"})
    elif isinstance(value, float):
        if not math.isfinite(value):
            found.append({"field": field, "pointer": pointer, "detail": "not a finite number"})
    elif isinstance(value, dict):
        for key, item in value.items():
            if NUL in str(key):
                found.append(
                    {"field": field, "pointer": pointer, "detail": "a key contains a NUL character"}
                )
            _walk(item, f"{pointer}/{_escape(str(key))}", field, found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{pointer}/{index}", field, found)


def unstorable(op: Op) -> list[dict[str, str]]:
    """Field problems for every value of the op a database would refuse or should not keep."""
    found: list[dict[str, str]] = []
    _walk(op.entity, "#/entity", "entity", found)
    for key, value in op.fields.items():
        _walk({key: value}, "#/fields", key, found)
    return found


def storable(value: Any) -> Any:
    """A copy a database keeps: NUL as U+FFFD, non-finite numbers as null."""
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {storable(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value
