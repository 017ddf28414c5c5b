"""Each role reaches exactly its insight views over HTTP, and bad input names the field."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Api

STATS = "/api/v1/insight/statistics?by=district&period=quarter"
KP = "/api/v1/insight/kp-return?year=2019"
COVERAGE = "/api/v1/insight/coverage"
SILENT = "/api/v1/insight/non-reporting?days=30"
PLAN = "/api/v1/insight/spot-checks?district=SL-E-KO"
TASKS = "/api/v1/insight/inspection-tasks"
EXPORT = "/api/v1/insight/exports/sites?format=csv"

# who: {path: status}
EXPECTED: dict[str, dict[str, int]] = {
    "ministry": {
        STATS: 200,
        KP: 200,
        COVERAGE: 200,
        SILENT: 200,
        PLAN: 200,
        TASKS: 200,
        EXPORT: 200,
    },
    "officer": {
        STATS: 200,
        KP: 403,
        COVERAGE: 200,
        SILENT: 200,
        PLAN: 200,
        TASKS: 200,
        EXPORT: 200,
    },
    "officer_bo": {PLAN: 404},
    "buyer": {STATS: 403, KP: 403, COVERAGE: 403, SILENT: 403, PLAN: 403, TASKS: 403, EXPORT: 403},
    "exporter": {STATS: 403, KP: 403, COVERAGE: 403, SILENT: 403, EXPORT: 403},
    "export_office": {STATS: 200, KP: 200, COVERAGE: 200, PLAN: 403},
    "donor": {STATS: 200, KP: 200, COVERAGE: 200, SILENT: 403, PLAN: 403, TASKS: 403, EXPORT: 403},
    "auditor": {STATS: 200, KP: 200, SILENT: 200, PLAN: 200, TASKS: 200},
}


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_each_role_reaches_only_its_insight_views(api: Api, who: str) -> None:
    with api.client(who) as c:
        got = {path: c.get(path).status_code for path in EXPECTED[who]}
    assert got == EXPECTED[who]


def test_collections_list_purchase_points_only_to_roles_that_may_see_them(api: Api) -> None:
    def ids(who: str) -> set[str]:
        with api.client(who) as c:
            return {x["id"] for x in c.get("/api/v1/ogc/collections").json()["collections"]}

    assert "purchase-points" in ids("buyer") and "purchase-points" in ids("ministry")
    assert "purchase-points" not in ids("officer") | ids("donor")
    assert "production-by-site" not in ids("buyer")


def test_a_buyer_reads_statistics_of_its_own_organisation_only(api: Api) -> None:
    with api.client("buyer") as c:
        r = c.get("/api/v1/insight/statistics?by=buyer&period=month")
    assert r.status_code == 200
    mine = str(api.organisations["buying_office"])
    assert {i["buyer"] for i in r.json()["items"]} <= {mine}


def test_only_supervisors_refresh_and_issue_tasks(api: Api) -> None:
    with api.client("officer") as c:
        assert c.post("/api/v1/insight/refresh").status_code == 403
        body = {"district": "SL-E-KO", "officer_id": str(api.users["officer"].id), "top": 1}
        assert c.post(TASKS, json=body).status_code == 403


@pytest.mark.parametrize(
    ("who", "path", "pointer"),
    [
        ("ministry", "/api/v1/insight/statistics?period=week", "#/query/period"),
        ("ministry", "/api/v1/insight/statistics?period=quarter&from=2019-13", "#/query/from"),
        ("ministry", "/api/v1/insight/kp-return?year=twenty", "#/query/year"),
        ("ministry", "/api/v1/insight/coverage?unvisited_days=0", "#/query/unvisited_days"),
        ("ministry", "/api/v1/insight/spot-checks", "#/query/district"),
        ("ministry", "/api/v1/insight/exports/sites?format=xls", "#/query/format"),
        ("ministry", "/api/v1/ogc/collections/sites/items?limit=0", "#/query/limit"),
        ("ministry", "/api/v1/ogc/collections/sites/items?datetime=yesterday", "#/query/datetime"),
        ("ministry", "/api/v1/ogc/collections/sites/items?colour=red", "#/query/colour"),
    ],
)
def test_bad_insight_queries_are_problems_naming_the_parameter(
    api: Api, who: str, path: str, pointer: str
) -> None:
    with api.client(who) as c:
        r = c.get(path)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["pointer"] == pointer


def test_a_task_request_for_an_unknown_officer_names_the_field_and_changes_nothing(
    api: Api,
) -> None:
    body = {"district": "SL-E-KO", "officer_id": str(api.users["ministry"].id), "top": 2}
    with api.client("ministry") as c:
        before = c.get(TASKS).json()["items"]
        r = c.post(TASKS, json=body)
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#/officer_id"
        r = c.post(TASKS, json={**body, "top": 0})
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#/top"
        assert c.get(TASKS).json()["items"] == before
