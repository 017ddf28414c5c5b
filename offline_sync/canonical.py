"""Canonical JSON: the bytes an op's content hash is taken over, the same on every version.

The form is the standard library's `json.dumps(value, sort_keys=True, separators=(",", ":"))`
(ASCII only, non-ASCII escaped), which the ledger has always hashed. orjson writes the same bytes
much faster wherever the two agree: every ASCII string but one holding DEL, every integer within
64 bits, every finite float from 1e-4 up (below it the standard library pads its exponent to two
digits). Anything else is written by the standard library, so the bytes never change.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

_SMALLEST_PLAIN = 1e-4


def _floats_agree(value: Any) -> bool:
    """Whether every float inside `value` is one orjson writes as the standard library does."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (str, int)) or item is None:
            continue
        if isinstance(item, float):
            if item != 0 and not (math.isfinite(item) and abs(item) >= _SMALLEST_PLAIN):
                return False
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return True


def canonical_json(value: Any) -> bytes:
    """`value` (plain JSON types) as sorted, compact, ASCII-only JSON."""
    if _floats_agree(value):
        try:
            fast = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # an integer past 64 bits, say
            fast = None
        if fast is not None and fast.isascii() and b"\x7f" not in fast:
            return fast
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
