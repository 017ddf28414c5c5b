"""`/openapi.json` is a valid OpenAPI 3.1 document describing every route with its schemas."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from backend.api import openapi
from backend.api.routing import TEXT_SCHEMA
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
        op = spec["paths"][openapi.template_of(e.path)][e.method.lower()]
        assert op["summary"]
        if e.method in ("POST", "PATCH"):
            assert "requestBody" in op or e.request is None, e.path
        success = op["responses"][str(e.status)]
        assert "content" in success, f"{e.method} {e.path} has no response schema"


def test_every_api_route_documents_problem_responses(spec: dict[str, Any]) -> None:
    api_paths = {p: ops for p, ops in spec["paths"].items() if p.startswith(("/api/", "/sync/"))}
    prefixed = {
        openapi.template_of(e.path) for e in endpoints() if e.path.startswith(("/api/", "/sync/"))
    }
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


def _query_params(spec: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    op = spec["paths"][path][method]
    return {p["name"]: p for p in op["parameters"] if p["in"] == "query"}


@pytest.mark.parametrize("path", ["/api/v1/miners/{id}", "/api/v1/sites/{id}"])
def test_a_delete_declares_its_version_required(spec: dict[str, Any], path: str) -> None:
    version = _query_params(spec, path, "delete")["version"]
    assert version["required"] is True
    assert version["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}


def test_uuid_time_and_bbox_query_parameters_have_their_real_schemas(
    spec: dict[str, Any],
) -> None:
    visits = _query_params(spec, "/api/v1/site-visits")
    assert visits["site_id"]["schema"]["format"] == "uuid"
    assert visits["updated_since"]["schema"]["format"] == "date-time"
    assert visits["bbox"]["schema"]["format"] == "bbox"
    assert visits["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000}
    events = _query_params(spec, "/api/v1/custody-events")
    assert {s["format"] for s in events["from"]["schema"]["anyOf"]} == {"date-time", "date"}
    assert events["lot_id"]["schema"]["format"] == "uuid"


def test_no_query_parameter_is_left_a_plain_string_where_the_server_parses_it(
    spec: dict[str, Any],
) -> None:
    parsed = {"limit", "bbox", "updated_since", "from", "to", "version", "offset", "geometry"}
    parsed |= {"escalated", "status", "kind", "level", "path", "scope"}
    # The audit trail's entity_id is free text: record UUIDs and jurisdiction codes alike.
    free_text = {("/api/v1/audit", "entity_id")}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for p in op.get("parameters", []):
                if (path, p["name"]) in free_text or p["in"] != "query":
                    continue
                if p["name"] in parsed or p["name"].endswith("_id"):
                    assert (
                        p["schema"].get("type") != "string"
                        or "format" in p["schema"]
                        or (
                            "enum" in p["schema"]
                            or p["schema"]["pattern"] != TEXT_SCHEMA["pattern"]
                        )
                    ), f"{method} {path} {p['name']}"


def test_operations_that_read_input_document_422(spec: dict[str, Any]) -> None:
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            takes_input = "requestBody" in op or any(
                p["in"] == "query" for p in op.get("parameters", [])
            )
            if takes_input:
                assert "422" in op["responses"], f"{method} {path}"


def test_a_sha256_path_parameter_is_described_by_its_pattern(spec: dict[str, Any]) -> None:
    op = spec["paths"]["/sync/v1/attachments/{sha256}"]["get"]
    (param,) = op["parameters"]
    assert param["schema"]["pattern"] == "^[0-9a-f]{64}$"


def test_every_schema_reference_resolves(spec: dict[str, Any]) -> None:
    """Two request models with one class name must not leave a `$ref` pointing at nothing."""
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    schemas = spec["components"]["schemas"]
    missing = sorted({r for r in refs if r.rsplit("/", 1)[-1] not in schemas})
    assert refs and missing == []
