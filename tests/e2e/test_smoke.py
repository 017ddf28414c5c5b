"""The server answers health and OpenAPI over real HTTP, and every role can authenticate."""

from __future__ import annotations

from tests.e2e.conftest import ROLE_USERS, Api


def test_healthz_names_the_database(api: Api) -> None:
    with api.client() as c:
        r = c.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_every_role_reads_its_own_identity(api: Api) -> None:
    for who, (role, districts, _) in ROLE_USERS.items():
        with api.client(who) as c:
            me = c.get("/api/v1/auth/me").json()
        assert me["role"] == role.value
        assert me["districts"] == list(districts)
