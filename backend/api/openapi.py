"""`/openapi.json`: built from the declared endpoints and their pydantic models."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from backend.api.routing import PATH_SCHEMAS, TEXT_SCHEMA, Endpoint

REF = "#/components/schemas/{model}"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `errors` names each failing field by JSON pointer",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "pointer": {"type": "string"},
                    "detail": {"type": "string"},
                },
            },
        },
    },
}


def _geometry_schema(types: Iterable[str]) -> dict[str, Any]:
    nested = {"Point": 1, "LineString": 2, "Polygon": 3, "MultiPolygon": 4}
    options = []
    for t in types:
        coords: dict[str, Any] = {"type": "number"}
        for _ in range(nested[t]):
            coords = {"type": "array", "items": coords}
        options.append(
            {
                "type": "object",
                "required": ["type", "coordinates"],
                "properties": {"type": {"const": t}, "coordinates": coords},
            }
        )
    return {"oneOf": options} if len(options) > 1 else options[0]


def _feature(
    props_ref: dict[str, Any], geometry: tuple[str, ...] | None, *, nullable_geometry: bool
) -> dict[str, Any]:
    geom = _geometry_schema(geometry or ("Point",))
    if nullable_geometry:
        geom = {"oneOf": [geom, {"type": "null"}]}
    return {
        "type": "object",
        "required": ["type", "properties"],
        "properties": {
            "type": {"const": "Feature"},
            "id": {"type": "string"},
            "geometry": geom,
            "properties": props_ref,
        },
    }


def build(endpoints: Iterable[Endpoint], *, title: str, version: str) -> dict[str, Any]:
    endpoints = list(endpoints)
    models: set[type[BaseModel]] = set()
    for e in endpoints:
        models.update(m for m in (e.request, e.response) if m is not None)
    _, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)], ref_template=REF
    )
    schemas = dict(defs.get("$defs", {}))
    schemas["Problem"] = PROBLEM_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        op: dict[str, Any] = {
            "operationId": _operation_id(e),
            "summary": e.summary,
            "tags": [e.tag],
            "parameters": [
                {
                    "name": n,
                    "in": "path",
                    "required": True,
                    "schema": PATH_SCHEMAS.get(conv, TEXT_SCHEMA),
                }
                for n, conv in re.findall(r"{(\w+)(?::(\w+))?}", e.path)
            ]
            + [
                {
                    "name": q.name,
                    "in": "query",
                    "required": q.required,
                    "description": q.description,
                    "schema": q.schema,
                }
                for q in e.query
            ],
            "responses": {},
        }
        if e.auth:
            op["security"] = [{"bearer": []}]
        if e.request is not None:
            ref = {"$ref": REF.format(model=e.request.__name__)}
            body = (
                _feature(ref, e.geometry, nullable_geometry=True)
                if e.geometry and e.shape != "object"
                else ref
            )
            media = (
                "application/geo+json" if e.geometry and e.shape != "object" else "application/json"
            )
            op["requestBody"] = {
                "required": True,
                "content": {media: {"schema": body}, "application/json": {"schema": body}},
            }
        if e.response is not None:
            ref = {"$ref": REF.format(model=e.response.__name__)}
            if e.shape == "feature":
                schema, media = (
                    _feature(ref, e.geometry, nullable_geometry=True),
                    "application/geo+json",
                )
            elif e.shape == "collection":
                schema = {
                    "type": "object",
                    "required": ["type", "features"],
                    "properties": {
                        "type": {"const": "FeatureCollection"},
                        "features": {
                            "type": "array",
                            "items": _feature(ref, e.geometry, nullable_geometry=True),
                        },
                        "numberReturned": {"type": "integer"},
                        "next_cursor": {"type": ["string", "null"]},
                        "links": {"type": "array", "items": {"type": "object"}},
                    },
                }
                media = "application/geo+json"
            else:
                schema, media = ref, "application/json"
            op["responses"][str(e.status)] = {
                "description": "success",
                "content": {media: {"schema": schema}, **_alternates(e)},
            }
        else:
            # No model: a JSON document of the endpoint's own shape, or bytes (files, pages).
            is_json = e.media_type.endswith(("/json", "+json"))
            body = {"type": "object"} if is_json else {"type": "string", "format": "binary"}
            op["responses"][str(e.status)] = {
                "description": "success",
                "content": {e.media_type: {"schema": body}, **_alternates(e)},
            }
        problem = {
            "content": {
                "application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}
            }
        }
        for status in sorted(_error_statuses(e)):
            op["responses"][str(status)] = {"description": _REASONS.get(status, "error"), **problem}
        paths.setdefault(template_of(e.path), {})[e.method.lower()] = op
    paths.update(SERVICE_PATHS)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _alternates(e: Endpoint) -> dict[str, Any]:
    """The other media types of an endpoint's success answer: files, as bytes."""
    return {m: {"schema": {"type": "string", "format": "binary"}} for m in e.alternates}


SERVICE_PATHS: dict[str, dict[str, Any]] = {
    "/healthz": {
        "get": {
            "operationId": "service_health",
            "summary": "Liveness and database reachability",
            "tags": ["service"],
            "responses": {
                "200": {
                    "description": "up",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["status", "database", "version"],
                                "properties": {
                                    "status": {"const": "ok"},
                                    "database": {"type": "string"},
                                    "version": {"type": "string"},
                                },
                            }
                        }
                    },
                }
            },
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "service_openapi",
            "summary": "This description",
            "tags": ["service"],
            "responses": {
                "200": {
                    "description": "OpenAPI 3.1",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
}


_REASONS = {
    400: "malformed request",
    401: "no valid bearer token",
    403: "outside your role or scope",
    404: "not found",
    409: "stale version or duplicate",
    413: "body too large",
    415: "unsupported media type",
    422: "invalid input",
}


def _error_statuses(e: Endpoint) -> set[int]:
    """Every error status the server can answer this operation with, not only the declared."""
    statuses = {*e.errors, 400, 413}
    if e.auth:
        statuses.add(401)
    if re.search(r"{\w+(:\w+)?}", e.path):
        statuses.add(404)  # a path that names no record (or not one in your scope)
    if e.query or e.request is not None or e.geometry is not None:
        statuses.add(422)  # a query parameter or body the handler refuses, naming the field
    if e.method in ("POST", "PUT", "PATCH") and not e.raw_body:
        statuses.add(415)  # a body that is not JSON
    return statuses


def template_of(path: str) -> str:
    """The path as OpenAPI writes it: `{sha256:sha256}` (a Starlette convertor) is `{sha256}`."""
    return re.sub(r"{(\w+):\w+}", r"{\1}", path)


def _operation_id(e: Endpoint) -> str:
    return e.handler.__module__.split(".")[-2] + "_" + e.handler.__name__
