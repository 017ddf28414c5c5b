"""End-to-end fixtures: a real uvicorn server on loopback per database, httpx clients per role."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from backend.auth.models import Role
from backend.auth.schemas import UserCreate
from backend.auth.users import create_user
from backend.certificates.keys import generate
from backend.db import session_factory
from backend.registry.models import Licence, LicenceStatus, Organisation, OrganisationKind, Site
from backend.settings import Settings
from backend.spatial import from_db

PASSWORD = "e2e-password-long-enough"
HOME_DISTRICT = "SL-E-KO"  # Kono: the field officer's district
OTHER_DISTRICT = "SL-S-BO"  # Bo: outside it


START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Api:
    base_url: str
    engine: Engine
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, Any] = field(default_factory=dict)
    organisations: dict[str, uuid.UUID] = field(default_factory=dict)

    def client(self, who: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)


def _wait_until_up(base_url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    # Start-up imports every feature; on a loaded 2-core machine that alone can pass 30 s.
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()}")
        try:
            if httpx.get(base_url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not answer /healthz within {START_TIMEOUT_S} s")


def serve_command(port: int) -> list[str]:
    """The operator's command line for a server on a loopback port."""
    loopback = ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return [sys.executable, "-m", "backend", "serve", *loopback]


@contextmanager
def start_server(env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    """`python -m backend serve` as a subprocess, exactly as an operator runs it."""
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            serve_command(port),
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base_url, proc, log)
        yield base_url
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    # A server-side traceback during the tests is a bug even if every response looked fine.
    errors = log.read_text()
    assert "Traceback" not in errors, errors


@pytest.fixture(scope="session")
def server(
    engine: Engine, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    key = generate(tmp_path_factory.mktemp("keys"))
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "CERTIFICATE_KEY_FILES": str(key),
        # Every test client comes from 127.0.0.1, and schemathesis sends wrong passwords by the
        # hundred: the per-address lock would shut out every later login of the session. It is
        # proven in tests/db/test_login_throttle.py; the per-account lock is tested here.
        "LOGIN_ADDRESS_FREE": "1000000",
    }
    log = tmp_path_factory.mktemp("server") / "server.log"
    with start_server(env, free_port(), log) as base_url:
        yield base_url


ROLE_USERS: dict[str, tuple[Role, tuple[str, ...], str | None]] = {
    "admin": (Role.admin, (), None),
    "ministry": (Role.ministry, (), None),
    "officer": (Role.field_officer, (HOME_DISTRICT,), None),
    "officer_bo": (Role.field_officer, (OTHER_DISTRICT,), None),
    "buyer": (Role.buyer, (), "buying_office"),
    "exporter": (Role.exporter, (), "exporter"),
    "export_office": (Role.export_office, (), None),
    "donor": (Role.donor, (), None),
    "auditor": (Role.auditor, (), None),
}


@pytest.fixture(scope="session")
def api(server: str, engine: Engine) -> Api:
    """One user per role (two field officers with different districts), each with a token."""
    result = Api(base_url=server, engine=engine)
    suffix = uuid.uuid4().hex[:6]
    with session_factory(engine)() as session:
        for kind in (OrganisationKind.buying_office, OrganisationKind.exporter):
            org = session.scalars(
                select(Organisation).where(Organisation.kind == kind).order_by(Organisation.id)
            ).first()
            assert org is not None, "the demo seed has organisations of each kind"
            result.organisations[kind.value] = org.id
        for name, (role, districts, org_kind) in ROLE_USERS.items():
            user = create_user(
                session=session,
                principal=None,
                props=UserCreate(
                    username=f"{name}-{suffix}",
                    password=PASSWORD,
                    role=role,
                    districts=list(districts),
                    organisation_id=result.organisations[org_kind] if org_kind else None,
                ),
            )
            result.users[name] = user
    with httpx.Client(base_url=server) as client:
        for name in ROLE_USERS:
            r = client.post(
                "/api/v1/auth/token", json={"username": f"{name}-{suffix}", "password": PASSWORD}
            )
            assert r.status_code == 200, r.text
            result.tokens[name] = r.json()["access_token"]
    return result


@pytest.fixture(scope="session")
def origin(api: Api) -> dict[str, Any]:
    """A licensed, active site in the field officer's district, its licence holder and a point."""
    today = date.today()
    with session_factory(api.engine)() as session:
        row = session.execute(
            select(Site, Licence)
            .join(Licence, Licence.id == Site.licence_id)
            .where(
                Licence.status == LicenceStatus.active,
                Licence.valid_from <= today - timedelta(days=30),
                Licence.valid_to >= today,
                Site.district_code == HOME_DISTRICT,
            )
            .order_by(Site.id)
        ).first()
        assert row is not None
        site, licence = row
        shape = from_db(site.geometry)
        assert shape is not None
        point = shape.representative_point()
        return {
            "site_id": str(site.id),
            "miner_id": str(licence.holder_miner_id),
            "location": {"type": "Point", "coordinates": [point.x, point.y]},
        }
