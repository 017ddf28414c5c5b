"""The benchmarks run end to end at tiny sizes and print every figure they promise (not times)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from backend.db import make_engine
from backend.settings import Settings
from tests.conftest import postgis_url

ROOT = Path(__file__).resolve().parents[2]

PUSH_LABELS = (
    "command: python -m bench.sync_push --ops 200 --batch 50",
    "push throughput",
    "batch latency p50",
    "batch latency p95",
    "COPY baseline",
    "push / COPY",
    "server CPU per op, all its processes",
    "database backend CPU per op",
    "bytes per op, gzip on the wire",
    "bytes per op, uncompressed JSON",
    "server RSS idle",
    "server RSS peak during pushes",
    "single push of 100 ops",
)
PULL_LABELS = (
    "command: python -m bench.sync_pull --records 500 --changes 50",
    "snapshot, pages of 1000",
    "snapshot, pages of 5000",
    "gzip bytes per record (limit 1000)",
    "RSS above idle (limit 5000)",
    "change pull after the snapshot",
    "server RSS idle",
)


@pytest.fixture(scope="module")
def postgis(request: pytest.FixtureRequest) -> str:
    url = postgis_url()
    try:
        probe = make_engine(Settings(database_url=url), poolclass=NullPool)
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
        probe.dispose()
    except Exception as err:  # any failure to reach PostgreSQL means the benchmarks cannot run
        why = f"PostgreSQL at {url}: {err}"
        if request.config.getoption("--require-all-dialects"):
            pytest.fail(f"required database unavailable: {why}")
        pytest.skip(why)
    return url


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, f"bench/{script}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_push_benchmark_prints_throughput_copy_ratio_bytes_and_memory(postgis: str) -> None:
    out = run("sync_push.py", "--ops", "200", "--batch", "50", "--big", "100")
    for label in PUSH_LABELS:
        assert label in out, out
    assert "spatialite" not in out, out  # the default is PostGIS alone
    # The floor of every row written: one ledger row and one audit entry per op, all stored.
    assert "rows the pushes wrote" in out and "stored again by binary COPY" in out, out
    assert "audit_entry 200, sync_op 200" in out, out
    (backend,) = [line for line in out.splitlines() if "database backend CPU per op" in line]
    assert "µs" in backend and "n/a" not in backend, out  # the suite's PostGIS is local


def test_push_benchmark_on_spatialite_prints_the_executemany_baseline_instead_of_copy() -> None:
    out = run(
        "sync_push.py", "--ops", "200", "--batch", "50", "--big", "100", "--database", "spatialite"
    )
    assert "command: python -m bench.sync_push --ops 200 --batch 50 --database spatialite" in out
    labels = [lab.replace("COPY", "executemany INSERT") for lab in PUSH_LABELS[1:]]
    for label in ["## sync push, spatialite", *labels]:
        assert label in out, out
    assert "COPY" not in out, out
    assert "n/a (SpatiaLite runs inside the server's processes)" in out, out


def test_pull_benchmark_prints_snapshot_change_pull_and_memory(postgis: str) -> None:
    out = run("sync_pull.py", "--records", "500", "--changes", "50", "--repeat", "2")
    for label in PULL_LABELS:
        assert label in out, out


CUSTODY_LABELS = (
    "purchase p50",
    "purchase p95",
    "purchase p99",
    "purchase max",
    "baseline GET /healthz p50",
    "baseline GET /api/v1/auth/me p50",
    "purchase p50 / auth/me p50",
    "SQL statements per purchase",
)


@pytest.mark.parametrize("database", ["postgis", "spatialite"])
def test_custody_event_benchmark_prints_purchase_percentiles_baselines_and_statements(
    postgis: str, database: str
) -> None:
    out = run("custody_event.py", "--database", database, "--events", "5", "--warmup", "1")
    assert f"command: python -m bench.custody_event --database {database} --events 5" in out
    for label in CUSTODY_LABELS:
        assert label in out, out
