"""Web pages in headless Chromium: sign-in, the map against the API, trace, French, axe."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from backend.auth.tokens import SESSION_COOKIE
from tests.e2e.conftest import HOME_DISTRICT, Api
from tests.web.conftest import (
    DESKTOP,
    PHONE,
    axe_violations,
    issue_certificate,
    sign_in,
    sign_out,
    username,
    wait_for_map,
)

MESSAGES = Path(__file__).parents[2] / "backend" / "web" / "messages"
API = "/api/v1"
CLICK_SITE = (
    "document.querySelector('path.site').dispatchEvent(new MouseEvent('click', {bubbles: true}))"
)


def _all_features(client: httpx.Client, url: str) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        body = client.get(next_url).raise_for_status().json()
        features += body["features"]
        next_url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    return features


def _count(driver: webdriver.Chrome, css: str) -> int:
    return len(driver.find_elements(By.CSS_SELECTOR, css))


def _purchase_lot(api: Api, origin: dict[str, Any]) -> str:
    from datetime import timedelta
    from uuid import uuid4

    from backend.clock import utcnow

    with api.client("buyer") as c:
        r = c.post(
            f"{API}/custody-events",
            json={
                "kind": "purchase",
                "occurred_at": (utcnow() - timedelta(hours=1)).isoformat(),
                "site_id": origin["site_id"],
                "miner_id": origin["miner_id"],
                "output": {"tag": f"WEB-{uuid4().hex[:6]}", "carats": "2.500", "stone_count": 4},
                "price": "900.00",
                "currency": "USD",
                "usd_value": "900.00",
                "receipt_number": f"WEB-{uuid4().hex[:10]}",
                "location": origin["location"],
            },
        )
    assert r.status_code == 201, r.text
    return str(r.json()["outputs"][0]["lot_id"])


# --- landing page and links ----------------------------------------------------------------------


def test_landing_is_json_for_api_clients_and_html_for_browsers_and_every_link_answers(
    server: str,
) -> None:
    with httpx.Client(base_url=server) as c:
        as_json = c.get("/", headers={"Accept": "application/json"})
        assert as_json.headers["content-type"].startswith("application/json")
        links = [link["href"] for link in as_json.json()["links"]]
        assert {"/openapi.json", "/docs", "/healthz", "/map", "/dashboard", "/certificates"} <= set(
            links
        )
        as_html = c.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        assert as_html.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in as_html.headers["content-security-policy"]
        hrefs = set(re.findall(r'href="(/[^"]*)"', as_html.text))
        assert {"/map", "/docs", "/signin", "/openapi.json", "/dashboard", "/certificates"} <= hrefs
        for href in sorted(hrefs | set(links)):
            r = c.get(href, follow_redirects=True)
            assert r.status_code == 200, (href, r.status_code)
        # Pages that need a session send a browser to sign in first, then back.
        r = c.get("/map")
        assert r.status_code == 303 and r.headers["location"] == "/signin?next=/map"


# --- sign-in and sign-out -------------------------------------------------------------------------


def test_sign_in_keeps_the_token_in_an_httponly_lax_cookie_that_only_reads_and_sign_out_revokes_it(
    page: webdriver.Chrome, server: str, api: Api
) -> None:
    sign_in(page, server, username(api, "ministry"), "/map")
    assert page.current_url == server + "/map"
    cookie = page.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert "expiry" in cookie  # the session ends with its token
    assert page.execute_script("return document.cookie").find(SESSION_COOKIE) < 0
    secret = cookie["value"]
    with httpx.Client(base_url=server, cookies={SESSION_COOKIE: secret}) as c:
        me = c.get(f"{API}/auth/me")
        assert me.status_code == 200 and me.json()["username"] == username(api, "ministry")
        # A cookie travels by itself, so no write is taken on its strength alone.
        refused = c.post(f"{API}/organisations", json={"name": "Cookie Ltd", "kind": "exporter"})
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
    page.find_element(By.CSS_SELECTOR, ".account button[type=submit]").click()
    WebDriverWait(page, 15).until(lambda d: d.get_cookie(SESSION_COOKIE) is None)
    with httpx.Client(base_url=server) as c:
        gone = c.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {secret}"})
        assert gone.status_code == 401
    page.get(server + "/map")
    assert "/signin?next=/map" in page.current_url


def test_wrong_password_shows_the_reason_and_sets_no_cookie(
    page: webdriver.Chrome, server: str, api: Api
) -> None:
    page.get(server + "/signin")
    page.find_element(By.ID, "username").send_keys(username(api, "ministry"))
    page.find_element(By.ID, "password").send_keys("not-the-password")
    page.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
    error = WebDriverWait(page, 15).until(lambda d: d.find_element(By.ID, "signin-error"))
    assert "wrong password" in error.text
    assert page.get_cookie(SESSION_COOKIE) is None


def test_sign_in_works_from_the_keyboard_alone(
    page: webdriver.Chrome, server: str, api: Api
) -> None:
    page.get(server + "/signin")
    body = page.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    for _ in range(15):
        if page.switch_to.active_element.get_attribute("id") == "username":
            break
        page.switch_to.active_element.send_keys(Keys.TAB)
    active = page.switch_to.active_element
    assert active.get_attribute("id") == "username"
    active.send_keys(username(api, "donor"), Keys.TAB)
    page.switch_to.active_element.send_keys("e2e-password-long-enough", Keys.ENTER)
    WebDriverWait(page, 15).until(lambda d: d.get_cookie(SESSION_COOKIE) is not None)


# --- the map -------------------------------------------------------------------------------------


def test_map_draws_the_features_the_api_holds_and_the_filters_change_them(
    page: webdriver.Chrome, server: str, api: Api, screenshots: Path
) -> None:
    sign_in(page, server, username(api, "ministry"), "/map")
    wait_for_map(page)
    with api.client("ministry") as c:
        districts = _all_features(c, f"{API}/jurisdictions?level=district&limit=1000")
        sites = _all_features(c, f"{API}/sites?limit=1000")
        licences = _all_features(c, f"{API}/licences?kind=artisanal_mining&limit=1000")
        kono_sites = _all_features(c, f"{API}/sites?district={HOME_DISTRICT}&limit=1000")
        kono_active = _all_features(
            c, f"{API}/licences?kind=artisanal_mining&district={HOME_DISTRICT}&status=active"
        )
    assert sites and licences and kono_sites and len(kono_sites) < len(sites)
    # A district without a boundary (the API accepts one) has nothing to draw.
    assert _count(page, "path.district") == len([d for d in districts if d["geometry"]])
    assert _count(page, "path.site") == len(sites)
    assert _count(page, "path.licence-area") == len([f for f in licences if f["geometry"]])
    assert _count(page, "#sites-table tbody tr") == len(sites)
    page.save_screenshot(str(screenshots / "map-desktop.png"))

    Select(page.find_element(By.ID, "f-district")).select_by_value(HOME_DISTRICT)
    WebDriverWait(page, 30).until(lambda d: _count(d, "path.site") == len(kono_sites))
    wait_for_map(page)
    names = {row.text for row in page.find_elements(By.CSS_SELECTOR, "#sites-table td a")}
    assert names == {f["properties"]["name"] for f in kono_sites}

    Select(page.find_element(By.ID, "f-licence")).select_by_value("active")
    active_ids = {f["id"] for f in kono_active}
    expected = [f for f in kono_sites if f["properties"]["licence_id"] in active_ids]
    WebDriverWait(page, 30).until(
        lambda d: _count(d, "path.licence-area") == len([f for f in kono_active if f["geometry"]])
    )
    wait_for_map(page)
    assert _count(page, "path.site") == len(expected)
    assert _count(page, "path.licence-suspended, path.licence-revoked") == 0

    # A site's popup links to its record page.
    page.execute_script(CLICK_SITE)
    link = WebDriverWait(page, 10).until(
        lambda d: d.find_element(By.CSS_SELECTOR, ".leaflet-popup-content a")
    )
    link.click()
    WebDriverWait(page, 15).until(lambda d: "/sites/" in d.current_url)
    assert page.find_element(By.TAG_NAME, "h1").text in names


def test_a_field_officer_map_holds_only_the_sites_of_her_district(
    page: webdriver.Chrome, server: str, api: Api
) -> None:
    sign_in(page, server, username(api, "officer"), "/map")
    wait_for_map(page)
    rows = page.find_elements(By.CSS_SELECTOR, "#sites-table tbody tr")
    assert rows
    assert all(HOME_DISTRICT in row.find_elements(By.TAG_NAME, "td")[1].text for row in rows)


# --- lot trace -----------------------------------------------------------------------------------


def test_lot_trace_page_shows_the_site_purchase_and_path_behind_a_lot(
    page: webdriver.Chrome, server: str, api: Api, origin: dict[str, Any]
) -> None:
    lot_id = _purchase_lot(api, origin)
    sign_in(page, server, username(api, "ministry"), "/")
    page.find_element(By.ID, "lot-id").send_keys(lot_id, Keys.ENTER)
    WebDriverWait(page, 15).until(lambda d: d.current_url.endswith(f"/lots/{lot_id}"))
    with api.client("ministry") as c:
        trace = c.get(f"{API}/lots/{lot_id}/trace").raise_for_status().json()
    site_cells = page.find_elements(By.CSS_SELECTOR, "#trace-sites tbody td:first-child")
    assert [c.text for c in site_cells] == [s["name"] for s in trace["sites"]]
    assert "2.500" in page.find_element(By.ID, "trace-purchases").text
    assert "Purchase" in page.find_element(By.ID, "trace-path").text
    # A donor may not read custody: the page says so instead of showing it.
    sign_out(page)
    sign_in(page, server, username(api, "donor"), f"/lots/{lot_id}")
    assert "may not open this page" in page.find_element(By.TAG_NAME, "main").text


# --- French ---------------------------------------------------------------------------------------


def _english_only_phrases() -> list[str]:
    en = json.loads((MESSAGES / "en.json").read_text("utf-8"))
    fr = json.loads((MESSAGES / "fr.json").read_text("utf-8"))
    french = "\n".join(fr.values())
    phrases = set()
    for key, text in en.items():
        if text == fr[key]:
            continue  # the same in both (District, Site, Carats, language names)
        for part in re.split(r"\{\w+\}", text):
            part = part.strip(" .:()")
            # A word French shares ("districts", "Production") proves nothing either way.
            shared = re.search(r"(?<!\w)" + re.escape(part) + r"(?!\w)", french)
            if len(part) >= 3 and not shared:
                phrases.add(part)
    return sorted(phrases, key=len, reverse=True)


VISIBLE_TEXT = """
const own = document.documentElement.lang;
const out = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_ELEMENT);
for (let el = walker.currentNode; el; el = walker.nextNode()) {
  if (el.closest('[lang]') && el.closest('[lang]').lang !== own) continue;
  if (el.matches('script, style, noscript') || el.closest('[data-field]')) continue;
  for (const a of ['aria-label', 'title', 'placeholder', 'alt']) {
    if (el.getAttribute(a)) out.push(el.getAttribute(a));
  }
  for (const n of el.childNodes) {
    if (n.nodeType === 3 && n.textContent.trim()) out.push(n.textContent.trim());
  }
}
out.push(document.title);
return out;
"""

ENGLISH_WORDS = re.compile(r"\b(the|and|with|from|your|this|sign|popup|loading)\b", re.IGNORECASE)


def test_french_pages_have_no_english_strings_left(
    page: webdriver.Chrome, server: str, api: Api, origin: dict[str, Any], screenshots: Path
) -> None:
    lot_id = _purchase_lot(api, origin)
    cert = issue_certificate(api, origin)
    with api.client("ministry") as c:
        assert c.post(f"{API}/insight/refresh").status_code == 200
    page.get(server + "/signin")
    page.find_element(By.CSS_SELECTOR, "a[hreflang=fr]").click()  # the switch on the page
    WebDriverWait(page, 10).until(
        lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
    )
    sign_in(page, server, username(api, "ministry"), "/map")
    wait_for_map(page)
    pages = [
        "/",
        "/signin",
        "/map",
        f"/sites/{origin['site_id']}",
        f"/lots/{lot_id}",
        "/lots/x",
        "/dashboard",
        f"/certificates/{cert['number']}",
        f"/lots/{cert['lot_id']}/evidence",
    ]
    english = _english_only_phrases()
    for path in pages:
        page.get(server + path)
        if path == "/dashboard":
            WebDriverWait(page, 30).until(
                lambda d: d.find_element(By.ID, "charts").get_attribute("data-ready") == "true"
            )
        if path.startswith("/certificates/"):
            page.find_element(By.ID, "payload").send_keys(cert["payload"])
            page.find_element(By.ID, "check-payload").click()
            WebDriverWait(page, 10).until(
                lambda d: d.find_element(By.ID, "payload-result").get_attribute("data-verdict")
            )
        if path == "/map":
            wait_for_map(page)  # the district options arrive with the map's first data
            Select(page.find_element(By.ID, "f-district")).select_by_value(HOME_DISTRICT)
            Select(page.find_element(By.ID, "f-period")).select_by_index(1)
            wait_for_map(page)
            page.execute_script(CLICK_SITE)
            WebDriverWait(page, 10).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, ".leaflet-popup-content a")
            )
        assert page.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
        texts: list[str] = page.execute_script(VISIBLE_TEXT)
        joined = "\n".join(texts)
        left = [p for p in english if re.search(r"(?<!\w)" + re.escape(p) + r"(?!\w)", joined)]
        assert not left, (path, left)
        assert not ENGLISH_WORDS.search(joined), (path, ENGLISH_WORDS.findall(joined))
        name = path.strip("/").split("/")[0] or "index"
        page.save_screenshot(str(screenshots / f"fr-{name}-desktop.png"))


# --- accessibility and screenshots ---------------------------------------------------------------


def test_pages_have_no_serious_or_critical_axe_violations_at_desktop_and_phone_widths(
    page: webdriver.Chrome, server: str, api: Api, origin: dict[str, Any], screenshots: Path
) -> None:
    lot_id = _purchase_lot(api, origin)
    cert = issue_certificate(api, origin)
    with api.client("ministry") as c:
        assert c.post(f"{API}/insight/refresh").status_code == 200
    sign_in(page, server, username(api, "ministry"), "/")
    pages = {
        "dashboard": "/dashboard",
        "evidence": f"/lots/{cert['lot_id']}/evidence",
        "certificate": f"/certificates/{cert['number']}",
        "index": "/",
        "map": "/map",
        "site": f"/sites/{origin['site_id']}",
        "lot": f"/lots/{lot_id}",
        "docs": "/docs",
        "error": "/lots/not-a-lot",
        "signin": "/signin",
    }
    found: dict[str, Any] = {}
    for name, path in pages.items():
        if name == "signin":
            sign_out(page)
        page.set_window_size(*DESKTOP)
        page.get(server + path)
        # The map's shapes are drawn graphics; the sites table below the map is their
        # accessible equivalent, so axe looks at everything but the drawing pane.
        exclude: tuple[str, ...] = (".leaflet-overlay-pane",) if name == "map" else ()
        if name == "map":
            wait_for_map(page)
        if name == "dashboard":
            WebDriverWait(page, 30).until(
                lambda d: d.find_element(By.ID, "charts").get_attribute("data-ready") == "true"
            )
        if name == "certificate":
            page.find_element(By.ID, "payload").send_keys(cert["payload"])
            page.find_element(By.ID, "check-payload").click()
            WebDriverWait(page, 10).until(
                lambda d: d.find_element(By.ID, "payload-result").get_attribute("data-verdict")
            )
        if name == "docs":
            WebDriverWait(page, 60).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, "#swagger .opblock-tag")
            )
        page.save_screenshot(str(screenshots / f"{name}-desktop.png"))
        violations = axe_violations(page, exclude)
        if violations:
            found[f"{name}@desktop"] = violations
        # At phone width the same page reflows; the pages whose layout changes most (the
        # landing cards and the map's filters over the map) are checked again there.
        page.set_window_size(*PHONE)
        page.save_screenshot(str(screenshots / f"{name}-phone.png"))
        if name in ("index", "map"):
            violations = axe_violations(page, exclude)
            if violations:
                found[f"{name}@phone"] = violations
    assert not found, json.dumps(found, indent=1)
