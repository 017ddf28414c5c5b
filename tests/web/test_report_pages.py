"""Dashboard, certificate and evidence pages in headless Chromium, against the APIs they read."""

from __future__ import annotations

import csv
import io
import time
from datetime import date
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.e2e.conftest import Api
from tests.e2e.test_certificates_api import evidence, reencode, sealed_lots
from tests.web.conftest import issue_certificate, sign_in, sign_out, username, wait_for_map

API = "/api/v1"


def _quarter(d: date, back: int = 0) -> str:
    index = d.year * 4 + (d.month - 1) // 3 - back
    return f"{index // 4}-Q{index % 4 + 1}"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def test_dashboard_shows_the_insight_api_figures_and_downloads_them_as_csv(
    page: webdriver.Chrome, server: str, api: Api, downloads: Path
) -> None:
    with api.client("ministry") as c:
        assert c.post(f"{API}/insight/refresh").status_code == 200
    sign_in(page, server, username(api, "donor"), "/dashboard")
    WebDriverWait(page, 30).until(
        lambda d: d.find_element(By.ID, "charts").get_attribute("data-ready") == "true"
    )
    today = date.today()
    first, last = _quarter(today, 3), _quarter(today)
    with api.client("donor") as c:
        coverage = c.get(f"{API}/insight/coverage").raise_for_status().json()["items"]
        trends = (
            c.get(f"{API}/insight/coverage/trends", params={"from": first, "to": last})
            .raise_for_status()
            .json()["items"]
        )
    assert coverage and trends
    rows = page.find_elements(By.CSS_SELECTOR, "#coverage-table tbody tr")
    assert [r.get_attribute("data-district") for r in rows] == [i["district"] for i in coverage]
    for row, item in zip(rows, coverage, strict=True):
        for cell in row.find_elements(By.CSS_SELECTOR, "td[data-field]"):
            field = str(cell.get_attribute("data-field"))
            assert cell.get_attribute("data-value") == _text(item[field]), (item["district"], field)
    for figure in page.find_elements(By.CSS_SELECTOR, "figure.chart"):
        metric = str(figure.get_attribute("data-metric"))
        expected: dict[str, int] = {}
        for item in trends:
            expected[item["quarter"]] = expected.get(item["quarter"], 0) + int(item[metric])
        shown = {
            row.find_element(By.TAG_NAME, "th").get_attribute("textContent"): int(
                str(row.find_element(By.TAG_NAME, "td").get_attribute("data-value"))
            )
            for row in figure.find_elements(By.CSS_SELECTOR, "table.chart-data tbody tr")
        }
        assert shown == expected, metric
    # Each chart downloads as CSV: the rows are the API's, district by quarter.
    page.find_element(By.CSS_SELECTOR, "button[data-csv=purchases]").click()
    target = downloads / "purchases.csv"
    deadline = time.monotonic() + 15
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    got = list(csv.reader(io.StringIO(target.read_text("utf-8"))))
    assert got[0] == ["district", "quarter", "purchases"]
    assert got[1:] == [[i["district"], i["quarter"], str(i["purchases"])] for i in trends]


def test_certificate_page_shows_status_and_checks_a_pasted_payload_without_a_server_call(
    page: webdriver.Chrome, server: str, api: Api, origin: dict[str, Any]
) -> None:
    cert = issue_certificate(api, origin)
    number, payload = cert["number"], cert["payload"]
    page.get(f"{server}/certificates/{number}")
    assert page.find_element(By.ID, "cert-status").get_attribute("data-status") == "valid"
    carats = page.find_element(By.CSS_SELECTOR, "#cert-fields dd[data-field=carats]").text
    assert carats == cert["carats"]
    requests_before = page.execute_script("return performance.getEntriesByType('resource').length")

    def check(text: str) -> str:
        box = page.find_element(By.ID, "payload")
        box.clear()
        box.send_keys(text)
        page.execute_script("document.getElementById('payload-result').dataset.verdict = ''")
        page.find_element(By.ID, "check-payload").click()
        return str(
            WebDriverWait(page, 10).until(
                lambda d: d.find_element(By.ID, "payload-result").get_attribute("data-verdict")
            )
        )

    assert check(payload) == "valid"
    assert check(reencode(payload, ct="9999.99")) == "invalid"
    assert check(reencode(payload, exp="Forged Exporter")) == "invalid"
    prefix, body, signature = payload.split(".")
    flipped = ("A" if signature[3] != "A" else "B").join((signature[:3], signature[4:]))
    assert check(".".join((prefix, body, flipped))) == "invalid"
    assert check("not a payload") == "invalid"
    requests_after = page.execute_script("return performance.getEntriesByType('resource').length")
    assert requests_after == requests_before  # every check ran in the browser alone

    with api.client("export_office") as office:
        voided = office.post(
            f"{API}/certificates/{number}/void", json={"reason": "issued on a wrong importer"}
        )
        assert voided.status_code == 200, voided.text
    page.get(f"{server}/certificates/{number}")
    assert page.find_element(By.ID, "cert-status").get_attribute("data-status") == "voided"
    page.get(f"{server}/certificates/SL-1999-999999")
    assert page.find_element(By.ID, "cert-status").get_attribute("data-status") == "unknown"


def test_evidence_page_shows_each_check_verdict_and_sentence_of_the_latest_report(
    page: webdriver.Chrome, server: str, api: Api, origin: dict[str, Any]
) -> None:
    lot = sealed_lots(api, origin)[0]
    evidence(api, lot, "fail", custody="fail", licences="warn")
    with api.client("export_office") as office:
        report = office.get(f"{API}/lots/{lot}/evidence").raise_for_status().json()
    sign_in(page, server, username(api, "export_office"), f"/lots/{lot}/evidence")
    assert page.find_element(By.ID, "ev-verdict").get_attribute("data-verdict") == "fail"
    rows = page.find_elements(By.CSS_SELECTOR, "#ev-checks tbody tr")
    assert [(r.get_attribute("data-check"), r.get_attribute("data-verdict")) for r in rows] == [
        (c["id"], c["verdict"]) for c in report["checks"]
    ]
    assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows] == [
        c["sentence"] for c in report["checks"]
    ]
    # A donor reads no custody evidence.
    sign_out(page)
    sign_in(page, server, username(api, "donor"), f"/lots/{lot}/evidence")
    assert "may not open this page" in page.find_element(By.TAG_NAME, "main").text


def test_map_shades_each_district_by_the_carats_the_insight_api_reports_for_the_period(
    page: webdriver.Chrome, server: str, api: Api, origin: dict[str, Any]
) -> None:
    from tests.web.test_pages import _purchase_lot

    _purchase_lot(api, origin)
    period = _quarter(date.today())
    with api.client("ministry") as c:
        assert c.post(f"{API}/insight/refresh").status_code == 200
        stats = (
            c.get(
                f"{API}/insight/statistics",
                params={"by": "district", "period": "quarter", "from": period, "to": period},
            )
            .raise_for_status()
            .json()["items"]
        )
    expected = {row["district"]: str(row["carats"]) for row in stats if row["district"]}
    assert expected, "the purchase above is in this quarter"
    sign_in(page, server, username(api, "ministry"), "/map")
    wait_for_map(page)
    Select(page.find_element(By.ID, "f-period")).select_by_value(period)
    WebDriverWait(page, 30).until(
        lambda d: d.find_element(By.ID, "map").get_attribute("data-production")
    )
    wait_for_map(page)
    shown = {
        str(p.get_attribute("data-code")): str(p.get_attribute("data-carats"))
        for p in page.find_elements(By.CSS_SELECTOR, "path.district")
    }
    for code, carats in shown.items():
        assert carats == expected.get(code, "0"), code
    assert set(expected) <= set(shown)
    legend = page.find_element(By.ID, "shading-legend")
    assert legend.is_displayed() and len(legend.find_elements(By.TAG_NAME, "li")) == 5
