"""`python -m bench.insight`: district statistics, a KP return and OGC items pages, over HTTP.

    python -m bench.insight [--scale 0.05] [--runs 15]
    python -m bench.insight --database-url URL      # a database bench.national loaded before

Without `--database-url` it makes a throwaway PostGIS database, loads it with
`python -m bench.national --scale S` (1.0 is 2,000,000 purchases; 0.05 is 100,000) and drops it
afterwards. It starts `python -m backend serve` on loopback, logs in as a ministry user, rebuilds
the insight aggregate once (`POST /api/v1/insight/refresh`, timed) and then times, `--runs` times
each after two warm-ups: statistics by district and quarter, statistics by site and month, the
KP return of the last quarter with exports, the first and a deep page of OGC `sites` items, a page
of `production-by-site` items, and one streamed CSV export of every site. Server RSS is sampled
every 50 ms (idle, and the peak of each step). Targets: <= 500 ms for statistics and returns over
2 M purchases, <= 100 ms for an items page. It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from backend.db import make_engine
from backend.insight.periods import Period, key_of
from backend.settings import Settings
from bench.common import (
    LOAD_AT_START,
    PASSWORD,
    ROOT,
    RssMonitor,
    free_port,
    fresh_postgis_database,
    postgis_url,
    progress,
    stop,
    wait_until_up,
)
from bench.trace import load, ministry_user, summary, timed

MiB = 1024 * 1024


@contextmanager
def serve(db_url: str, username: str) -> Iterator[tuple[httpx.Client, RssMonitor]]:
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-insight-{port}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "backend",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": db_url},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    monitor = RssMonitor(proc.pid)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/healthz", proc, log)
        r = httpx.post(
            base + "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
        )
        r.raise_for_status()
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
            yield client, monitor
    finally:
        monitor.stop()
        stop(proc)
        errors = log.read_text()
        log.unlink(missing_ok=True)
        if "Traceback" in errors:
            print(f"the server logged an error:\n{errors[-4000:]}", file=sys.stderr)


def facts(db_url: str) -> dict[str, Any]:
    engine = make_engine(Settings(database_url=db_url))
    with engine.connect() as conn:
        purchases = conn.execute(
            text("SELECT count(*) FROM custody_event WHERE kind = 'purchase'")
        ).scalar_one()
        last_export = conn.execute(
            text("SELECT max(occurred_at) FROM custody_event WHERE kind = 'export'")
        ).scalar_one()
        sites = conn.execute(
            text("SELECT count(*) FROM site WHERE deleted_at IS NULL")
        ).scalar_one()
    engine.dispose()
    return {"purchases": purchases, "last_export": last_export, "sites": sites}


def run(db_url: str, runs: int) -> None:
    f = facts(db_url)
    quarter = key_of(f["last_export"].date(), Period.quarter)
    username, _ = ministry_user(make_engine(Settings(database_url=db_url)))
    rows: list[tuple[str, float, float, float, float, str]] = []
    with serve(db_url, username) as (client, monitor):
        idle = monitor.idle_bytes()
        with monitor.window() as w:
            started = time.perf_counter()
            r = client.post("/api/v1/insight/refresh")
            r.raise_for_status()
            refresh_ms = (time.perf_counter() - started) * 1000
        stat_rows = r.json()["stat_rows"]
        rows.append(
            (
                "refresh aggregate (once)",
                refresh_ms,
                refresh_ms,
                refresh_ms,
                w.peak_bytes / MiB,
                f"{stat_rows:,} rows",
            )
        )
        deep = max(0, f["sites"] - 100)

        def get(path: str) -> Callable[[], int]:
            def call() -> int:
                resp = client.get(path)
                resp.raise_for_status()
                return len(resp.content)

            return call

        steps = [
            (
                "statistics by district, quarter",
                "/api/v1/insight/statistics?by=district&period=quarter",
            ),
            (
                "statistics by site, month (100 sites)",
                "/api/v1/insight/statistics?by=site&period=month",
            ),
            (
                "  the page after it (its cursor)",
                "/api/v1/insight/statistics?by=site&period=month&cursor="
                + str(
                    client.get("/api/v1/insight/statistics?by=site&period=month").json()[
                        "next_cursor"
                    ]
                ),
            ),
            (f"KP return {quarter}", f"/api/v1/insight/kp-return?quarter={quarter}"),
            (f"KP return {quarter} CSV", f"/api/v1/insight/kp-return?quarter={quarter}&format=csv"),
            ("OGC sites items, first page", "/api/v1/ogc/collections/sites/items?limit=100"),
            (
                f"OGC sites items, offset {deep:,}",
                f"/api/v1/ogc/collections/sites/items?limit=100&offset={deep}",
            ),
            (
                "OGC production-by-site page",
                "/api/v1/ogc/collections/production-by-site/items?limit=100",
            ),
            (
                f"OGC production-by-site, offset {deep:,}",
                f"/api/v1/ogc/collections/production-by-site/items?limit=100&offset={deep}",
            ),
            (
                "OGC production-by-district page",
                "/api/v1/ogc/collections/production-by-district/items?limit=100",
            ),
        ]
        for name, path in steps:
            with monitor.window() as w:
                times, size = timed(get(path), runs)
            lo, med, p95 = summary(times)
            rows.append((name, lo, med, p95, w.peak_bytes / MiB, f"{size:,} B"))
        with monitor.window() as w:
            times, size = timed(get("/api/v1/insight/exports/sites?format=csv"), 1, warm=0)
        rows.append(
            (
                f"CSV export of {f['sites']:,} sites",
                times[0],
                times[0],
                times[0],
                w.peak_bytes / MiB,
                f"{size:,} B",
            )
        )
        end_idle = monitor.idle_bytes()
    print(f"## bench.insight: {f['purchases']:,} purchases, {f['sites']:,} sites, {runs} runs")
    print(
        f"machine: {os.cpu_count()} cores, load average {LOAD_AT_START:.2f} at start, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    print(f"server RSS idle: {idle / MiB:,.1f} MiB at start, {end_idle / MiB:,.1f} MiB at end")
    print(f"{'step':<38} {'min ms':>9} {'median ms':>10} {'p95 ms':>9} {'peak RSS MiB':>13}  size")
    for name, lo, med, p95, peak, size in rows:
        print(f"{name:<38} {lo:>9.1f} {med:>10.1f} {p95:>9.1f} {peak:>13.1f}  {size}")
    print("targets: statistics and returns <= 500 ms at 2 M purchases; an items page <= 100 ms")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.insight", description=__doc__.splitlines()[0])
    p.add_argument("--database-url", help="a database bench.national loaded before")
    p.add_argument("--scale", type=float, default=0.05)
    p.add_argument("--runs", type=int, default=15)
    args = p.parse_args(argv)
    print(f"$ python -m bench.insight {' '.join(argv if argv is not None else sys.argv[1:])}")
    scratch = (
        nullcontext(args.database_url)
        if args.database_url
        else fresh_postgis_database(postgis_url())
    )
    with scratch as db_url:
        if not args.database_url:
            load(db_url, args.scale, [])
        progress("timing")
        run(db_url, args.runs)


if __name__ == "__main__":
    main()
