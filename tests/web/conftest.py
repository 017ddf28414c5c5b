"""Browser fixtures: Debian's headless Chromium through Selenium, against a real server on loopback.

The pages read the same API that tests/e2e checks on both databases, so the browser tests run on
SpatiaLite only (their PostGIS twins are deselected): the server, users and demo country are the
e2e tier's fixtures, imported here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from backend.auth.tokens import SESSION_COOKIE
from tests.e2e import conftest as e2e
from tests.e2e.conftest import PASSWORD, Api

# The e2e tier's server, users per role and licensed origin site, as fixtures here too.
server, api, origin = e2e.server, e2e.api, e2e.origin

WEB_DIR = Path(__file__).parent
AXE = WEB_DIR / "vendor" / "axe-core-4.10.2" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DESKTOP = (1280, 900)
PHONE = (390, 844)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    dropped = [
        item
        for item in items
        if WEB_DIR in Path(str(item.fspath)).parents
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("dialect") == "postgis"
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where page screenshots go (a test artifact): $WEB_SCREENSHOTS or var/screenshots."""
    path = Path(os.environ.get("WEB_SCREENSHOTS", "var/screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser saves files (CSV downloads), without asking."""
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="session")
def browser(downloads: Path) -> Iterator[webdriver.Chrome]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Debian's chromium and chromium-driver are needed: apt-get install them")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        "--lang=en-GB",
    ):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(90)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: webdriver.Chrome, server: str) -> Iterator[webdriver.Chrome]:
    """The browser, signed out, in English unless a test asks otherwise, at desktop size."""
    browser.get(server + "/healthz")
    browser.delete_all_cookies()
    browser.set_window_size(*DESKTOP)
    yield browser


def sign_in(driver: webdriver.Chrome, base_url: str, username: str, target: str = "/") -> None:
    driver.get(f"{base_url}/signin?next={target}")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
    WebDriverWait(driver, 15).until(lambda d: "/signin" not in d.current_url)


def sign_out(driver: webdriver.Chrome) -> None:
    """Press "sign out" and wait until its answer has cleared the session cookie: a page
    opened before that still has the session (a race the suite lost now and then)."""
    driver.find_element(By.CSS_SELECTOR, ".account button[type=submit]").click()
    WebDriverWait(driver, 15).until(lambda d: d.get_cookie(SESSION_COOKIE) is None)


def wait_for_map(driver: webdriver.Chrome) -> None:
    WebDriverWait(driver, 30).until(
        lambda d: (
            d.find_element(By.ID, "map").get_attribute("data-ready") == "true"
            and d.find_element(By.ID, "map").get_attribute("aria-busy") == "false"
        )
    )


def axe_violations(driver: webdriver.Chrome, exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it stands, outside `exclude`."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(AXE.read_text("utf-8"))
    result: dict[str, Any] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const context = {include: [document], exclude: arguments[0].map(s => [s])};"
        "axe.run(context, {resultTypes: ['violations']})"
        ".then(r => done(r), e => done({error: String(e)}));",
        list(exclude),
    )
    assert "error" not in result, result
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"][:5]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def issue_certificate(api: Api, origin: dict[str, Any]) -> dict[str, Any]:
    """A sealed export lot with a passing evidence report, certified by the export office."""
    from tests.e2e.test_certificates_api import evidence, sealed_lots, shipment

    lot = sealed_lots(api, origin)[0]
    evidence(api, lot)
    with api.client("export_office") as office:
        r = office.post("/api/v1/certificates", json=shipment(lot))
    assert r.status_code == 201, r.text
    cert: dict[str, Any] = r.json()
    return cert


def username(users: Api, role: str) -> str:
    return str(users.users[role].username)
