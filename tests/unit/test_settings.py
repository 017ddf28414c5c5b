"""Settings read from the environment: how many server processes `serve` runs."""

from __future__ import annotations

import os

from backend.settings import Settings


def test_serve_runs_one_worker_per_usable_core_by_default() -> None:
    assert Settings().serve_workers == len(os.sched_getaffinity(0))


def test_web_workers_from_the_environment_sets_the_worker_count() -> None:
    settings = Settings.from_env({"WEB_WORKERS": "3", "DATABASE_URL": "sqlite:///x.sqlite"})
    assert settings.serve_workers == 3
