"""The backend's error tree, and its one mapping to RFC 9457 problem responses.

    AppError                      status  code
     ├── MalformedRequest          400     malformed-request   (body is not JSON, bad query string)
     ├── Unauthenticated           401     unauthenticated
     ├── Forbidden                 403     forbidden
     ├── NotFound                  404     not-found
     ├── StaleVersion              409     stale-version
     ├── Duplicate                 409     duplicate
     ├── PayloadTooLarge           413     payload-too-large
     ├── UnsupportedMediaType      415     unsupported-media-type
     ├── ValidationFailed          422     validation-failed   (fields named in `errors`)
          └── OverlapRefused       422     licence-overlap

geodata.GeoError becomes ValidationFailed with its own code and JSON pointer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pydantic

from geodata.errors import GeoError

PROBLEM_TYPE_PREFIX = "tag:alluvial-trace,2026:problem/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class FieldError:
    """One failing field: a dotted name for people, a JSON pointer for programs."""

    __slots__ = ("detail", "pointer")

    def __init__(self, pointer: str, detail: str) -> None:
        self.pointer = pointer if pointer.startswith("/") or pointer == "" else "/" + pointer
        self.detail = detail

    @property
    def field(self) -> str:
        return ".".join(p for p in self.pointer.split("/") if p) or "body"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "pointer": "#" + self.pointer, "detail": self.detail}


class AppError(Exception):
    status: int = 500
    code: str = "internal-error"
    title: str = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        errors: Iterable[FieldError] = (),
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)
        if code is not None:
            self.code = code
        self.extra = extra or {}

    def problem(self, instance: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_PREFIX + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        body.update(self.extra)
        return body


class MalformedRequest(AppError):
    status, code, title = 400, "malformed-request", "Malformed request"


class Unauthenticated(AppError):
    status, code, title = 401, "unauthenticated", "Authentication required"


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Outside your role or scope"


class NotFound(AppError):
    status, code, title = 404, "not-found", "Not found"


class StaleVersion(AppError):
    status, code, title = 409, "stale-version", "The record changed since you read it"


class Duplicate(AppError):
    status, code, title = 409, "duplicate", "A record with this identity exists"


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(AppError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(AppError):
    status, code, title = 422, "validation-failed", "Invalid input"


class OverlapRefused(ValidationFailed):
    code, title = "licence-overlap", "Licensed area overlaps an active licence"


def field_error(pointer: str, detail: str) -> ValidationFailed:
    """A 422 about one field."""
    return ValidationFailed(detail, errors=[FieldError(pointer, detail)])


def from_geo_error(err: GeoError, *, prefix: str = "") -> ValidationFailed:
    return ValidationFailed(
        err.detail, errors=[FieldError(prefix + err.pointer, err.detail)], code=err.code
    )


def from_pydantic(err: pydantic.ValidationError, *, prefix: str = "") -> ValidationFailed:
    errors = [FieldError(prefix + _pointer(e["loc"]), _message(e)) for e in err.errors()]
    summary = "; ".join(f"{fe.field}: {fe.detail}" for fe in errors)
    return ValidationFailed(summary, errors=errors)


def _pointer(loc: Sequence[int | str]) -> str:
    return "".join("/" + str(part) for part in loc)


def _message(e: Any) -> str:
    msg = str(e["msg"])
    return msg.removeprefix("Value error, ")
