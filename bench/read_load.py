"""`python -m bench.read_load`: list reads at fixed request rates (open model), both databases.

    python -m bench.read_load [--rates 50,100,200,300] [--seconds 10] [--workers N]
                              [--databases postgis,spatialite] [--lots 150]
                              [--writes N] [--uncached]

For each database: a throwaway one (a fresh PostGIS database on `TEST_POSTGIS_URL`, or a
SpatiaLite file in a temporary directory), migrated, with the demo country (633 miners, 134
sites) and `--lots` lots opened through `POST /api/v1/lots` as produce events. Then
`python -m backend serve --workers N` starts on a free loopback port, as an operator runs it.

The load is an open model: requests leave on a fixed schedule (one every 1/rate seconds) from
an asyncio loop, whether or not earlier ones have answered, so a slow server meets a queue, as
it would in the field. A request's latency runs from its scheduled time to the end of its
response body, so time spent waiting for a free connection counts too (no coordinated
omission). The mix is pages of 100 sites, lots and miners in turn, read by a ministry user.
A baseline at the first rate is `/healthz` (one `SELECT 1`), measured in the same run.

Each worker keeps the pages it answered (backend/api/pagecache.py) while the change feed stands
still, so an all-read mix is served almost wholly from the cache. `--writes N` runs each rate
again with N lots opened per second meanwhile (every write makes every page again on its next
read in each worker); `--uncached` runs each rate again with the cache off, which is what every
read would cost if each followed a write.

Each row prints p50/p95/p99, errors (anything but 200, or no answer within 10 s) and the peak
resident memory of the server's processes (the supervisor and its workers, summed, sampled
every 50 ms), and the CPU time the server's processes spent per request sent (PostgreSQL's own
processes are not counted). That last figure holds even on a shared machine: two cores give at
most 2000 / (CPU ms per request) requests/s, before the load generator and the database take
their share. Nothing is asserted about times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlmodel import col

from backend import schema
from backend.auth.models import Role
from backend.auth.schemas import UserCreate
from backend.auth.users import create_user
from backend.clock import utcnow
from backend.db import make_engine, session_factory
from backend.registry.demo import seed_demo
from backend.registry.models import Licence, LicenceKind, LicenceStatus, Site
from backend.settings import Settings
from bench.common import (
    LOAD_AT_START,
    PASSWORD,
    ROOT,
    free_port,
    fresh_postgis_database,
    mib,
    percentile,
    postgis_url,
    process_tree,
    progress,
    stop,
    wait_until_up,
)
from bench.cpu import cpu_seconds

MIX = ("/api/v1/sites?limit=100", "/api/v1/lots?limit=100", "/api/v1/miners?limit=100")
BASELINE = ("/healthz",)
TIMEOUT_S = 10.0


# --- the data ---------------------------------------------------------------------------------


def prepare(db_url: str) -> None:
    settings = Settings(database_url=db_url)
    engine = make_engine(settings)
    try:
        schema.upgrade(engine)
        with session_factory(engine)() as session:
            seed_demo(session=session, settings=settings)
            create_user(
                session=session,
                principal=None,
                props=UserCreate(username="bench-ministry", password=PASSWORD, role=Role.ministry),
            )
    finally:
        engine.dispose()


def producing_sites(db_url: str) -> list[tuple[str, str]]:
    """(site id, licence holder id) of licensed sites whose mining licence is active today."""
    engine = make_engine(Settings(database_url=db_url))
    today = utcnow().date()
    try:
        with session_factory(engine)() as session:
            rows = session.execute(
                select(col(Site.id), col(Licence.holder_miner_id))
                .join(Licence, col(Licence.id) == col(Site.licence_id))
                .where(
                    col(Licence.kind) == LicenceKind.artisanal_mining,
                    col(Licence.status) == LicenceStatus.active,
                    col(Licence.valid_from) <= today - timedelta(days=30),
                    col(Licence.valid_to) >= today,
                    col(Licence.holder_miner_id).is_not(None),
                )
                .order_by(col(Site.id))
            ).all()
    finally:
        engine.dispose()
    return [(str(s), str(m)) for s, m in rows]


def open_lots(client: httpx.Client, db_url: str, count: int) -> None:
    sites = producing_sites(db_url)
    assert sites, "the demo country has licensed, active sites"
    made = 0
    i = 0
    while made < count:
        site_id, miner_id = sites[i % len(sites)]
        n = min(25, count - made)
        body = {
            "kind": "produce",
            "occurred_at": (utcnow() - timedelta(hours=2)).isoformat(),
            "site_id": site_id,
            "miner_id": miner_id,
            "outputs": [
                {"tag": f"RL-{i}-{k}", "carats": "1.250", "stone_count": 3} for k in range(n)
            ],
        }
        r = client.post("/api/v1/lots", json=body)
        if r.status_code != 201:
            raise RuntimeError(f"could not open lots: {r.status_code} {r.text}")
        made += n
        i += 1


# --- the server -------------------------------------------------------------------------------


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and its descendants (uvicorn's supervisor and workers)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += _rss_kib(p)
        todo.extend(_children(p))
    return total * 1024


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants (`bench.cpu.cpu_seconds`)."""
    return sum(s for p in process_tree(pid) if (s := cpu_seconds(p)) is not None)


class TreeRss:
    """Samples `tree_rss_bytes` every 50 ms; `peak()` since the last `reset()`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._peak = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            now = tree_rss_bytes(self.pid)
            with self._lock:
                self._peak = max(self._peak, now)

    def reset(self) -> None:
        with self._lock:
            self._peak = tree_rss_bytes(self.pid)

    def peak(self) -> int:
        with self._lock:
            return self._peak

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def server(
    db_url: str, workers: int | None, env_extra: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    with tempfile.TemporaryDirectory(prefix="bench-read-") as tmp:
        log = Path(tmp) / "server.log"
        port = free_port()
        cmd = [sys.executable, "-m", "backend", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--log-level", "warning"]
        if workers is not None:
            cmd += ["--workers", str(workers)]
        env = {**os.environ, "DATABASE_URL": db_url, **(env_extra or {})}
        with log.open("wb") as sink:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            # Every worker imports the whole app before it answers: slow on a busy machine.
            wait_until_up(url + "/healthz", proc, log, seconds=180)
            yield url, proc.pid
        finally:
            stop(proc, seconds=20)
        errors = log.read_text()
        if "Traceback" in errors:
            raise RuntimeError(f"the server logged an error:\n{errors[-4000:]}")


# --- the load ---------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    rate: int
    sent: int
    latencies_ms: list[float]
    errors: int
    wall_s: float
    rss_peak: int
    cpu_ms_per_request: float  # the server's processes only (not PostgreSQL's)


class RawClient:
    """HTTP/1.1 keep-alive over asyncio streams: a client light enough to send 300 requests/s.

    httpx spends about as much CPU per request as the server does, so on two cores it would
    measure itself. Requests are prebuilt bytes; a response is read by its Content-Length.
    """

    def __init__(self, base_url: str, token: str) -> None:
        url = httpx.URL(base_url)
        self.host, self.port = url.host, url.port or 80
        self.head = f"Host: {self.host}:{self.port}\r\nAuthorization: Bearer {token}\r\n"
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    def request(self, path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\n{self.head}Accept-Encoding: gzip\r\n\r\n".encode()

    async def get(self, raw: bytes) -> int:
        if self.idle:
            reader, writer = self.idle.pop()
            try:
                return await self._exchange(reader, writer, raw)
            except (OSError, asyncio.IncompleteReadError) as exc:
                # The server closes a keep-alive connection idle past its timeout (5 s); a
                # client then resends a GET on a new connection, as browsers and httpx do.
                if getattr(exc, "partial", b""):
                    raise
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return await self._exchange(reader, writer, raw)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
    ) -> int:
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        self.idle.append((reader, writer))
        return status

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def _one(client: RawClient, raw: bytes, due: float) -> float | None:
    try:
        status = await asyncio.wait_for(client.get(raw), TIMEOUT_S)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
        return None
    if status != 200:
        return None
    return (time.perf_counter() - due) * 1000


async def _write_loop(
    base_url: str, token: str, sites: list[tuple[str, str]], per_s: float, stop: asyncio.Event
) -> int:
    """One lot opened every 1/per_s seconds (a produce event): each moves the change feed, so
    every cached page is made again on its next read, in every worker."""
    made = 0
    headers = {"Authorization": f"Bearer {token}"}
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=TIMEOUT_S) as c:
        while not stop.is_set():
            site_id, miner_id = sites[made % len(sites)]
            body = {
                "kind": "produce",
                "occurred_at": (utcnow() - timedelta(hours=1)).isoformat(),
                "site_id": site_id,
                "miner_id": miner_id,
                "outputs": [
                    {"tag": f"W-{uuid.uuid4().hex[:12]}", "carats": "1.000", "stone_count": 1}
                ],
            }
            r = await c.post("/api/v1/lots", json=body)
            if r.status_code != 201:
                raise RuntimeError(f"a write failed: {r.status_code} {r.text}")
            made += 1
            delay = start + made / per_s - time.perf_counter()
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(delay, 0.0))
    return made


async def _drive(
    base_url: str,
    token: str,
    paths: tuple[str, ...],
    rate: int,
    seconds: float,
    writes: tuple[list[tuple[str, str]], float] | None = None,
) -> tuple[list[float | None], float]:
    client = RawClient(base_url, token)
    raws = [client.request(p) for p in paths]
    stop = asyncio.Event()
    writer = None
    try:
        # Warm the connections and the server's caches before the clock starts.
        await asyncio.gather(*(client.get(r) for r in raws * 4))
        if writes is not None:
            writer = asyncio.create_task(_write_loop(base_url, token, *writes, stop))
        total = int(rate * seconds)
        start = time.perf_counter() + 0.05
        tasks = []
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_one(client, raws[i % len(raws)], due)))
        results = await asyncio.gather(*tasks)
        wall = time.perf_counter() - start
    finally:
        stop.set()
        if writer is not None:
            await writer
        client.close()
    return list(results), wall


def run_rate(
    base_url: str,
    token: str,
    rss: TreeRss,
    label: str,
    paths: tuple[str, ...],
    rate: int,
    s: float,
    writes: tuple[list[tuple[str, str]], float] | None = None,
) -> Result:
    rss.reset()
    cpu = tree_cpu_seconds(rss.pid)
    results, wall = asyncio.run(_drive(base_url, token, paths, rate, s, writes))
    # Includes the warm-up requests' CPU (a few per path), and the writes' if any: per read
    # sent, so a slight overstatement.
    cpu_ms = (tree_cpu_seconds(rss.pid) - cpu) * 1000 / max(len(results), 1)
    ok = [r for r in results if r is not None]
    return Result(label, rate, len(results), ok, len(results) - len(ok), wall, rss.peak(), cpu_ms)


def print_results(title: str, command: str, workers: int, results: list[Result]) -> None:
    head = (
        "load",
        "rate/s",
        "sent",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "server RSS peak",
        "server CPU ms/req",
    )
    rows = [
        (
            r.label,
            str(r.rate),
            str(r.sent),
            f"{percentile(r.latencies_ms, 50):.1f}",
            f"{percentile(r.latencies_ms, 95):.1f}",
            f"{percentile(r.latencies_ms, 99):.1f}",
            str(r.errors),
            mib(r.rss_peak),
            f"{r.cpu_ms_per_request:.1f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    rule = "  ".join("-" * w for w in widths)
    print()
    print(f"## {title}")
    print(f"command: {command}")
    print(
        f"machine: {os.cpu_count()} cores (shared), Python {sys.version.split()[0]}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, server workers {workers}, "
        f"load average {LOAD_AT_START:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )
    print(rule)
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    print(rule)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print(rule, flush=True)


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "postgis":
        with fresh_postgis_database(postgis_url()) as url:
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="bench-read-sqlite-") as tmp:
        yield f"sqlite:///{tmp}/bench.sqlite"


def bench_database(kind: str, args: argparse.Namespace, command: str) -> None:
    rates = [int(r) for r in args.rates.split(",")]
    workers = args.workers or Settings().serve_workers
    with database(kind) as db_url:
        progress(f"{kind}: migrating and seeding")
        prepare(db_url)
        with (
            server(db_url, args.workers) as (base_url, _),
            httpx.Client(base_url=base_url, timeout=60) as c,
        ):
            r = c.post(
                "/api/v1/auth/token",
                json={"username": "bench-ministry", "password": PASSWORD},
            )
            r.raise_for_status()
            token = r.json()["access_token"]
            c.headers["Authorization"] = f"Bearer {token}"
            progress(f"{kind}: opening {args.lots} lots")
            open_lots(c, db_url, args.lots)
            for path in MIX:
                n = len(c.get(path).json().get("items") or c.get(path).json()["features"])
                progress(f"{kind}: {path} returns {n} records")
        # The same rates with the page cache on (the default) and, if asked, off: every request
        # then computes its page, which is what a read right after a write costs.
        caches: list[tuple[str, dict[str, str]]] = [("", {})]
        if args.uncached:
            caches.append((" (no page cache)", {"PAGE_CACHE_BYTES": "0"}))
        sites = producing_sites(db_url)
        results: list[Result] = []
        for suffix, env_extra in caches:
            with server(db_url, args.workers, env_extra) as (base_url, pid):
                rss = TreeRss(pid)
                try:
                    results.append(
                        run_rate(base_url, token, rss, "baseline /healthz", BASELINE, rates[0], 5)
                    )
                    for rate in rates:
                        progress(f"{kind}{suffix}: {rate} requests/s for {args.seconds} s")
                        label = "sites/lots/miners" + suffix
                        results.append(
                            run_rate(base_url, token, rss, label, MIX, rate, args.seconds)
                        )
                        if args.writes and not suffix:
                            progress(f"{kind}: {rate} requests/s, {args.writes} writes/s")
                            label = f"sites/lots/miners + {args.writes:g} writes/s"
                            writes = (sites, args.writes)
                            results.append(
                                run_rate(
                                    base_url, token, rss, label, MIX, rate, args.seconds, writes
                                )
                            )
                finally:
                    rss.stop()
    print_results(f"read load on {kind}", command, workers, results)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.read_load", description=__doc__.splitlines()[0]
    )
    p.add_argument("--rates", default="50,100,200,300", help="requests per second, comma-separated")
    p.add_argument("--seconds", type=float, default=10.0, help="how long each rate runs")
    p.add_argument("--workers", type=int, help="server processes (default: the serve default)")
    p.add_argument("--databases", default="postgis,spatialite")
    p.add_argument("--lots", type=int, default=150)
    p.add_argument(
        "--writes",
        type=float,
        default=0.0,
        help="also run each rate with this many lots opened per second meanwhile (cache on)",
    )
    p.add_argument(
        "--uncached",
        action="store_true",
        help="also run every rate with the page cache off (PAGE_CACHE_BYTES=0)",
    )
    args = p.parse_args(argv)
    command = "python -m bench.read_load " + " ".join(argv if argv is not None else sys.argv[1:])
    for kind in args.databases.split(","):
        bench_database(kind.strip(), args, command.strip())


if __name__ == "__main__":
    main()
