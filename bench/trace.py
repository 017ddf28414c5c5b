"""`python -m bench.trace`: backward trace of a big export parcel, forward trace of a busy site.

    python -m bench.trace [--scale 0.01] [--runs 20]
    python -m bench.trace --database-url URL [--lot-id ID --site-id ID]

Without `--database-url` it makes a throwaway PostGIS database, loads it with
`python -m bench.national --scale S` (0.01 gives 20,000 purchases and a parcel with 10,000 of
them upstream) and drops it afterwards. With `--database-url` it uses a database the generator
loaded before (e.g. at the full defaults) and finds the export parcel with the most upstream
purchases and the site with the most purchases itself.

It times, `--runs` times each after two warm-ups: the app's `trace.backward` and `trace.forward`
called with a SQLAlchemy session (server-side), the same over HTTP against `python -m backend
serve` on loopback as a ministry user, and two baselines measured in the same run: the plain
index lookup `SELECT count(*) FROM lot_origin WHERE lot_id = :id`, and the recursive CTE of the
ancestry alone. Then it EXPLAIN ANALYZEs every statement one trace issues, so the slow one
shows. The target is <= 100 ms server-side for the backward trace; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session

from backend.auth.models import Role
from backend.auth.principal import Principal
from backend.auth.schemas import UserCreate
from backend.auth.users import create_user
from backend.custody import trace
from backend.db import make_engine, session_factory
from backend.settings import Settings
from bench.common import (
    PASSWORD,
    ROOT,
    free_port,
    fresh_postgis_database,
    percentile,
    postgis_url,
    progress,
    stop,
    wait_until_up,
)

TARGET_MS = 100.0


# --- the data ------------------------------------------------------------------------------------


def load(db_url: str, scale: float, extra: list[str]) -> dict[str, str]:
    """Run the generator as an operator would; echo its report; return the ids it printed."""
    cmd = [sys.executable, "-m", "bench.national", "--database-url", db_url, "--scale", str(scale)]
    progress(f"loading: {' '.join(cmd[1:3])} --scale {scale} {' '.join(extra)}")
    done = subprocess.run([*cmd, *extra], cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
    print(done.stdout, end="")
    found = {}
    for line in done.stdout.splitlines():
        for part in line.split():
            if "=" in part:
                key, _, value = part.partition("=")
                found[key] = value
    return found


def find_targets(session: Session) -> tuple[uuid.UUID, uuid.UUID]:
    """The exported lot with most upstream purchases; the site with most purchases."""
    lot_id = session.execute(
        text(
            "SELECT lo.lot_id FROM lot_origin lo JOIN lot l ON l.id = lo.lot_id "
            "WHERE l.status = 'exported' GROUP BY lo.lot_id ORDER BY count(*) DESC LIMIT 1"
        )
    ).scalar_one()
    site_id = session.execute(
        text(
            "SELECT site_id FROM custody_event WHERE kind = 'purchase' "
            "GROUP BY site_id ORDER BY count(*) DESC LIMIT 1"
        )
    ).scalar_one()
    return uuid.UUID(str(lot_id)), uuid.UUID(str(site_id))


def ministry_user(engine: Engine) -> tuple[str, Principal]:
    username = f"bench-trace-ministry-{uuid.uuid4().hex[:8]}"
    with session_factory(engine)() as session:
        user = create_user(
            session=session,
            principal=None,
            props=UserCreate(
                username=username, password=PASSWORD, role=Role.ministry, districts=[]
            ),
        )
    return username, Principal(
        user_id=user.id,
        username=username,
        role=Role.ministry,
        districts=frozenset(),
        organisation_id=None,
    )


# --- the server ----------------------------------------------------------------------------------


@contextmanager
def serve(db_url: str, username: str) -> Iterator[httpx.Client]:
    """`python -m backend serve` on a free loopback port, and a client logged in as `username`."""
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-trace-{port}.log"
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
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/healthz", proc, log)
        r = httpx.post(
            base + "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
        )
        r.raise_for_status()
        token = r.json()["access_token"]
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=300
        ) as client:
            yield client
    finally:
        stop(proc)
        errors = log.read_text()
        log.unlink(missing_ok=True)
        if "Traceback" in errors:
            print(f"the server logged an error:\n{errors[-4000:]}", file=sys.stderr)


# --- timing ---------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], runs: int, warm: int = 2) -> tuple[list[float], Any]:
    result = None
    for _ in range(warm):
        result = fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def summary(times: list[float]) -> tuple[float, float, float]:
    return min(times), statistics.median(times), percentile(times, 95)


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (with their parameters) run on `engine` inside the block."""
    seen: list[tuple[str, Any]] = []

    def grab(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", grab)


def explain(engine: Engine, statement: str, params: Any) -> tuple[float, str]:
    """EXPLAIN ANALYZE execution time (ms) and the text plan."""
    with engine.connect() as conn:
        plan_json = conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, params
        ).scalar_one()
        plan_text = "\n".join(
            r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
        )
    doc = plan_json if isinstance(plan_json, list) else json.loads(plan_json)
    return float(doc[0]["Execution Time"]), plan_text


def statement_label(statement: str) -> str:
    flat = " ".join(statement.split())
    tables = [
        t
        for t in (
            "lot_origin",
            "site",
            "miner",
            "custody_event",
            "event_input",
            "event_output",
            "lot",
        )
        if f" {t} " in f" {flat} " or f" {t}." in flat
    ]
    head = flat[:48]
    return f"{head}... [{', '.join(tables[:3])}]"


# --- the run --------------------------------------------------------------------------------------


def measure(
    db_url: str, lot_id: uuid.UUID, site_id: uuid.UUID, runs: int, show_plans: bool
) -> None:
    engine = make_engine(Settings(database_url=db_url))
    factory = session_factory(engine)
    try:
        username, who = ministry_user(engine)
        with factory() as s:
            upstream = s.execute(
                text("SELECT count(DISTINCT purchase_event_id) FROM lot_origin WHERE lot_id = :id"),
                {"id": lot_id},
            ).scalar_one()
            lots_total = s.execute(select(func.count()).select_from(text("lot"))).scalar_one()
            origin_rows = s.execute(text("SELECT count(*) FROM lot_origin")).scalar_one()
            site_purchases = s.execute(
                text("SELECT count(*) FROM custody_event WHERE kind='purchase' AND site_id=:id"),
                {"id": site_id},
            ).scalar_one()

        def in_session(fn: Callable[[Session], Any]) -> Callable[[], Any]:
            def call() -> Any:
                with factory() as session:
                    return fn(session)

            return call

        rows: list[tuple[str, list[float], str]] = []
        progress("baselines")
        t, _ = timed(
            in_session(
                lambda s: s.execute(
                    text("SELECT count(*) FROM lot_origin WHERE lot_id = :id"), {"id": lot_id}
                ).scalar_one()
            ),
            runs,
        )
        rows.append(("baseline: count(*) lot_origin by lot_id", t, "index lookup"))
        ancestry = select(func.count()).select_from(trace.ancestors(lot_id))
        t, n_anc = timed(in_session(lambda s: s.execute(ancestry).scalar_one()), runs)
        rows.append(("baseline: recursive CTE, ancestors count", t, f"{n_anc:,} lots"))

        progress("server-side traces")
        t, back = timed(in_session(lambda s: trace.backward(s, who, lot_id, with_path=False)), runs)
        rows.append(
            (
                "backward trace, server-side, path=false",
                t,
                f"{len(back['purchases']):,} purchases, {len(back['sites']):,} sites",
            )
        )
        t, back_path = timed(
            in_session(lambda s: trace.backward(s, who, lot_id, with_path=True)), runs
        )
        rows.append(
            ("backward trace, server-side, path=true", t, f"{len(back_path['path']):,} steps")
        )
        t, fwd = timed(in_session(lambda s: trace.forward(s, who, "site", site_id)), runs)
        rows.append(
            (
                "forward trace of busiest site, server-side",
                t,
                f"{len(fwd['lots']):,} lots, {len(fwd['exports']):,} exports",
            )
        )

        progress("HTTP traces")
        with serve(db_url, username) as client:
            sizes: dict[str, int] = {}

            def get(path: str) -> Callable[[], Any]:
                def call() -> Any:
                    r = client.get(path)
                    r.raise_for_status()
                    sizes[path] = len(r.content)
                    return r

                return call

            for label, path in (
                ("backward trace, HTTP, path=false", f"/api/v1/lots/{lot_id}/trace?path=false"),
                ("backward trace, HTTP, path=true", f"/api/v1/lots/{lot_id}/trace?path=true"),
                ("forward trace of busiest site, HTTP", f"/api/v1/sites/{site_id}/forward-trace"),
            ):
                t, _ = timed(get(path), runs)
                rows.append((label, t, f"{sizes[path] / 1024:,.0f} KiB JSON"))

        progress("EXPLAIN ANALYZE of each statement")
        plans: list[tuple[str, str, float, str]] = []
        for name, fn in (
            ("backward", lambda s: trace.backward(s, who, lot_id, with_path=True)),
            ("forward", lambda s: trace.forward(s, who, "site", site_id)),
        ):
            with captured(engine) as statements:
                in_session(fn)()
            for statement, params in statements:
                ms, plan = explain(engine, statement, params)
                plans.append((name, statement_label(statement), ms, plan))

        base = statistics.median(rows[0][1])
        print()
        print("## bench.trace: backward trace of an export parcel, forward trace of a busy site")
        print(
            f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
            f"{time.strftime('%Y-%m-%d')}; {runs} runs each after 2 warm-ups"
        )
        print(
            f"data: {lots_total:,} lots, {origin_rows:,} lot_origin rows; parcel {lot_id} with "
            f"{upstream:,} upstream purchases; site {site_id} with {site_purchases:,} purchases"
        )
        head = (
            f"{'figure':<46} {'min ms':>9} {'median ms':>10} {'p95 ms':>9} {'x baseline':>11}  note"
        )
        print(head)
        print("-" * len(head))
        for label, t, note in rows:
            lo, med, p95 = summary(t)
            print(f"{label:<46} {lo:>9.1f} {med:>10.1f} {p95:>9.1f} {med / base:>11.1f}  {note}")
        back_med = statistics.median(rows[2][1])
        print(
            f"target: backward trace <= {TARGET_MS:.0f} ms server-side; reached "
            f"{back_med:.1f} ms (path=false), {statistics.median(rows[3][1]):.1f} ms (path=true)"
        )
        print()
        print("EXPLAIN ANALYZE execution time of each statement a trace issues:")
        for name, label, ms, _plan in plans:
            print(f"  {name:<9} {ms:>9.1f} ms  {label}")
        if show_plans:
            for name, label, ms, plan in sorted(plans, key=lambda p: -p[2])[:3]:
                print()
                print(f"-- {name}: {label} ({ms:.1f} ms)")
                print(plan)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.trace", description=__doc__.splitlines()[0])
    p.add_argument("--database-url", help="a database bench.national loaded (default: make one)")
    p.add_argument("--scale", type=float, default=0.01, help="generator scale for a new database")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--lot-id", type=uuid.UUID, help="the export parcel (default: most upstream)")
    p.add_argument("--site-id", type=uuid.UUID, help="the site (default: most purchases)")
    p.add_argument("--plans", action="store_true", help="print the three slowest plans")
    p.add_argument("--base-url", default=postgis_url(), help="server for the throwaway database")
    args, extra = p.parse_known_args(argv)

    def go(db_url: str, found: dict[str, str]) -> None:
        lot_id, site_id = args.lot_id, args.site_id
        if lot_id is None or site_id is None:
            if "big_parcel_lot_id" in found and "busiest_site_id" in found:
                lot_id = lot_id or uuid.UUID(found["big_parcel_lot_id"])
                site_id = site_id or uuid.UUID(found["busiest_site_id"])
            else:
                engine = make_engine(Settings(database_url=db_url))
                with session_factory(engine)() as s:
                    big, busy = find_targets(s)
                engine.dispose()
                lot_id, site_id = lot_id or big, site_id or busy
        measure(db_url, lot_id, site_id, args.runs, args.plans)

    if args.database_url:
        go(args.database_url, {})
        return
    with fresh_postgis_database(args.base_url) as db_url:
        go(db_url, load(db_url, args.scale, extra))


if __name__ == "__main__":
    main()
