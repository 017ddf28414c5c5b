"""OGC API Features read by GDAL's own `ogrinfo` to the last page, the GeoPackage export opened
by `ogrinfo`, and every donor response free of personal data and purchase points.

The fixed dataset of tests/insight_data.py is loaded once in its own district (SL-T-E2) and
year (2018), then the aggregate is refreshed over the API.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from backend.custody.models import CustodyEvent
from backend.db import session_factory
from backend.insight.models import InsightStat
from backend.registry.models import Jurisdiction, Licence, Site
from tests import insight_data
from tests.e2e.conftest import Api

DISTRICT, YEAR = "SL-T-E2", 2018
OGRINFO = shutil.which("ogrinfo")
needs_gdal = pytest.mark.skipif(OGRINFO is None, reason="gdal-bin (ogrinfo) is not installed")


@pytest.fixture(scope="module")
def loaded(api: Api) -> insight_data.Fixed:
    with session_factory(api.engine)() as session:
        fixed = insight_data.build(session, district=DISTRICT, year=YEAR)
    with api.client("ministry") as c:
        r = c.post("/api/v1/insight/refresh")
        assert r.status_code == 200, r.text
    return fixed


def _db_counts(api: Api) -> dict[str, int]:
    with session_factory(api.engine)() as s:

        def n(stmt: Any) -> int:
            return int(s.scalar(stmt) or 0)

        agg = select(InsightStat.key_id, InsightStat.quarter).where(InsightStat.dim == "site")
        by_district = select(InsightStat.district_code, InsightStat.quarter).where(
            InsightStat.dim == "site"
        )
        return {
            "jurisdictions": n(select(func.count()).select_from(Jurisdiction)),
            "sites": n(select(func.count()).where(Site.deleted_at.is_(None))),
            "licence-areas": n(
                select(func.count()).where(
                    Licence.kind == "artisanal_mining", Licence.area.isnot(None)
                )
            ),
            "production-by-site": n(select(func.count()).select_from(agg.distinct().subquery())),
            "production-by-district": n(
                select(func.count()).select_from(by_district.distinct().subquery())
            ),
            "purchase-points": n(
                select(func.count()).where(
                    CustodyEvent.kind == "purchase", CustodyEvent.location.isnot(None)
                )
            ),
        }


def _ogr(api: Api, who: str, *args: str) -> str:
    assert OGRINFO is not None
    env = {
        **os.environ,
        "GDAL_HTTP_HEADERS": f"Authorization: Bearer {api.tokens[who]}",
        "CPL_DEBUG": "OFF",
    }
    done = subprocess.run([OGRINFO, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@needs_gdal
def test_ogrinfo_reads_every_collection_to_the_last_page_with_the_database_counts(
    api: Api, loaded: insight_data.Fixed
) -> None:
    with api.client("ministry") as c:
        ids = [col["id"] for col in c.get("/api/v1/ogc/collections").json()["collections"]]
    counts = _db_counts(api)
    assert set(ids) == set(counts)
    source = f"OAPIF:{api.base_url}/api/v1/ogc"
    for cid in ids:
        out = _ogr(api, "ministry", "-ro", "-q", "-oo", "PAGE_SIZE=40", source, cid)
        read = len(re.findall(rf"^OGRFeature\({re.escape(cid)}\):", out, re.M))
        assert read == counts[cid], (cid, read, counts[cid])
    assert counts["production-by-site"] >= 3 and counts["purchase-points"] >= 4


def test_items_page_by_next_links_with_counts_and_forwarded_host(
    api: Api, loaded: insight_data.Fixed
) -> None:
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "maps.example.org"}
    with api.client("ministry") as c:
        r = c.get("/api/v1/ogc/collections/sites/items?limit=50", headers=headers)
        assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
        body = r.json()
        nxt = next(link for link in body["links"] if link["rel"] == "next")["href"]
        assert nxt.startswith("https://maps.example.org/api/v1/ogc/collections/sites/items?")
        assert body["numberReturned"] == 50 and body["numberMatched"] > 50
        one = c.get(f"/api/v1/ogc/collections/sites/items/{loaded.s1.id}").json()
        assert one["properties"]["name"] == "Insight S1"
        bad = c.get("/api/v1/ogc/collections/sites/items?bbox=1,2,3")
        assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "#/query/bbox"
        assert c.get("/api/v1/ogc/collections/nope/items").status_code == 404


@needs_gdal
def test_geopackage_export_opens_in_ogrinfo_with_layers_counts_and_wgs84(
    api: Api, loaded: insight_data.Fixed, tmp_path: Path
) -> None:
    with api.client("ministry") as c:
        r = c.get("/api/v1/insight/exports/all?format=gpkg&by=district&period=quarter")
        assert r.status_code == 200, r.text
        stats = c.get("/api/v1/insight/statistics?by=district&period=quarter").json()["items"]
    path = tmp_path / "export.gpkg"
    path.write_bytes(r.content)
    counts = _db_counts(api)
    summary = _ogr(api, "ministry", "-ro", "-so", "-al", str(path))
    layers = dict(re.findall(r"^Layer name: (\S+)\n(?:.*\n)*?Feature Count: (\d+)", summary, re.M))
    assert layers == {
        "sites": str(counts["sites"]),
        "licence_areas": str(counts["licence-areas"]),
        "statistics": str(len(stats)),
    }
    sites = _ogr(api, "ministry", "-ro", "-so", str(path), "sites")
    assert 'ID["EPSG",4326]' in sites and "Geometry: Multi Polygon" in sites


def _donor_texts(api: Api) -> list[str]:
    paths = [
        "/api/v1/insight/statistics?by=district&period=quarter",
        "/api/v1/insight/statistics?by=site&period=month",
        f"/api/v1/insight/kp-return?year={YEAR}",
        f"/api/v1/insight/kp-return?year={YEAR}&format=csv",
        "/api/v1/insight/coverage",
        f"/api/v1/insight/coverage/trends?from={YEAR}-Q1&to={YEAR}-Q4",
        "/api/v1/ogc",
        "/api/v1/ogc/collections",
        "/api/v1/ogc/collections/production-by-site/items?limit=1000",
        "/api/v1/ogc/collections/production-by-district/items?limit=1000",
        "/api/v1/ogc/collections/sites/items?limit=1000",
        "/api/v1/ogc/collections/licence-areas/items?limit=1000",
    ]
    out = []
    with api.client("donor") as c:
        for p in paths:
            r = c.get(p)
            assert r.status_code == 200, (p, r.text)
            out.append(r.text)
    return out


def test_no_donor_insight_response_holds_a_name_phone_national_id_or_purchase_point(
    api: Api, loaded: insight_data.Fixed
) -> None:
    with session_factory(api.engine)() as s:
        people = s.execute(text("SELECT full_name, phone, national_id FROM miner")).all()
    secrets = {v for row in people for v in row if v}
    secrets |= {"Miner 0 Kamara-SL-T-E2", str(insight_data.ORIGIN[0]), str(insight_data.ORIGIN[1])}
    for body in _donor_texts(api):
        leaked = [v for v in secrets if v in body]
        assert not leaked, leaked
    with api.client("donor") as c:
        assert c.get("/api/v1/ogc/collections/purchase-points/items").status_code == 404
        assert c.get("/api/v1/insight/statistics?by=buyer").status_code == 403
        assert c.get("/api/v1/insight/statistics?by=licence").status_code == 403
        assert c.get("/api/v1/insight/non-reporting").status_code == 403
        assert c.get("/api/v1/insight/exports/sites").status_code == 403


@pytest.mark.parametrize("by", ["site", "district"])
def test_statistics_pages_follow_their_cursor_to_every_row_once(
    api: Api, loaded: insight_data.Fixed, by: str
) -> None:
    base = f"/api/v1/insight/statistics?by={by}&period=month"
    with api.client("ministry") as c:
        whole = c.get(base + "&limit=1000").json()
        assert whole["next_cursor"] is None and whole["items"]
        items: list[dict[str, Any]] = []
        url: str | None = base + "&limit=1"
        while url is not None:
            page = c.get(url).json()
            assert len({row[by] for row in page["items"]}) == 1  # one key, all its months
            items += page["items"]
            url = page["next_cursor"] and f"{base}&limit=1&cursor={page['next_cursor']}"
        assert items == whole["items"]
        first = c.get(base + "&limit=1").json()
        other = c.get(
            f"/api/v1/insight/statistics?by=buyer&period=month&cursor={first['next_cursor']}"
        )
    assert other.status_code == 422
    assert other.json()["errors"][0]["pointer"] == "#/query/cursor"
