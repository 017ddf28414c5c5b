"""`/openapi.json` is a valid OpenAPI 3.1 document describing every route with its schemas."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from backend.api import openapi
from backend.app import VERSION, endpoints


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return openapi.build(endpoints(), title="test", version=VERSION)


def test_spec_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    validate(spec)


def test_every_route_is_described_with_its_request_and_response_schemas(
    spec: dict[str, Any],
) -> None:
    for e in endpoints():
        op = spec["paths"][e.path][e.method.lower()]
        assert op["summary"]
        if e.method in ("POST", "PATCH"):
            assert "requestBody" in op or e.request is None, e.path
        success = op["responses"][str(e.status)]
        assert "content" in success, f"{e.method} {e.path} has no response schema"


def test_every_api_route_documents_problem_responses(spec: dict[str, Any]) -> None:
    api_paths = {p: ops for p, ops in spec["paths"].items() if p.startswith(("/api/", "/sync/"))}
    prefixed = {e.path for e in endpoints() if e.path.startswith(("/api/", "/sync/"))}
    assert len(api_paths) == len(prefixed)
    for path, ops in api_paths.items():
        for method, op in ops.items():
            problems = [r for s, r in op["responses"].items() if s.startswith(("4", "5"))]
            assert problems, f"{method} {path}"
            for r in problems:
                assert "application/problem+json" in r["content"]


def test_authenticated_routes_declare_bearer_security(spec: dict[str, Any]) -> None:
    token_route = spec["paths"]["/api/v1/auth/token"]["post"]
    assert "security" not in token_route
    assert spec["paths"]["/api/v1/sites"]["post"]["security"] == [{"bearer": []}]


def test_service_routes_are_described_too(spec: dict[str, Any]) -> None:
    assert {"/healthz", "/openapi.json"} <= set(spec["paths"])


def test_operation_ids_are_unique(spec: dict[str, Any]) -> None:
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
