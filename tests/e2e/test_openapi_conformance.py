"""Real responses conform to the schemas `/openapi.json` publishes for them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from tests.e2e.conftest import Api

READS = [
    ("admin", "/api/v1/jurisdictions?level=district&limit=3"),
    ("admin", "/api/v1/organisations?limit=3"),
    ("admin", "/api/v1/miners?limit=3"),
    ("buyer", "/api/v1/miners?limit=3"),
    ("admin", "/api/v1/licences?limit=5"),
    ("donor", "/api/v1/licences?limit=5"),
    ("officer", "/api/v1/sites?limit=3"),
    ("admin", "/api/v1/site-visits?limit=3"),
    ("auditor", "/api/v1/audit?limit=3"),
    ("admin", "/api/v1/users?limit=3"),
    ("officer", "/api/v1/auth/me"),
]


def _schema(spec: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    template = path.split("?")[0]
    op = spec["paths"][template][method]
    content = op["responses"][str(status)]["content"]
    body_schema = next(iter(content.values()))["schema"]
    return {**body_schema, "components": spec["components"]}


@pytest.fixture(scope="module")
def spec(api: Api) -> dict[str, Any]:
    with api.client() as c:
        return dict(c.get("/openapi.json").json())


@pytest.mark.parametrize(("who", "path"), READS, ids=[f"{w}:{p.split('?')[0]}" for w, p in READS])
def test_list_and_read_responses_match_their_published_schema(
    api: Api, spec: dict[str, Any], who: str, path: str
) -> None:
    with api.client(who) as c:
        r = c.get(path)
    assert r.status_code == 200, r.text
    Draft202012Validator(_schema(spec, path, "get", 200)).validate(r.json())


def test_problem_responses_match_the_problem_schema(api: Api, spec: dict[str, Any]) -> None:
    with api.client("officer") as c:
        r: httpx.Response = c.post("/api/v1/miners", json={"full_name": ""})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    Draft202012Validator(
        {"$ref": "#/components/schemas/Problem", "components": spec["components"]}
    ).validate(r.json())


def test_health_response_matches_its_published_schema(api: Api, spec: dict[str, Any]) -> None:
    with api.client() as c:
        r = c.get("/healthz")
    Draft202012Validator(_schema(spec, "/healthz", "get", 200)).validate(r.json())


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("TRACE", "/api/v1/sites", "GET, HEAD, POST"),
        ("PUT", "/api/v1/miners/01a22d7a-5a62-7000-a453-18d2c378b037", "DELETE, GET, HEAD, PATCH"),
        ("POST", "/sync/v1/attachments/missing", "GET, HEAD"),
    ],
)
def test_a_405_names_every_method_the_path_answers_in_allow(
    api: Api, method: str, path: str, allow: str
) -> None:
    with api.client("admin") as c:
        r = c.request(method, path)
    assert r.status_code == 405
    assert r.headers["allow"] == allow
    assert r.headers["content-type"].startswith("application/problem+json")


FILES = [
    ("ministry", "/api/v1/insight/kp-return?format=csv"),
    ("ministry", "/api/v1/insight/kp-return"),
    ("ministry", "/api/v1/insight/exports/sites?format=csv"),
    ("ministry", "/api/v1/insight/exports/sites?format=geojson"),
    ("ministry", "/api/v1/insight/exports/all?format=gpkg"),
]


@pytest.mark.parametrize(("who", "path"), FILES, ids=[p for _, p in FILES])
def test_every_format_an_endpoint_answers_in_is_a_documented_content_type(
    api: Api, spec: dict[str, Any], who: str, path: str
) -> None:
    with api.client(who) as c:
        r = c.get(path)
    assert r.status_code == 200, r.text
    template = "/api/v1/insight/exports/{dataset}" if "/exports/" in path else path.split("?")[0]
    documented = spec["paths"][template]["get"]["responses"]["200"]["content"]
    assert r.headers["content-type"].split(";")[0] in documented
