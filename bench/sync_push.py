"""Push throughput over real HTTP, beside a raw bulk load of the same rows, and the server's memory.

A Kono field officer's tablet pushes `--ops` ops of field work (site visit creates, miner
creates and miner updates) in gzip batches of `--batch`, exactly as the reference client
encodes them, to `python -m backend serve` on a fresh PostGIS database or SpatiaLite file
(`--database postgis,spatialite` runs both, one after the other). Then the same rows go into
scratch copies of the `site_visit` and `miner` tables in the same database, as the floor no
push can beat: COPY on PostGIS; on SpatiaLite, which has no COPY, one `executemany` INSERT per
table through sqlean in one transaction. Last, one push of 5,000 ops, the most a single push
may carry, for the server's memory above idle. With `--peer DIR` (an npm install of
pouchdb-server, see bench/README.md) the CouchDB-protocol peer replicates as many documents
after the pushes, and the push/peer ratio is printed.

    .venv/bin/python bench/sync_push.py --ops 20000 --batch 500
    .venv/bin/python bench/sync_push.py --database postgis,spatialite --peer /work/peer-scratch
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

import httpx
from shapely.geometry import shape

from bench.bulk_load import WrittenRows, copy_baseline, copy_written_rows, executemany_baseline
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
from bench.couch_peer import PeerError, PeerRun, find_script, run_peer, server_binary
from bench.cpu import cpu_window, database_backends
from offline_sync.protocol import MAX_OPS_PER_PUSH

DATABASES = ("postgis", "spatialite")

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
    """The ops a tablet queued offline, and the row each one leaves, in `bench.bulk_load`'s
    column order (for the bulk-load floor)."""

    ops: list[dict[str, Any]] = field(default_factory=list)
    visit_rows: list[tuple[Any, ...]] = field(default_factory=list)
    miner_rows: list[tuple[Any, ...]] = field(default_factory=list)
    visit_ids: list[uuid.UUID] = field(default_factory=list)
    miner_ids: list[uuid.UUID] = field(default_factory=list)
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
            w.miner_ids.append(record_id)
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
            w.visit_ids.append(record_id)
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


def push(client: httpx.Client, body: bytes, ops: list[dict[str, Any]]) -> float:
    """Send one gzip push; returns seconds. Any op not `applied` stops the benchmark."""
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    t0 = time.perf_counter()
    r = client.post("/sync/v1/push", content=body, headers=headers)
    elapsed = time.perf_counter() - t0
    if r.status_code != 200:
        raise RuntimeError(f"push answered {r.status_code}: {r.text[:2000]}")
    statuses = Counter(x["status"] for x in r.json()["results"])
    if statuses != Counter({"applied": len(ops)}):
        odd = [x for x in r.json()["results"] if x["status"] != "applied"][:3]
        raise RuntimeError(f"not every op was applied: {dict(statuses)}; e.g. {odd}")
    return elapsed


def process_role(pid: int, supervisor: int) -> str:
    """What a process of `python -m backend serve` is, from its command line."""
    if pid == supervisor:
        return "supervisor"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    if "multiprocessing.spawn" in command:
        return "worker"
    if "multiprocessing.resource_tracker" in command:
        return "resource tracker"
    return "other"


def describe_processes(pids: list[int]) -> str:
    """`4: supervisor 1, worker 2, resource tracker 1` for the server's process tree."""
    roles = Counter(process_role(p, pids[0]) for p in pids)
    return f"{len(pids)}: " + ", ".join(f"{role} {n}" for role, n in roles.items())


@dataclass
class Measured:
    """One database's run: the figures the ratios need, and the table rows."""

    database: str
    push_rate: float
    rows: list[tuple[str, str, str]]
    database_cpu_per_op: float | None = None  # seconds of PostgreSQL backend CPU per op


def measure(database: str, args: argparse.Namespace) -> Measured:
    """Push `args.ops` ops in batches, the bulk-load baseline and one big push, on `database`."""
    rng = random.Random(args.seed)
    progress(f"starting a fresh {database} database and the server")
    with bench_server(base_url=args.database_url, database=database) as server:
        device = server.device
        sites = kono_sites(server)
        work = make_workload(args.ops, device, sites, server.officer_id, rng)
        batches = [work.ops[i : i + args.batch] for i in range(0, len(work.ops), args.batch)]
        bodies = [encode(b) for b in batches]
        raw_bytes = sum(len(raw) for raw, _ in bodies)
        wire_bytes = sum(len(gz) for _, gz in bodies)

        idle = server.monitor.idle_bytes()
        processes = describe_processes(server.monitor.processes())
        progress(f"pushing {args.ops} ops in {len(batches)} batches of {args.batch}")
        latencies: list[float] = []
        groups = {
            "server": server.monitor.processes,
            "database": lambda: database_backends(server.engine),
        }
        # One connection for the whole run, as the reference client keeps its httpx client.
        with (
            server.client(device.token) as client,
            server.monitor.window() as pushes,
            cpu_window(groups) as cpu,
        ):
            t0 = time.perf_counter()
            for ops, (_, body) in zip(batches, bodies, strict=True):
                latencies.append(push(client, body, ops))
            push_seconds = time.perf_counter() - t0

        copy_rows = len(work.visit_rows) + len(work.miner_rows)
        if database == "postgis":
            baseline = "COPY"
            progress("COPY of the same rows into scratch tables")
            copy_seconds = copy_baseline(server.db_url, work.visit_rows, work.miner_rows)
            progress("binary COPY of every row the pushes wrote")
            written = copy_written_rows(
                server.db_url, uuid.UUID(device.device_id), work.visit_ids, work.miner_ids
            )
        else:
            baseline = "executemany INSERT"
            progress("executemany INSERT of the same rows into scratch tables")
            copy_seconds = executemany_baseline(server.engine, work.visit_rows, work.miner_rows)
            written = None

        progress(f"one push of {args.big} ops")
        big = make_workload(args.big, device, sites, server.officer_id, rng)
        _, big_body = encode(big.ops)
        before_big = server.monitor.idle_bytes()
        with server.client(device.token) as client, server.monitor.window() as big_window:
            big_seconds = push(client, big_body, big.ops)

    push_rate = args.ops / push_seconds
    copy_rate = copy_rows / copy_seconds
    server_cpu, database_cpu = cpu.seconds["server"], cpu.seconds["database"]
    peak = f"peak {mib(pushes.peak_bytes)}"
    mix = ", ".join(f"{k} {v}" for k, v in sorted(work.kinds.items()))
    rows = [
        ("database", database, ""),
        ("ops pushed", f"{args.ops} in {len(batches)} batches of {args.batch}", ""),
        ("op mix", mix, ""),
        ("push throughput", f"{push_rate:,.0f} ops/s ({push_seconds:.1f} s)", peak),
        ("batch latency p50", f"{percentile(latencies, 50) * 1000:,.0f} ms", peak),
        ("batch latency p95", f"{percentile(latencies, 95) * 1000:,.0f} ms", peak),
        ("batch latency first / last",
         f"{latencies[0] * 1000:,.0f} / {latencies[-1] * 1000:,.0f} ms", peak),
        (f"{baseline} baseline",
         f"{copy_rate:,.0f} rows/s ({copy_rows} rows, {copy_seconds:.2f} s)", ""),
        (f"push / {baseline}",
         f"{push_rate / copy_rate:.4f} ({baseline} is {copy_rate / push_rate:,.0f}x)", ""),
        *written_rows(written, args.ops, push_rate),
        ("server CPU per op, all its processes", per_op(server_cpu, args.ops, database), ""),
        ("database backend CPU per op", per_op(database_cpu, args.ops, database), ""),
        ("bytes per op, gzip on the wire", f"{wire_bytes / args.ops:.1f} B", ""),
        ("bytes per op, uncompressed JSON", f"{raw_bytes / args.ops:.1f} B", ""),
        ("server processes", processes, ""),
        ("server RSS idle, all processes", mib(idle), ""),
        ("server RSS peak during pushes", mib(pushes.peak_bytes), ""),
        ("  above idle", mib(pushes.peak_bytes - idle), ""),
        (f"single push of {args.big} ops", f"{big_seconds:.1f} s "
         f"({args.big / big_seconds:,.0f} ops/s)", f"peak {mib(big_window.peak_bytes)}"),
        (f"  RSS above idle ({args.big}-op push)", mib(big_window.peak_bytes - idle),
         f"rest before it {mib(before_big)}"),
        (f"  RSS above its own start ({args.big}-op push)",
         mib(big_window.peak_bytes - big_window.start_bytes), ""),
    ]  # fmt: skip
    return Measured(
        database, push_rate, rows, None if database_cpu is None else database_cpu / args.ops
    )


def per_op(seconds: float | None, ops: int, database: str) -> str:
    """`123 µs (2.46 s)` of CPU per op, or why there is no figure."""
    if seconds is None:
        if database == "spatialite":
            return "n/a (SpatiaLite runs inside the server's processes)"
        return "n/a (the database is not on this machine)"
    return f"{seconds / ops * 1e6:,.0f} µs ({seconds:.2f} s)"


def written_rows(
    written: WrittenRows | None, ops: int, push_rate: float
) -> list[tuple[str, str, str]]:
    """The rows of `copy_written_rows`: what storing the push's own rows alone allows."""
    if written is None:
        return []
    floor = ops / written.seconds
    tables = ", ".join(f"{t} {n}" for t, n in written.rows.items())
    return [
        ("rows the pushes wrote", f"{written.total} ({written.total / ops:.2f} per op: {tables})",
         ""),
        ("  stored again by binary COPY", f"{written.seconds:.2f} s: {floor:,.0f} ops/s "
         "if a push cost nothing but its rows", ""),
        ("push / that floor", f"{push_rate / floor:.3f}", ""),
    ]  # fmt: skip


def peer_rows(peer: PeerRun, script: Path, runs: list[Measured]) -> list[tuple[str, str, str]]:
    """The peer's figure and, for each database measured in this run, push ops/s over it."""
    rows = [
        ("peer script", str(script), ""),
        ("peer: PouchDB replicate into pouchdb-server",
         f"{peer.docs_per_second:,.0f} docs/s ({peer.docs} docs, {peer.seconds:.2f} s)", ""),
    ]  # fmt: skip
    twice = 2 * peer.docs_per_second
    for run in runs:
        rows.append(
            (
                f"push / peer ({run.database})",
                f"{run.push_rate / peer.docs_per_second:.2f} "
                f"({run.push_rate:,.0f} ops/s against {peer.docs_per_second:,.0f} docs/s)",
                "",
            )
        )
    rows.append(("twice the peer", f"{twice:,.0f} ops/s: {1e6 / twice:,.0f} µs per op", ""))
    for run in runs:
        if run.database_cpu_per_op is not None:
            rows.append(
                (
                    f"  PostgreSQL's own CPU per op ({run.database})",
                    f"{run.database_cpu_per_op * 1e6:,.0f} µs "
                    f"({run.database_cpu_per_op * twice:.0%} of that budget)",
                    "",
                )
            )
    return rows


def databases_arg(value: str) -> list[str]:
    """`postgis`, `spatialite`, or both comma-separated, each once, in the order given."""
    names = [v.strip() for v in value.split(",")]
    if not names or any(n not in DATABASES for n in names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"one or more of {', '.join(DATABASES)}, each once")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=20_000, help="ops to push in batches")
    parser.add_argument("--batch", type=int, default=500, help="ops per push")
    parser.add_argument(
        "--big", type=int, default=MAX_OPS_PER_PUSH, help="ops in the single big push"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--database",
        type=databases_arg,
        default=["postgis"],
        help="postgis (default), spatialite, or postgis,spatialite: both, one after the other",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostGIS server to create the throwaway database on, or a new sqlite:/// file "
        "(one database only)",
    )
    parser.add_argument(
        "--peer",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of the peer's npm install (node_modules with pouchdb-server and "
        "pouchdb-node): after the pushes, replicate --ops documents through it",
    )
    parser.add_argument(
        "--peer-script",
        type=Path,
        default=None,
        help="the peer's replicate script; default ../shared/peers/pouchdb-replicate.js beside "
        "the repository, else DIR/pouchdb-replicate.js",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= MAX_OPS_PER_PUSH or not 1 <= args.big <= MAX_OPS_PER_PUSH:
        parser.error(f"a push carries 1..{MAX_OPS_PER_PUSH} ops")
    if args.ops < 1:
        parser.error("--ops must be at least 1")
    if args.database_url is not None and len(args.database) > 1:
        parser.error("--database-url names one database: give one --database with it")
    if args.peer_script is not None and args.peer is None:
        parser.error("--peer-script needs --peer DIR")
    script = None
    if args.peer is not None:  # a missing install fails now, not after minutes of pushes
        try:
            server_binary(args.peer)
            script = find_script(args.peer, args.peer_script)
        except PeerError as err:
            parser.error(str(err))
    shown: dict[str, Any] = {
        "ops": args.ops,
        "batch": args.batch,
        "database": ",".join(args.database),
    }
    if args.peer is not None:
        shown["peer"] = args.peer
    if args.peer_script is not None:
        shown["peer_script"] = args.peer_script
    command = command_line("bench.sync_push", shown)

    runs = []
    for database in args.database:
        run = measure(database, args)
        runs.append(run)
        print_table(f"sync push, {database}", command, run.rows)
    if args.peer is not None:
        assert script is not None
        progress(f"the CouchDB-protocol peer: {args.ops} docs through pouchdb-server")
        peer = run_peer(args.peer, args.ops, script)
        print_table(
            "sync push against the CouchDB-protocol peer", command, peer_rows(peer, script, runs)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
