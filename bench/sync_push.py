"""Push throughput over real HTTP, beside a raw COPY of the same rows, and the server's memory.

A Kono field officer's tablet pushes `--ops` ops of field work (site visit creates, miner
creates and miner updates) in gzip batches of `--batch`, exactly as the reference client
encodes them. Then the same rows go into scratch copies of the `site_visit` and `miner` tables
with COPY, in the same database, as the floor no push can beat. Last, one push of 5,000 ops,
the most a single push may carry, for the server's memory above idle.

    .venv/bin/python bench/sync_push.py --ops 20000 --batch 500
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from shapely.geometry import shape
from sqlalchemy.engine import make_url

from bench.common import (
    DISTRICT,
    BenchServer,
    Device,
    bench_server,
    command_line,
    mib,
    percentile,
    print_table,
    progress,
)
from offline_sync.protocol import MAX_OPS_PER_PUSH

FIRST = ["Aminata", "Mohamed", "Fatmata", "Ibrahim", "Isatu", "Alhaji", "Mariama", "Sahr",
         "Tamba", "Kumba", "Finda", "Musa", "Hawa", "Abdul", "Jeneba", "Komba"]  # fmt: skip
LAST = ["Kamara", "Sesay", "Koroma", "Conteh", "Bangura", "Turay", "Mansaray", "Kargbo",
        "Fofanah", "Jalloh", "Tucker", "Sandi", "Lebbie", "Gbla", "Kpakra", "Fomba"]  # fmt: skip
NOTES = [
    "pit flooded, work stopped",
    "gravel washing at the river bank",
    "new pit opened since last visit",
    "licence board displayed",
    "supporter present, no licence shown",
    "children not seen on site",
    "tailings heap re-worked",
    "site quiet, diggers at the market",
]


@dataclass
class Site:
    id: str
    lon: float
    lat: float


@dataclass
class Workload:
    """The ops a tablet queued offline, and the row each one leaves (for the COPY baseline)."""

    ops: list[dict[str, Any]] = field(default_factory=list)
    visit_rows: list[tuple[Any, ...]] = field(default_factory=list)
    miner_rows: list[tuple[Any, ...]] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)


def kono_sites(server: BenchServer) -> list[Site]:
    with server.client(server.user_tokens["officer"]) as c:
        r = c.get("/api/v1/sites", params={"district": DISTRICT, "limit": 1000})
    r.raise_for_status()
    sites = []
    for feature in r.json()["features"]:
        centre = shape(feature["geometry"]).representative_point()
        sites.append(Site(feature["id"], centre.x, centre.y))
    if not sites:
        raise RuntimeError(f"the demo seed has no sites in {DISTRICT}")
    return sites


def phone(rng: random.Random) -> str:
    return f"+232 {rng.choice(['76', '77', '78', '30', '33'])} {rng.randrange(100000, 999999)}"


def make_workload(
    n: int, device: Device, sites: list[Site], officer_id: uuid.UUID, rng: random.Random
) -> Workload:
    """About 55 % visit creates, 25 % miner creates, 20 % miner updates (phone, id card)."""
    w = Workload()
    miners: dict[str, tuple[int, tuple[Any, ...]]] = {}  # id -> (version, row)
    now = datetime.now(UTC)
    for i in range(n):
        # Offline for a few days: the work was done over the last week, oldest first.
        when = now - timedelta(days=7) + timedelta(seconds=i * 7 * 86400 / max(n, 1))
        record_id = uuid.uuid4()
        roll = rng.random()
        if roll < 0.20 and miners:
            kind, entity = "update", "miner"
            mid = rng.choice(list(miners))
            version, row = miners[mid]
            if rng.random() < 0.5:
                fields: dict[str, Any] = {"phone": phone(rng)}
            else:
                fields = {"national_id": f"SL{rng.randrange(10**7, 10**8)}"}
            row = (uuid.uuid4(), version + 1, *row[2:])  # COPY can only append: a new row
            miners[mid] = (version + 1, row)
            op_record, base = uuid.UUID(mid), version
            w.miner_rows.append(row)
        elif roll < 0.45:
            kind, entity = "create", "miner"
            fields = {
                "full_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "district": DISTRICT,
                "phone": phone(rng),
                "national_id": f"SL{rng.randrange(10**7, 10**8)}",
            }
            op_record, base = record_id, None
            row = (
                record_id, 1, when, when, fields["full_name"], fields["national_id"],
                fields["phone"], DISTRICT, "active",
            )  # fmt: skip
            miners[str(record_id)] = (1, row)
            w.miner_rows.append(row)
        else:
            kind, entity = "create", "site_visit"
            site = rng.choice(sites)
            # Within ~100 m of the site: an officer stands at or beside the pits.
            lon = round(site.lon + rng.uniform(-0.0009, 0.0009), 6)
            lat = round(site.lat + rng.uniform(-0.0009, 0.0009), 6)
            fields = {
                "site_id": site.id,
                "visited_at": when.isoformat().replace("+00:00", "Z"),
                "diggers_counted": rng.randrange(0, 120),
                "notes": rng.choice(NOTES),
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
            }
            op_record, base = record_id, None
            w.visit_rows.append(
                (
                    record_id,
                    1,
                    when,
                    when,
                    uuid.UUID(site.id),
                    DISTRICT,
                    when,
                    f"SRID=4326;POINT({lon} {lat})",
                    fields["diggers_counted"],
                    fields["notes"],
                    officer_id,
                    Decimal(rng.randrange(0, 1000)) / 10,
                )
            )
        w.kinds[f"{entity} {kind}"] += 1
        w.ops.append(
            {
                "op_id": str(uuid.uuid4()),
                "seq": device.next_seq(),
                "entity": entity,
                "record_id": str(op_record),
                "kind": kind,
                "base_version": base,
                "fields": fields,
                "device_time": when.isoformat().replace("+00:00", "Z"),
            }
        )
    return w


def encode(ops: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    """(raw JSON, gzip body) as the reference client sends them (offline_sync.client.transport)."""
    sent_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    raw = json.dumps({"sent_at": sent_at, "ops": ops}, separators=(",", ":")).encode()
    return raw, gzip.compress(raw, compresslevel=6, mtime=0)


def push(server: BenchServer, device: Device, body: bytes, ops: list[dict[str, Any]]) -> float:
    """Send one gzip push; returns seconds. Any op not `applied` stops the benchmark."""
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    with server.client(device.token) as c:
        t0 = time.perf_counter()
        r = c.post("/sync/v1/push", content=body, headers=headers)
        elapsed = time.perf_counter() - t0
    if r.status_code != 200:
        raise RuntimeError(f"push answered {r.status_code}: {r.text[:2000]}")
    statuses = Counter(x["status"] for x in r.json()["results"])
    if statuses != Counter({"applied": len(ops)}):
        odd = [x for x in r.json()["results"] if x["status"] != "applied"][:3]
        raise RuntimeError(f"not every op was applied: {dict(statuses)}; e.g. {odd}")
    return elapsed


VISIT_COLUMNS = (
    "id, version, created_at, updated_at, site_id, district_code, visited_at, location, "
    "diggers_counted, notes, officer_id, distance_to_site_m"
)
MINER_COLUMNS = (
    "id, version, created_at, updated_at, full_name, national_id, phone, district_code, status"
)


def copy_baseline(db_url: str, w: Workload) -> float:
    """Seconds to COPY the workload's rows into scratch tables shaped like the real ones.

    `LIKE … INCLUDING ALL` keeps the columns, defaults, primary keys and indexes (the GiST
    index on the point too), but no foreign keys: the floor of what storing the rows costs.
    """
    dsn = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE bench_copy_site_visit (LIKE site_visit INCLUDING ALL)")
        conn.execute("CREATE TABLE bench_copy_miner (LIKE miner INCLUDING ALL)")
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy(f"COPY bench_copy_site_visit ({VISIT_COLUMNS}) FROM STDIN") as copy:
                for row in w.visit_rows:
                    copy.write_row(row)
            with cur.copy(f"COPY bench_copy_miner ({MINER_COLUMNS}) FROM STDIN") as copy:
                for row in w.miner_rows:
                    copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - t0
        conn.execute("DROP TABLE bench_copy_site_visit, bench_copy_miner")
        conn.commit()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=20_000, help="ops to push in batches")
    parser.add_argument("--batch", type=int, default=500, help="ops per push")
    parser.add_argument(
        "--big", type=int, default=MAX_OPS_PER_PUSH, help="ops in the single big push"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= MAX_OPS_PER_PUSH or not 1 <= args.big <= MAX_OPS_PER_PUSH:
        parser.error(f"a push carries 1..{MAX_OPS_PER_PUSH} ops")
    command = command_line("bench.sync_push", {"ops": args.ops, "batch": args.batch})
    rng = random.Random(args.seed)

    progress("starting a fresh PostGIS database and the server")
    with bench_server() as server:
        device = server.device
        sites = kono_sites(server)
        work = make_workload(args.ops, device, sites, server.officer_id, rng)
        batches = [work.ops[i : i + args.batch] for i in range(0, len(work.ops), args.batch)]
        bodies = [encode(b) for b in batches]
        raw_bytes = sum(len(raw) for raw, _ in bodies)
        wire_bytes = sum(len(gz) for _, gz in bodies)

        idle = server.monitor.idle_bytes()
        progress(f"pushing {args.ops} ops in {len(batches)} batches of {args.batch}")
        latencies: list[float] = []
        with server.monitor.window() as pushes:
            t0 = time.perf_counter()
            for ops, (_, body) in zip(batches, bodies, strict=True):
                latencies.append(push(server, device, body, ops))
            push_seconds = time.perf_counter() - t0

        progress("COPY of the same rows into scratch tables")
        copy_seconds = copy_baseline(server.db_url, work)
        copy_rows = len(work.visit_rows) + len(work.miner_rows)

        progress(f"one push of {args.big} ops")
        big = make_workload(args.big, device, sites, server.officer_id, rng)
        _, big_body = encode(big.ops)
        before_big = server.monitor.idle_bytes()
        with server.monitor.window() as big_window:
            big_seconds = push(server, device, big_body, big.ops)

    push_rate = args.ops / push_seconds
    copy_rate = copy_rows / copy_seconds
    peak = f"peak {mib(pushes.peak_bytes)}"
    mix = ", ".join(f"{k} {v}" for k, v in sorted(work.kinds.items()))
    rows = [
        ("ops pushed", f"{args.ops} in {len(batches)} batches of {args.batch}", ""),
        ("op mix", mix, ""),
        ("push throughput", f"{push_rate:,.0f} ops/s ({push_seconds:.1f} s)", peak),
        ("batch latency p50", f"{percentile(latencies, 50) * 1000:,.0f} ms", peak),
        ("batch latency p95", f"{percentile(latencies, 95) * 1000:,.0f} ms", peak),
        ("batch latency first / last",
         f"{latencies[0] * 1000:,.0f} / {latencies[-1] * 1000:,.0f} ms", peak),
        ("COPY baseline", f"{copy_rate:,.0f} rows/s ({copy_rows} rows, {copy_seconds:.2f} s)", ""),
        ("push / COPY", f"{push_rate / copy_rate:.4f} (COPY is {copy_rate / push_rate:,.0f}x)", ""),
        ("bytes per op, gzip on the wire", f"{wire_bytes / args.ops:.1f} B", ""),
        ("bytes per op, uncompressed JSON", f"{raw_bytes / args.ops:.1f} B", ""),
        ("server RSS idle", mib(idle), ""),
        ("server RSS peak during pushes", mib(pushes.peak_bytes), ""),
        ("  above idle", mib(pushes.peak_bytes - idle), ""),
        (f"single push of {args.big} ops", f"{big_seconds:.1f} s "
         f"({args.big / big_seconds:,.0f} ops/s)", f"peak {mib(big_window.peak_bytes)}"),
        (f"  RSS above idle ({args.big}-op push)", mib(big_window.peak_bytes - idle),
         f"rest before it {mib(before_big)}"),
        (f"  RSS above its own start ({args.big}-op push)",
         mib(big_window.peak_bytes - big_window.start_bytes), ""),
    ]  # fmt: skip
    print_table("sync push", command, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
