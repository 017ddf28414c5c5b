"""Hardening over real HTTP: device credentials, login throttling, signed cursors, attachments."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import PASSWORD, Api
from tests.e2e.helpers import assert_problem, create_miner, unique

OCTETS = "application/octet-stream"


def _enrol(api: Api, who: str = "officer") -> tuple[str, httpx.Client]:
    with api.client(who) as c:
        r = c.post("/sync/v1/devices", json={"name": unique("tablet")})
    assert r.status_code == 201, r.text
    body = r.json()
    client = httpx.Client(
        base_url=api.base_url,
        headers={"Authorization": f"Bearer {body['device_token']}"},
        timeout=30,
    )
    return str(body["device_id"]), client


@pytest.fixture
def device(api: Api) -> Iterator[tuple[str, httpx.Client]]:
    device_id, client = _enrol(api)
    yield device_id, client
    client.close()


# --- device credentials --------------------------------------------------------------------------


def test_a_device_credential_is_refused_on_the_rest_api_and_cannot_enrol(
    api: Api, device: tuple[str, httpx.Client]
) -> None:
    _, tablet = device
    for response in (
        tablet.get("/api/v1/miners"),
        tablet.post("/api/v1/miners", json={"full_name": unique("M"), "district": "SL-E-KO"}),
        tablet.get("/api/v1/auth/me"),
        tablet.post("/sync/v1/devices", json={"name": "second"}),
    ):
        body = assert_problem(response, 403)
        assert body["type"].endswith("/device-credential")
    assert tablet.get("/sync/v1/pull", params={"limit": 1}).status_code == 200


def test_a_revoked_device_can_do_nothing_but_leave_ops_in_quarantine(
    api: Api, device: tuple[str, httpx.Client]
) -> None:
    device_id, tablet = device
    with api.client("ministry") as c:
        assert c.post(f"/sync/v1/devices/{device_id}/revoke").status_code == 200
    for response in (
        tablet.get("/sync/v1/pull"),
        tablet.get("/sync/v1/conflicts"),
        tablet.get("/sync/v1/devices"),
        tablet.get("/sync/v1/attachments/missing"),
        tablet.post("/sync/v1/devices", json={"name": "again"}),
    ):
        assert_problem(response, 403)
    assert_problem(tablet.get("/api/v1/miners"), 403)
    push = tablet.post("/sync/v1/push", json={"sent_at": "2026-01-01T00:00:00Z", "ops": []})
    assert push.json()["type"].endswith("/device-revoked")


# --- login throttling ----------------------------------------------------------------------------


def _new_user(api: Api) -> str:
    username = unique("login").lower()
    with api.client("admin") as c:
        r = c.post(
            "/api/v1/users",
            json={"username": username, "password": PASSWORD, "role": "auditor"},
        )
    assert r.status_code == 201, r.text
    return username


def _login(api: Api, username: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{api.base_url}/api/v1/auth/token",
        json={"username": username, "password": password},
        timeout=30,
    )


def test_repeated_wrong_passwords_lock_the_account_with_429_and_retry_after(api: Api) -> None:
    username = _new_user(api)
    answers = [_login(api, username, "wrong-password-xx").status_code for _ in range(6)]
    assert answers == [401] * 6
    locked = _login(api, username, "wrong-password-xx")
    body = assert_problem(locked, 429)
    assert 1 <= int(locked.headers["Retry-After"]) <= 30 and body["retry_after"] >= 1
    # Locked means locked: the right password waits too, and costs no hash.
    assert _login(api, username, PASSWORD).status_code == 429
    # Another account from the same address is not locked by this one.
    assert _login(api, api.users["auditor"].username, PASSWORD).status_code == 200


def test_a_successful_login_clears_the_account_count(api: Api) -> None:
    username = _new_user(api)
    for _ in range(3):
        assert _login(api, username, "wrong-password-xx").status_code == 401
    assert _login(api, username, PASSWORD).status_code == 200
    # Without the clearing these would be failures 4..6, and the sixth locks the account.
    for _ in range(3):
        assert _login(api, username, "wrong-password-xx").status_code == 401
    assert _login(api, username, PASSWORD).status_code == 200


# --- signed list cursors -------------------------------------------------------------------------


def _cursor(client: httpx.Client, path: str, params: dict[str, Any]) -> str:
    r = client.get(path, params={**params, "limit": 1})
    assert r.status_code == 200, r.text
    cursor = r.json()["next_cursor"]
    assert cursor is not None, "the list needs two records for this test"
    return str(cursor)


def test_a_list_cursor_works_only_on_its_own_list_and_filters(api: Api) -> None:
    with api.client("ministry") as c:
        miners = _cursor(c, "/api/v1/miners", {})
        assert c.get("/api/v1/miners", params={"cursor": miners}).status_code == 200
        sites = _cursor(c, "/api/v1/sites", {})
        assert_problem(c.get("/api/v1/miners", params={"cursor": sites}), 422, "query.cursor")
        assert_problem(
            c.get("/api/v1/miners", params={"cursor": miners, "district": "SL-E-KO"}),
            422,
            "query.cursor",
        )
        organisations = _cursor(c, "/api/v1/organisations", {})
        assert_problem(
            c.get("/api/v1/organisations", params={"cursor": miners}), 422, "query.cursor"
        )
        assert c.get("/api/v1/organisations", params={"cursor": organisations}).status_code == 200


def test_a_random_or_unsigned_cursor_is_a_422_naming_cursor(api: Api) -> None:
    import base64

    unsigned = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    with api.client("ministry") as c:
        for cursor in (unsigned, "A" * 38, "bm90IGEgY3Vyc29y"):
            assert_problem(c.get("/api/v1/miners", params={"cursor": cursor}), 422, "query.cursor")


# --- attachments ---------------------------------------------------------------------------------


def _chunk(
    client: httpx.Client, sha: str, data: bytes, *, offset: int = 0, size: int | None = None
) -> httpx.Response:
    return client.post(
        f"/sync/v1/attachments/{sha}",
        params={"offset": offset},
        content=data,
        headers={"X-Attachment-Size": str(size or len(data)), "Content-Type": OCTETS},
    )


@pytest.fixture
def photo(api: Api) -> tuple[bytes, str, dict[str, Any]]:
    """A photo named by a new miner in the field officer's district (Kono)."""
    data = uuid.uuid4().bytes * 2000
    sha = hashlib.sha256(data).hexdigest()
    with api.client("officer") as c:
        miner = create_miner(c, photo_ref=sha)
    return data, sha, miner


def test_donors_and_auditors_cannot_store_attachments(
    api: Api, photo: tuple[bytes, str, dict[str, Any]]
) -> None:
    data, sha, _ = photo
    for who in ("donor", "auditor", "buyer", "export_office"):
        with api.client(who) as c:
            assert_problem(_chunk(c, sha, data), 403)
            if who == "export_office":
                # It records incidents (a seizure at the export office) and uploads their files,
                # so it has a list of missing files: its incidents', never a miner's photo.
                listed = c.get("/sync/v1/attachments/missing")
                assert listed.status_code == 200 and sha not in listed.json()["items"]
            else:
                assert_problem(c.get("/sync/v1/attachments/missing"), 403)
    with api.client("officer") as c:
        assert c.get(f"/sync/v1/attachments/{sha}").status_code == 404  # nothing stored


def test_an_attachment_no_record_in_scope_names_cannot_be_uploaded(
    api: Api, photo: tuple[bytes, str, dict[str, Any]]
) -> None:
    data, sha, _ = photo
    stray = b"not named by any record " + uuid.uuid4().bytes
    with api.client("officer") as c:
        body = assert_problem(_chunk(c, hashlib.sha256(stray).hexdigest(), stray), 403)
        assert body["type"].endswith("/attachment-unreferenced")
    with api.client("officer_bo") as c:  # the miner is in Kono, not Bo
        assert_problem(_chunk(c, sha, data), 403)
        assert sha not in c.get("/sync/v1/attachments/missing").json()["items"]


def test_a_photo_is_read_only_by_roles_that_see_the_miner_in_full_in_scope(
    api: Api, photo: tuple[bytes, str, dict[str, Any]]
) -> None:
    data, sha, _ = photo
    with api.client("officer") as c:
        assert sha in c.get("/sync/v1/attachments/missing").json()["items"]
        assert _chunk(c, sha, data).json()["complete"] is True
        assert c.get(f"/sync/v1/attachments/{sha}/content").content == data
    for who in ("ministry", "auditor", "export_office", "admin"):
        with api.client(who) as c:
            assert c.get(f"/sync/v1/attachments/{sha}/content").content == data
    for who in ("officer_bo", "buyer", "exporter", "donor"):
        with api.client(who) as c:
            assert_problem(c.get(f"/sync/v1/attachments/{sha}/content"), 404)
            assert_problem(c.get(f"/sync/v1/attachments/{sha}"), 404)


def test_a_wrong_size_or_garbage_claim_does_not_block_the_rightful_upload(
    api: Api, photo: tuple[bytes, str, dict[str, Any]]
) -> None:
    data, sha, miner = photo
    with api.client("ministry") as other:
        # A claim with a wrong size, then garbage of the right size: both unfinished.
        assert _chunk(other, sha, b"x" * 10, size=len(data) + 99).status_code == 200
    with api.client("officer") as rightful:
        done = _chunk(rightful, sha, data)
        assert done.status_code == 200, done.text
        assert done.json()["complete"] is True
        assert rightful.get(f"/sync/v1/attachments/{sha}/content").content == data
    with api.client("auditor") as c:
        entries = c.get("/api/v1/audit", params={"entity_id": sha}).json()["items"]
    assert {e["action"] for e in entries} >= {"upload", "upload-complete"}
    assert miner["photo_ref"] == sha


def test_garbage_of_the_right_size_is_replaced_by_the_rightful_uploader(
    api: Api, photo: tuple[bytes, str, dict[str, Any]]
) -> None:
    data, sha, _ = photo
    with api.client("ministry") as other:
        assert _chunk(other, sha, b"\0" * 1000, size=len(data)).json()["received"] == 1000
    with api.client("officer") as rightful:
        assert _chunk(rightful, sha, data).json()["complete"] is True
        assert rightful.get(f"/sync/v1/attachments/{sha}/content").content == data
