"""Pull over real HTTP: a snapshot of a large scope, then the changes after it, and server memory.

`--records` miners and site visits are written into Kono (SL-E-KO) with COPY, together with
their change-feed rows, exactly as the feed publisher (`backend.sync.feed`) would write them
(the same view functions make the data; `seq` is taken under the feed's advisory lock). A Kono
field officer's tablet then pulls the whole scope from no cursor, with pages of 1000 and of
5000. Another tablet pushes 1,000 updates through the real push endpoint, and the first pulls
only those.

    .venv/bin/python bench/sync_pull.py --records 50000
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from shapely.geometry import Point

from backend.api.jsonio import dumps
from backend.registry.models import Miner, SiteVisit
from backend.registry.views import miner_public, visit_feature
from backend.spatial import to_db
from backend.sync.feed import FULL_VIEW, flat
from backend.sync.scope import district
from bench.common import (
    DISTRICT,
    BenchServer,
    Device,
    bench_server,
    command_line,
    libpq_url,
    mib,
    print_table,
    progress,
)
from bench.sync_push import FIRST, LAST, NOTES, Site, encode, kono_sites, phone, push
from offline_sync.protocol import ChangeKind

# The advisory lock that orders every feed writer: the bulk load must take the same one.
from offline_sync.server.feed import _LOCK_KEY as FEED_LOCK

MINER_SHARE = 0.4


@dataclass
class Scope:
    miners: list[uuid.UUID]
    visits: list[uuid.UUID]


def _rows(
    n: int, sites: list[Site], officer_id: uuid.UUID, rng: random.Random
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[str, uuid.UUID, str]]]:
    """Registry rows and (entity, id, feed data as JSON) for each, made by the feed's own views."""
    miners: list[tuple[Any, ...]] = []
    visits: list[tuple[Any, ...]] = []
    feed: list[tuple[str, uuid.UUID, str]] = []
    now = datetime.now(UTC)
    for i in range(n):
        when = now - timedelta(days=365) + timedelta(seconds=i * 300)
        rid = uuid.uuid4()
        if rng.random() < MINER_SHARE:
            m = Miner(
                id=rid,
                full_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                national_id=f"SL{rng.randrange(10**7, 10**8)}",
                phone=phone(rng),
                district_code=DISTRICT,
                status="active",
                version=1,
                created_at=when,
                updated_at=when,
            )
            miners.append(
                (rid, 1, when, when, m.full_name, m.national_id, m.phone, DISTRICT, "active")
            )
            feed.append(("miner", rid, dumps(miner_public(m, [], FULL_VIEW)).decode()))
        else:
            site = rng.choice(sites)
            lon = round(site.lon + rng.uniform(-0.0009, 0.0009), 6)
            lat = round(site.lat + rng.uniform(-0.0009, 0.0009), 6)
            v = SiteVisit(
                id=rid,
                site_id=uuid.UUID(site.id),
                district_code=DISTRICT,
                visited_at=when,
                location=to_db(Point(lon, lat)),
                diggers_counted=rng.randrange(0, 120),
                notes=rng.choice(NOTES),
                officer_id=officer_id,
                distance_to_site_m=Decimal(rng.randrange(0, 1000)) / 10,
                version=1,
                created_at=when,
                updated_at=when,
            )
            visits.append(
                (
                    rid,
                    1,
                    when,
                    when,
                    v.site_id,
                    DISTRICT,
                    when,
                    f"SRID=4326;POINT({lon} {lat})",
                    v.diggers_counted,
                    v.notes,
                    officer_id,
                    v.distance_to_site_m,
                )
            )
            feed.append(("site_visit", rid, dumps(flat(visit_feature(v, FULL_VIEW))).decode()))
    return miners, visits, feed


def build_scope(server: BenchServer, n: int, sites: list[Site], rng: random.Random) -> Scope:
    """COPY the records and their feed rows in one transaction, under the feed's lock."""
    miners, visits, feed = _rows(n, sites, server.officer_id, rng)
    scope = district(DISTRICT)
    with psycopg.connect(libpq_url(server.db_url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (FEED_LOCK,))
        cur.execute("SELECT coalesce(max(seq), 0) FROM sync_change")
        row = cur.fetchone()
        assert row is not None
        seq = int(row[0])
        with cur.copy(
            "COPY miner (id, version, created_at, updated_at, full_name, national_id, phone, "
            "district_code, status) FROM STDIN"
        ) as copy:
            for r in miners:
                copy.write_row(r)
        with cur.copy(
            "COPY site_visit (id, version, created_at, updated_at, site_id, district_code, "
            "visited_at, location, diggers_counted, notes, officer_id, distance_to_site_m) "
            "FROM STDIN"
        ) as copy:
            for r in visits:
                copy.write_row(r)
        now = datetime.now(UTC)
        with cur.copy(
            "COPY sync_change (seq, entity, record_id, scope, kind, version, data, changed_at) "
            "FROM STDIN"
        ) as copy:
            for entity, rid, data in feed:
                seq += 1
                copy.write_row((seq, entity, rid, scope, ChangeKind.upsert.value, 1, data, now))
        conn.commit()
        for table in ("miner", "site_visit", "sync_change"):
            cur.execute(f"ANALYZE {table}")  # as autovacuum would, soon after a bulk load
        conn.commit()
    return Scope(miners=[r[0] for r in miners], visits=[r[0] for r in visits])


@dataclass
class PullRun:
    seconds: float
    pages: int
    changes: int
    wire_bytes: int
    cursor: str
    page_ms: list[float]


def pull_all(server: BenchServer, device: Device, limit: int, cursor: str | None) -> PullRun:
    """Pull until has_more is false; bytes are counted as they came off the socket (gzip)."""
    pages = changes = wire = 0
    page_ms: list[float] = []
    headers = {"Accept-Encoding": "gzip"}
    with server.client(device.token) as c:
        c.headers.update(headers)
        t0 = time.perf_counter()
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            p0 = time.perf_counter()
            with c.stream("GET", "/sync/v1/pull", params=params) as r:
                body = r.read()
                wire += r.num_bytes_downloaded
                if r.status_code != 200:
                    raise RuntimeError(f"pull answered {r.status_code}: {body[:2000]!r}")
            page = json.loads(body)
            page_ms.append((time.perf_counter() - p0) * 1000)
            pages += 1
            changes += len(page["changes"])
            cursor = page["cursor"]
            if not page["has_more"]:
                break
        seconds = time.perf_counter() - t0
    assert cursor is not None
    return PullRun(seconds, pages, changes, wire, cursor, page_ms)


def make_changes(
    server: BenchServer, scope: Scope, n: int, rng: random.Random
) -> tuple[int, float]:
    """`n` updates pushed by another Kono tablet: half miners' phones, half visits' counts."""
    other = server.enrol("officer", name="bench-tablet-2")
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    ops = []
    picks = [("miner", m) for m in rng.sample(scope.miners, min(n // 2, len(scope.miners)))]
    rest = min(n - len(picks), len(scope.visits))
    picks += [("site_visit", v) for v in rng.sample(scope.visits, rest)]
    for entity, rid in picks:
        if entity == "miner":
            fields: dict[str, Any] = {"phone": phone(rng)}
        else:
            fields = {"diggers_counted": rng.randrange(0, 120)}
        ops.append(
            {
                "op_id": str(uuid.uuid4()),
                "seq": other.next_seq(),
                "entity": entity,
                "record_id": str(rid),
                "kind": "update",
                "base_version": 1,
                "fields": fields,
                "device_time": now,
            }
        )
    seconds = 0.0
    with server.client(other.token) as client:
        for i in range(0, len(ops), 500):
            batch = ops[i : i + 500]
            seconds += push(client, encode(batch)[1], batch)
    return len(ops), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000, help="records put in the scope")
    parser.add_argument("--changes", type=int, default=1000, help="updates after the snapshot")
    parser.add_argument("--repeat", type=int, default=5, help="times the change pull is timed")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    command = command_line("bench.sync_pull", {"records": args.records, "changes": args.changes})
    rng = random.Random(args.seed)

    progress("starting a fresh PostGIS database and the server")
    with bench_server() as server:
        device = server.device
        sites = kono_sites(server)
        progress(f"writing {args.records} records and their feed rows with COPY")
        t0 = time.perf_counter()
        scope = build_scope(server, args.records, sites, rng)
        load_seconds = time.perf_counter() - t0

        idle = server.monitor.idle_bytes()
        snapshots: dict[int, tuple[PullRun, int]] = {}
        for limit in (1000, 5000):
            progress(f"snapshot pull, pages of {limit}")
            with server.monitor.window() as w:
                run = pull_all(server, device, limit, None)
            snapshots[limit] = (run, w.peak_bytes)
        snapshot_cursor = snapshots[1000][0].cursor

        progress(f"another tablet pushes {args.changes} updates")
        changed, change_push_seconds = make_changes(server, scope, args.changes, rng)
        progress("pulling the changes after the snapshot cursor")
        incremental: list[PullRun] = []
        with server.monitor.window() as inc_window:
            for _ in range(max(1, args.repeat)):
                incremental.append(pull_all(server, device, 1000, snapshot_cursor))
        idle_after = server.monitor.idle_bytes()

    in_scope = snapshots[1000][0].changes
    rows: list[tuple[str, str, str]] = [
        ("records written (COPY + feed)", f"{args.records} in {load_seconds:.1f} s", ""),
        ("records in the officer's scope", f"{in_scope} (with the demo seed's)", ""),
    ]
    for limit, (run, peak) in snapshots.items():
        beside = f"peak {mib(peak)}"
        rows += [
            (f"snapshot, pages of {limit}", f"{run.seconds:.2f} s, {run.pages} pages", beside),
            (f"  records/s (limit {limit})", f"{run.changes / run.seconds:,.0f}", beside),
            (f"  page time p50 / max (limit {limit})",
             f"{statistics.median(run.page_ms):,.0f} / {max(run.page_ms):,.0f} ms", beside),
            (f"  gzip bytes per record (limit {limit})",
             f"{run.wire_bytes / run.changes:.1f} B ({mib(run.wire_bytes)} in all)", beside),
            (f"  RSS above idle (limit {limit})", mib(peak - idle), beside),
        ]  # fmt: skip
    times = [r.seconds * 1000 for r in incremental]
    first = incremental[0]
    rows += [
        ("changes pushed by another tablet", f"{changed} in {change_push_seconds:.1f} s", ""),
        ("change pull after the snapshot",
         f"{times[0]:,.0f} ms first, {statistics.median(times):,.0f} ms median of {len(times)}",
         f"peak {mib(inc_window.peak_bytes)}"),
        ("  changes, pages", f"{first.changes}, {first.pages}", ""),
        ("  gzip bytes per change", f"{first.wire_bytes / max(first.changes, 1):.1f} B", ""),
        ("server RSS idle", mib(idle), ""),
        ("server RSS idle at the end", mib(idle_after), ""),
    ]  # fmt: skip
    print_table("sync pull", command, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
