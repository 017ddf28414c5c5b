"""The README stays true: its API tour runs word for word against a freshly set-up server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port, start_server

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _block_after(heading: str) -> str:
    section = README.split(heading, 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, f"no sh block after {heading}"
    return match.group(1)


def test_readme_names_exactly_two_setup_commands_and_ci_runs_the_test_one() -> None:
    setup = README.split("## Set-up", 1)[1].split("### ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", setup, re.S)
    assert commands == ["./dev serve", "./dev test"]
    assert "./dev test" in (ROOT / ".ci" / "run").read_text()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """What `./dev serve` does after installing: migrate, seed the demo country, serve."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'readme.sqlite'}"}
    for command in (["migrate"], ["seed-demo"]):
        subprocess.run(
            [sys.executable, "-m", "backend", *command], env=env, check=True, capture_output=True
        )
    port = free_port()
    with start_server(env, port, tmp_path / "server.log") as base_url:
        yield base_url, env


def test_readme_api_tour_runs_word_for_word(fresh_server: tuple[str, dict[str, str]]) -> None:
    base_url, env = fresh_server
    tour = _block_after("## API tour").replace("http://127.0.0.1:8000", base_url)
    tour = tour.replace(".venv/bin/python", sys.executable)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", tour],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert '"name":"Koidu river terrace"' in out
    assert "problem/swapped-coordinates" in out
    assert '"code":"SL-E-KO"' in out
    assert '"entity_type":"site"' in out
    assert '"openapi":"3.1.0"' in out


def test_readme_offline_sync_tour_runs_word_for_word(
    fresh_server: tuple[str, dict[str, str]],
) -> None:
    base_url, env = fresh_server
    tour = _block_after("## Offline sync").replace("http://127.0.0.1:8000", base_url)
    tour = tour.replace(".venv/bin/python", sys.executable)
    tablet = Path(env["DATABASE_URL"].removeprefix("sqlite:///")).parent / "tablet.sqlite"
    tour = tour.replace("var/tablet.sqlite", str(tablet))
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", tour],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"status": "applied"' in result.stdout or '"applied"' in result.stdout, result.stdout
