"""Request bodies: gzip inflated under a ceiling, JSON parsed under a budget, every value checked.

One reader for every route, so no route sees a body that could break the layers below it:

- inflation stops at a ceiling (a 31 KiB gzip body can claim gigabytes);
- a body with more commas than twice the route's number budget is refused before parsing (one
  C-speed count), and the parser counts numbers as it meets them and stops at the budget, so a
  body holding a million-vertex geometry is refused cheaply, not after building all of it;
- nesting deeper than `MAX_DEPTH`, NUL characters in strings or keys, NaN and Infinity (not
  JSON), numbers past the 64-bit range or longer than `MAX_NUMBER_CHARS` are refused as a 422
  naming each value by its JSON pointer.

A route whose body is a batch answered item by item (a sync push) names that array in
`per_item`: NUL text and NaN inside its items are left to the handler, which refuses that item
alone and keeps the rest of the batch.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass
from typing import Any

from backend.api.fields import INT64_MAX, INT64_MIN
from backend.errors import (
    FieldError,
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)

MAX_DEPTH = 64
MAX_NUMBER_CHARS = 40  # a double needs at most 24; 400-digit coordinates are an attack
MAX_ERRORS = 20
INFLATE_CHUNK = 64 * 1024


def inflate(raw: bytes, limit: int, *, max_commas: int | None = None) -> bytes:
    """A gzip body, decompressed chunk by chunk; refused as soon as it passes `limit` bytes or
    (for JSON) holds more than `max_commas` commas, before the rest is inflated."""
    out = zlib.decompressobj(wbits=31)
    parts: list[bytes] = []
    size = commas = 0
    data = raw
    try:
        while data:
            piece = out.decompress(data, INFLATE_CHUNK)
            size += len(piece)
            if size > limit:
                raise PayloadTooLarge(f"the body inflates beyond the limit of {limit} bytes")
            if max_commas is not None:
                commas += piece.count(b",")
                if commas > max_commas:
                    raise too_many_values(max_commas)
            parts.append(piece)
            data = out.unconsumed_tail
        piece = out.flush()
    except zlib.error as exc:
        raise MalformedRequest(f"Content-Encoding is gzip but the body is not: {exc}") from exc
    if size + len(piece) > limit:
        raise PayloadTooLarge(f"the body inflates beyond the limit of {limit} bytes")
    parts.append(piece)
    return b"".join(parts)


def comma_ceiling(numbers: int) -> int:
    """Commas a JSON body with a budget of `numbers` may hold (coordinates: one per number)."""
    return 2 * numbers


def too_many_values(commas: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the body holds more than {commas} values; send it in smaller parts")


@dataclass(frozen=True)
class Refused:
    """A JSON value the parser met but will not hand on; the walk names where it was."""

    text: str
    reason: str

    def passed_on(self) -> Any:
        """What a per-item handler gets instead (NaN and Infinity as the floats they spell)."""
        return float(self.text) if self.reason == NOT_A_NUMBER else None


NOT_A_NUMBER = "NaN and Infinity are not JSON numbers"


class _BudgetSpent(Exception):
    pass


class _Numbers:
    """The parser's number hooks: they count, bound and never build an oversize value."""

    def __init__(self, budget: int) -> None:
        self.left = budget

    def _tick(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise _BudgetSpent

    def integer(self, text: str) -> Any:
        self._tick()
        if len(text) > MAX_NUMBER_CHARS:
            return Refused(text[:12] + "…", f"a number of {len(text)} characters")
        value = int(text)
        if not INT64_MIN <= value <= INT64_MAX:
            return Refused(text, "outside the 64-bit integer range")
        return value

    def real(self, text: str) -> Any:
        self._tick()
        if len(text) > MAX_NUMBER_CHARS:
            return Refused(text[:12] + "…", f"a number of {len(text)} characters")
        value = float(text)
        if not math.isfinite(value) or abs(value) > INT64_MAX:
            return Refused(text, "outside the range any field here takes")
        return value

    def constant(self, text: str) -> Any:
        self._tick()
        return Refused(text, NOT_A_NUMBER)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def check_values(document: Any, *, per_item: str | None = None) -> Any:
    """Walk the parsed document once (no recursion); raise a 422 naming every bad value."""
    errors: list[FieldError] = []
    item_array = per_item.strip("/").split("/") if per_item else None
    # (container, its pointer, its depth, how far `per_item` matched: -1 off, len+1 inside)
    stack: list[tuple[Any, str, int, int]] = [(document, "", 1, 0 if item_array else -1)]
    if isinstance(document, Refused):
        errors.append(FieldError("", document.reason))
    elif isinstance(document, str) and "\x00" in document:
        errors.append(FieldError("", "text may not contain NUL (\\u0000)"))
    while stack and len(errors) < MAX_ERRORS:
        node, pointer, depth, matched = stack.pop()
        if depth > MAX_DEPTH:
            errors.append(FieldError(pointer, f"JSON nests deeper than {MAX_DEPTH} levels"))
            continue
        items: Any
        if isinstance(node, dict):
            items = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        inside = item_array is not None and matched > len(item_array)
        for key, value in items:
            here = f"{pointer}/{_escape(str(key))}"
            if isinstance(key, str) and "\x00" in key and not inside:
                errors.append(FieldError(here, "a member name may not contain NUL (\\u0000)"))
            if isinstance(value, dict | list):
                stack.append((value, here, depth + 1, _advance(item_array, matched, key, node)))
            elif isinstance(value, Refused):
                if inside and value.reason == NOT_A_NUMBER:
                    node[key] = value.passed_on()
                else:
                    errors.append(FieldError(here, value.reason))
            elif isinstance(value, str) and "\x00" in value and not inside:
                errors.append(FieldError(here, "text may not contain NUL (\\u0000)"))
    if errors:
        summary = "; ".join(f"{e.field}: {e.detail}" for e in errors[:3])
        raise ValidationFailed(summary, errors=errors)
    return document


def _advance(item_array: list[str] | None, matched: int, key: Any, parent: Any) -> int:
    """How much of the `per_item` path a child's pointer has matched."""
    if item_array is None or matched < 0:
        return -1
    if matched > len(item_array):
        return matched  # already inside an item
    if matched == len(item_array):
        return matched + 1 if isinstance(parent, list) else -1
    return matched + 1 if str(key) == item_array[matched] else -1


def parse_json(
    raw: bytes, content_type: str | None, *, numbers: int, per_item: str | None = None
) -> Any:
    """The request body as checked JSON: 415 for another media type, 400 if it is not JSON,
    413 past the number budget, 422 naming each value no field here can take."""
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media not in ("application/json", "application/geo+json") and not media.endswith("+json"):
        raise UnsupportedMediaType(f"send application/json or application/geo+json, not {media}")
    if not raw.strip():
        raise MalformedRequest("the request body is empty; a JSON document is required")
    # A C-speed count first: each number after a container's first is preceded by a comma, so
    # a body with many times the budget in commas is refused before any of it is parsed.
    if raw.count(b",") > comma_ceiling(numbers):
        raise too_many_values(comma_ceiling(numbers))
    hooks = _Numbers(numbers)
    try:
        text = raw.decode("utf-8")
        document = json.loads(
            text, parse_int=hooks.integer, parse_float=hooks.real, parse_constant=hooks.constant
        )
    except UnicodeDecodeError as exc:
        raise MalformedRequest(f"the body is not UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise MalformedRequest(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except _BudgetSpent as exc:
        raise PayloadTooLarge(
            f"the body holds more than {numbers} numbers; send it in smaller parts"
        ) from exc
    except RecursionError as exc:
        raise ValidationFailed(
            f"JSON nests deeper than {MAX_DEPTH} levels",
            errors=[FieldError("", f"JSON nests deeper than {MAX_DEPTH} levels")],
        ) from exc
    return check_values(document, per_item=per_item)
