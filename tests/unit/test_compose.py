"""compose.yaml cannot run here (no Docker engine); what can be checked of it is checked."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import make_url

from backend.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_has_a_postgis_service_and_the_api_built_from_this_repo() -> None:
    services = _compose()["services"]
    assert services["db"]["image"].startswith("postgis/postgis:")
    major = int(services["db"]["image"].split(":")[1].split("-")[0])
    assert major >= 15
    assert services["api"]["build"] == "."
    assert (ROOT / "Dockerfile").is_file()


def test_api_database_url_matches_the_postgis_service_credentials() -> None:
    services = _compose()["services"]
    db_env = services["db"]["environment"]
    settings = Settings.from_env({"DATABASE_URL": services["api"]["environment"]["DATABASE_URL"]})
    url = make_url(settings.database_url)
    assert url.get_backend_name() == "postgresql"
    assert url.host == "db"
    assert url.port == 5432
    assert url.username == db_env["POSTGRES_USER"]
    assert url.password == db_env["POSTGRES_PASSWORD"]
    assert url.database == db_env["POSTGRES_DB"]


def test_api_waits_for_a_healthy_database_and_has_its_own_health_check() -> None:
    api = _compose()["services"]["api"]
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(api["healthcheck"]["test"])
    assert "pg_isready" in " ".join(_compose()["services"]["db"]["healthcheck"]["test"])


def test_published_port_matches_the_port_the_image_serves_on() -> None:
    api = _compose()["services"]["api"]
    container_port = api["ports"][0].split(":")[1]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(rf"--port {container_port}\b", dockerfile)
    assert f"EXPOSE {container_port}" in dockerfile


def test_image_migrates_before_serving_so_it_never_serves_an_outdated_schema() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = dockerfile[dockerfile.index("CMD") :]
    assert cmd.index("backend migrate") < cmd.index("backend serve")


def test_token_ttl_in_compose_is_read_by_settings() -> None:
    env = _compose()["services"]["api"]["environment"]
    assert Settings.from_env(env).token_ttl_seconds == int(env["TOKEN_TTL_SECONDS"])
