"""No input reaches a 5xx: every route family refuses hostile values as a problem naming them.

The sweeps are table-driven over the server's own /openapi.json, so a route added later is
covered by the same checks: NUL in query strings and bodies, JSON nested 10,000 deep, numbers
no field can take, times at the edges of the calendar.
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Api
from tests.e2e.helpers import assert_problem, create_organisation, created, miner_body
from tests.sync.server_helpers import Device

API = "/api/v1"
Json = dict[str, Any]
CALENDAR_EDGES = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00")
DATE_EDGES = ("0001-01-01", "9999-12-31")
PER_ITEM = {("POST", "/sync/v1/push")}  # each op answered on its own (issue 8 item 7)


@pytest.fixture(scope="module")
def spec(api: Api) -> Json:
    r = httpx.get(api.base_url + "/openapi.json")
    assert r.status_code == 200
    body: Json = r.json()
    return body


@pytest.fixture
def device(api: Api) -> Iterator[Device]:
    enrolled = Device(api, "officer")
    try:
        yield enrolled
    finally:
        enrolled.close()


@pytest.fixture
def admin(api: Api) -> Iterator[httpx.Client]:
    with api.client("admin") as c:
        yield c


def operations(spec: Json) -> list[tuple[str, str, Json]]:
    return [
        (method.upper(), path, op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def concrete(path: str) -> str:
    """A path with every parameter filled by a well-formed id of no record."""
    for name in ("{id}", "{code}"):
        path = path.replace(name, str(uuid.uuid4()))
    return path.replace("{sha256}", "0" * 64)


def json_bodied(spec: Json) -> list[tuple[str, str, Json]]:
    return [
        (m, p, op)
        for m, p, op in operations(spec)
        if any("json" in media for media in op.get("requestBody", {}).get("content", {}))
    ]


def send(client: httpx.Client, method: str, path: str, raw: bytes | str) -> httpx.Response:
    content = raw.encode() if isinstance(raw, str) else raw
    return client.request(
        method, concrete(path), content=content, headers={"Content-Type": "application/json"}
    )


# --- query strings -------------------------------------------------------------------------


def test_nul_in_any_query_parameter_is_a_422_naming_it_on_every_route(
    admin: httpx.Client, spec: Json
) -> None:
    for method, path, op in operations(spec):
        if not path.startswith(("/api/", "/sync/")):
            continue  # /healthz and /openapi.json read no query string
        declared = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
        for name in [*declared[:1], "anything"]:
            r = admin.request(method, concrete(path), params={name: "a\x00b"})
            assert_problem(r, 422, f"query.{name}")


def test_conflict_status_of_nul_is_a_422(admin: httpx.Client) -> None:
    assert_problem(admin.get("/sync/v1/conflicts?status=%00"), 422, "query.status")


def test_time_filters_at_the_calendar_edges_are_a_422_naming_them(
    api: Api, admin: httpx.Client, spec: Json
) -> None:
    required = {"organisation_id": str(api.organisations["buying_office"])}
    checked = 0
    for method, path, op in operations(spec):
        for param in op.get("parameters", []):
            fmt = param.get("schema", {}).get("format")
            if param["in"] != "query" or (
                fmt not in ("date-time", "date")
                and param["name"] not in ("from", "to", "updated_since")
            ):
                continue
            for edge in CALENDAR_EDGES:
                declared = {p["name"] for p in op.get("parameters", [])}
                params = {k: v for k, v in required.items() if k in declared}
                params[param["name"]] = edge
                r = admin.request(method, concrete(path), params=params)
                assert_problem(r, 422, f"query.{param['name']}")
                checked += 1
    assert checked >= 10  # every list's updated_since, and custody's from/to


def test_integer_query_parameters_past_the_database_range_are_a_422_naming_them(
    admin: httpx.Client, spec: Json
) -> None:
    checked = 0
    for method, path, op in operations(spec):
        for param in op.get("parameters", []):
            if param["in"] != "query" or param.get("schema", {}).get("type") != "integer":
                continue
            for value in (str(2**63), "9" * 5000):
                r = admin.request(method, concrete(path), params={param["name"]: value})
                assert_problem(r, 422, f"query.{param['name']}")
                checked += 1
    assert checked >= 10


# --- bodies: one reader for every route ------------------------------------------------------

HOSTILE_BODIES: dict[str, tuple[str, str]] = {
    # name: (body, the field the problem must name)
    "nul in a value": ('{"name": "a\\u0000b"}', "name"),
    "nul in a member name": ('{"na\\u0000me": "x"}', "na\x00me"),
    "nested 10,000 deep": ("[" * 10_000 + "]" * 10_000, ""),
    "integer of 5000 digits": ('{"count": ' + "7" * 5000 + "}", "count"),
    "400-digit coordinate": (
        '{"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": ['
        + "1" * 400
        + ", 8.5]}}",
        "geometry.coordinates.0",
    ),
    "1e30": ('{"counted_stones": 1e30}', "counted_stones"),
    "2^63": ('{"seq": 9223372036854775808}', "seq"),
    "NaN": ('{"x": NaN}', "x"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_BODIES))
def test_hostile_json_is_a_422_naming_the_value_on_every_route_with_a_body(
    admin: httpx.Client, spec: Json, case: str
) -> None:
    raw, field = HOSTILE_BODIES[case]
    routes = json_bodied(spec)
    assert len(routes) >= 15
    for method, path, _op in routes:
        r = send(admin, method, path, raw)
        if field == "":
            body = assert_problem(r, 422)
            assert any(e["pointer"] == "#" for e in body["errors"]), body
        elif "\x00" in field:
            body = assert_problem(r, 422)
            assert any(e["pointer"] == "#/na\x00me" for e in body["errors"]), body
        else:
            assert_problem(r, 422, field)


def test_a_body_is_not_read_before_the_caller_is_known(api: Api) -> None:
    bomb = gzip.compress(b"[" + b"1," * 5_000_000 + b"1]", compresslevel=9)
    with httpx.Client(base_url=api.base_url) as anonymous:
        r = anonymous.post(
            API + "/miners",
            content=bomb,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
    assert_problem(r, 401)


def test_gzip_body_inflating_past_the_body_limit_is_a_413_outside_sync(
    admin: httpx.Client,
) -> None:
    # 10 MiB inflated: within a sync push's ceiling, past every other route's 2 MiB.
    bomb = gzip.compress(b'{"name": "' + b"a" * 10 * 1024 * 1024 + b'"}', compresslevel=9)
    assert len(bomb) < 64 * 1024
    r = admin.post(
        API + "/organisations",
        content=bomb,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert_problem(r, 413)


def million_vertex_push() -> bytes:
    """The issue's probe: about 31 KiB of gzip that inflates to a 1,000,000-vertex Feature."""
    ring = b"[-11.0,8.5]," * 1_000_000 + b"[-11.0,8.5]"
    op = (
        b'{"op_id": "%s", "seq": 1, "entity": "site", "record_id": "%s", "kind": "create",'
        b' "fields": {"geometry": {"type": "Polygon", "coordinates": [[%s]]}},'
        b' "device_time": "2026-01-01T00:00:00Z"}'
        % (str(uuid.uuid4()).encode(), str(uuid.uuid4()).encode(), ring)
    )
    return gzip.compress(b'{"sent_at": "2026-01-01T00:00:00Z", "ops": [%s]}' % op, 9)


def test_push_of_a_million_vertex_geometry_is_refused_as_too_large_before_it_is_parsed(
    device: Device,
) -> None:
    r = device.http.post(
        "/sync/v1/push",
        content=million_vertex_push(),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert_problem(r, 413)


# --- field validators shared by every schema -------------------------------------------------


def resolve(spec: Json, schema: Json) -> Json:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def variants(spec: Json, schema: Json) -> Iterator[Json]:
    """Each alternative of a (possibly discriminated) object schema, resolved."""
    schema = resolve(spec, schema)
    branches = schema.get("oneOf") or schema.get("anyOf")
    if branches:
        for branch in branches:
            yield from variants(spec, branch)
    elif schema.get("type") == "object" or "properties" in schema:
        yield schema


def time_fields(spec: Json, schema: Json) -> Iterator[tuple[Json, str, str]]:
    """(a body skeleton with the variant's constants, the time field's pointer, its format)."""
    for variant in variants(spec, schema):
        props = variant.get("properties", {})
        if "geometry" in props and "properties" in props:  # a GeoJSON Feature
            for inner in variants(spec, props["properties"]):
                for name, field in _formatted(spec, inner):
                    geometry = sample_geometry(spec, props["geometry"])
                    skeleton = {"type": "Feature", "geometry": geometry, "properties": {}}
                    yield skeleton, f"properties.{name}", field
            continue
        for name, field in _formatted(spec, variant):
            consts = {
                k: resolve(spec, v)["const"]
                for k, v in props.items()
                if "const" in resolve(spec, v)
            }
            yield consts, name, field


def sample_geometry(spec: Json, schema: Json) -> Json:
    """A small valid geometry of a type the schema allows."""
    kinds = set()
    stack = [schema]
    while stack:
        node = resolve(spec, stack.pop())
        stack.extend(node.get("oneOf", []) + node.get("anyOf", []))
        kinds.add(resolve(spec, node.get("properties", {}).get("type", {})).get("const"))
    if "Point" in kinds:
        return {"type": "Point", "coordinates": [-10.97, 8.64]}
    ring = [[-10.97, 8.64], [-10.969, 8.64], [-10.969, 8.641], [-10.97, 8.641], [-10.97, 8.64]]
    return {"type": "Polygon", "coordinates": [ring]}


def _formatted(spec: Json, schema: Json) -> Iterator[tuple[str, str]]:
    for name, field in schema.get("properties", {}).items():
        options = [resolve(spec, field), *(resolve(spec, o) for o in field.get("anyOf", []))]
        for option in options:
            if option.get("format") in ("date-time", "date"):
                yield name, option["format"]
                break


def test_times_and_dates_at_the_calendar_edges_are_a_422_naming_them_in_every_body(
    admin: httpx.Client, spec: Json
) -> None:
    checked = set()
    for method, path, op in json_bodied(spec):
        if (method, path) in PER_ITEM:
            continue
        schema = next(iter(op["requestBody"]["content"].values()))["schema"]
        for skeleton, field, fmt in time_fields(spec, schema):
            for edge in CALENDAR_EDGES if fmt == "date-time" else DATE_EDGES:
                body = json.loads(json.dumps(skeleton))
                target = body["properties"] if field.startswith("properties.") else body
                target[field.split(".")[-1]] = edge
                r = admin.request(method, concrete(path), json=body)
                assert_problem(r, 422, field)
            checked.add((method, path, field))
    # visits, licences, custody events (each kind), stock takes, users' ... at the least
    assert len(checked) >= 8, checked


def test_push_with_times_at_the_calendar_edges_is_a_422_naming_them(device: Device) -> None:
    for edge in CALENDAR_EDGES:
        op = device.op("miner", "create", uuid.uuid4(), {"full_name": "x"})
        op["device_time"] = edge
        assert_problem(device.push(op), 422, "ops.0.device_time")
        assert_problem(
            device.http.post("/sync/v1/push", json={"sent_at": edge, "ops": []}), 422, "sent_at"
        )


def test_op_seq_and_base_version_past_the_database_range_are_a_422(device: Device) -> None:
    op = device.op("miner", "create", uuid.uuid4(), {"full_name": "x"})
    op["seq"] = 2**63
    assert_problem(device.push(op), 422, "ops.0.seq")
    op = device.op("miner", "update", uuid.uuid4(), {"full_name": "x"}, base_version=2**40)
    assert_problem(device.push(op), 422, "ops.0.base_version")


def test_pull_cursor_past_the_database_range_or_nested_deep_is_a_422(device: Device) -> None:
    for raw in (
        json.dumps({"district:SL-E-KO": 2**63}).encode(),
        b"[" * 5000 + b"]" * 5000,
    ):
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        r = device.http.get("/sync/v1/pull", params={"cursor": cursor})
        assert_problem(r, 422, "query.cursor")


def test_stock_count_of_1e12_stones_is_a_422_not_an_overflow(api: Api, admin: httpx.Client) -> None:
    with api.client("buyer") as buyer:
        r = buyer.post(
            API + "/stock-takes",
            json={
                "counted_at": "2026-01-01T00:00:00Z",
                "counted_carats": "1.00",
                "counted_stones": 10**12,
            },
        )
    assert_problem(r, 422, "counted_stones")


# --- partial updates: null for a column that must hold a value -------------------------------


@pytest.mark.parametrize("field", ["name", "active"])
def test_organisation_patch_setting_a_required_field_to_null_is_a_422_and_changes_nothing(
    admin: httpx.Client, field: str
) -> None:
    org = create_organisation(admin)
    path = f"{API}/organisations/{org['id']}"
    r = admin.patch(path, json={"version": org["version"], field: None})
    assert_problem(r, 422, field)
    after = admin.get(path).json()
    assert after == org


@pytest.mark.parametrize("field", ["full_name", "status", "district"])
def test_miner_patch_setting_a_required_field_to_null_is_a_422_and_changes_nothing(
    api: Api, field: str
) -> None:
    with api.client("officer") as officer:
        miner = created(officer.post(f"{API}/miners", json=miner_body()))
        path = f"{API}/miners/{miner['id']}"
        r = officer.patch(path, json={"version": miner["version"], field: None})
        assert_problem(r, 422, field)
        assert officer.get(path).json() == miner


def test_organisation_patch_may_still_clear_a_nullable_field(admin: httpx.Client) -> None:
    org = create_organisation(admin, address="1 River Road")
    r = admin.patch(
        f"{API}/organisations/{org['id']}", json={"version": org["version"], "address": None}
    )
    assert r.status_code == 200, r.text
    assert r.json()["address"] is None


# --- custody chains ---------------------------------------------------------------------------


def test_verifying_a_chain_that_does_not_exist_is_a_404(admin: httpx.Client) -> None:
    r = admin.get(f"{API}/custody/chains/{uuid.uuid4()}/verify")
    assert_problem(r, 404)


def test_verifying_an_organisations_chain_still_answers(api: Api, admin: httpx.Client) -> None:
    org_id = api.organisations["buying_office"]
    r = admin.get(f"{API}/custody/chains/{org_id}/verify")
    assert r.status_code == 200, r.text
    assert r.json()["chain_id"] == str(org_id)
