"""`python -m backend`: migrate, create-user (stdin password), seed-demo once, serve refusing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.conftest import free_port, start_server


def _run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite'}"}


def test_serve_refuses_an_unmigrated_database_and_names_the_command_that_fixes_it(
    tmp_path: Path,
) -> None:
    result = _run(_env(tmp_path), "serve", "--port", str(free_port()))
    assert result.returncode == 2
    assert "python -m backend migrate" in result.stderr


def test_migrate_then_seed_demo_loads_once_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert "empty -> " in _run(env, "migrate").stdout
    assert "-> " in _run(env, "migrate").stdout
    first = _run(env, "seed-demo")
    assert first.returncode == 0 and "loaded the demo country" in first.stdout
    second = _run(env, "seed-demo")
    assert second.returncode == 0 and "nothing changed" in second.stdout


def test_create_user_reads_the_password_from_stdin_and_the_user_can_sign_in(tmp_path: Path) -> None:
    env = _env(tmp_path)
    _run(env, "migrate")
    _run(env, "seed-demo")
    created = _run(
        env,
        "create-user",
        "kono-officer",
        "--role",
        "field_officer",
        "--district",
        "SL-E-KO",
        stdin="a-long-stdin-password\n",
    )
    assert created.returncode == 0, created.stderr
    with start_server(env, free_port(), tmp_path / "server.log") as base_url:
        r = httpx.post(
            base_url + "/api/v1/auth/token",
            json={"username": "kono-officer", "password": "a-long-stdin-password"},
        )
        assert r.status_code == 200
        me = httpx.get(
            base_url + "/api/v1/auth/me",
            headers={"Authorization": f"Bearer {r.json()['access_token']}"},
        ).json()
    assert me["role"] == "field_officer" and me["districts"] == ["SL-E-KO"]


def test_create_user_refuses_bad_input_with_a_reason_and_creates_nothing(tmp_path: Path) -> None:
    env = _env(tmp_path)
    _run(env, "migrate")
    _run(env, "seed-demo")
    short = _run(env, "create-user", "someone", "--role", "admin", stdin="short\n")
    assert short.returncode == 2 and "password" in short.stderr
    no_district = _run(
        env, "create-user", "someone", "--role", "field_officer", stdin="a-long-password-1\n"
    )
    assert no_district.returncode == 2 and "district" in no_district.stderr
    bad_role = _run(env, "create-user", "someone", "--role", "king", stdin="a-long-password-1\n")
    assert bad_role.returncode == 2 and "role" in bad_role.stderr
    ok = _run(env, "create-user", "someone", "--role", "admin", stdin="a-long-password-1\n")
    assert ok.returncode == 0, ok.stderr


def _workers_of(port: int) -> list[int]:
    """Worker processes (multiprocessing children) of the server listening on this port."""
    procs: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        procs[int(entry.name)] = (ppid, cmdline)
    (parent,) = [pid for pid, (_, cmd) in procs.items() if f"--port {port} " in cmd + " "]
    return [pid for pid, (ppid, cmd) in procs.items() if ppid == parent and "spawn_main" in cmd]


def test_serve_runs_worker_processes_that_agree_on_a_revoked_token(tmp_path: Path) -> None:
    env = {**_env(tmp_path), "WEB_WORKERS": "2"}
    _run(env, "migrate")
    _run(env, "create-user", "admin", "--role", "admin", stdin="a-long-stdin-password\n")
    port = free_port()
    with start_server(env, port, tmp_path / "server.log") as base_url:
        assert len(_workers_of(port)) == 2
        token = httpx.post(
            f"{base_url}/api/v1/auth/token",
            json={"username": "admin", "password": "a-long-stdin-password"},
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}", "Connection": "close"}
        # Each fresh connection may land on either worker; every one must give the same answer.
        seen = {httpx.get(f"{base_url}/api/v1/auth/me", headers=auth).status_code for _ in range(8)}
        assert seen == {200}
        assert httpx.post(f"{base_url}/api/v1/auth/revoke", headers=auth).status_code == 200
        seen = {httpx.get(f"{base_url}/api/v1/auth/me", headers=auth).status_code for _ in range(8)}
        assert seen == {401}


def test_serve_refuses_zero_workers(tmp_path: Path) -> None:
    env = _env(tmp_path)
    _run(env, "migrate")
    result = _run(env, "serve", "--port", str(free_port()), "--workers", "0")
    assert result.returncode == 2
    assert "--workers must be at least 1" in result.stderr
