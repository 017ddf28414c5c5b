"""What a hostile body costs the server: a 31 KiB gzip that inflates to a 1,000,000-vertex Feature.

The probe of issue 8 (item 4), over real HTTP against PostGIS: the same gzip body sent to
`POST /api/v1/sites` without a token and with a field officer's token, then to
`POST /sync/v1/push` (as one op's geometry) with a device credential, once and as four
concurrent copies. Each line prints the answers, the wall time and the server's peak resident
memory above what it held before. Nothing is asserted about speed.

    .venv/bin/python bench/hostile_body.py
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.common import BenchServer, bench_server

MIB = 1024 * 1024
VERTEX = b"[-10.97,8.64],"


def feature(vertices: int) -> bytes:
    ring = b"[" + VERTEX * vertices + b"[-10.97,8.64]]"
    return (
        b'{"type": "Feature", "properties": {"name": "probe", "district": "SL-E-KO"},'
        b' "geometry": {"type": "Polygon", "coordinates": [' + ring + b"]}}"
    )


def push(vertices: int) -> bytes:
    ring = b"[" + VERTEX * vertices + b"[-10.97,8.64]]"
    op = (
        b'{"op_id": "%s", "seq": 1, "entity": "site", "record_id": "%s", "kind": "create",'
        b' "fields": {"name": "probe", "district": "SL-E-KO",'
        b' "geometry": {"type": "Polygon", "coordinates": [%s]}},'
        b' "device_time": "2026-01-01T00:00:00Z"}'
        % (str(uuid.uuid4()).encode(), str(uuid.uuid4()).encode(), ring)
    )
    return b'{"sent_at": "2026-01-01T00:00:00Z", "ops": [%s]}' % op


def send(server: BenchServer, path: str, body: bytes, token: str | None) -> int:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    r = httpx.post(server.base_url + path, content=body, headers=headers, timeout=300)
    return r.status_code


def measure(
    server: BenchServer, label: str, path: str, body: bytes, token: str | None, n: int
) -> None:
    with server.monitor.window() as w:
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=n) as pool:
            statuses = list(pool.map(lambda _: send(server, path, body, token), range(n)))
        seconds = time.perf_counter() - start
    above = (w.peak_bytes - w.start_bytes) / MIB
    answers = ",".join(str(s) for s in sorted(set(statuses)))
    print(f"| {label:<44} | {answers:>7} | {seconds:7.2f} | {above:9.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vertices", type=int, default=1_000_000)
    args = parser.parse_args()
    site = gzip.compress(feature(args.vertices), 9)
    batch = gzip.compress(push(args.vertices), 9)
    with bench_server() as server:
        officer = server.user_tokens["officer"]
        print(
            f"`python bench/hostile_body.py --vertices {args.vertices}`, "
            f"{time.strftime('%Y-%m-%d')},"
        )
        print(
            f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; gzip bodies: site "
            f"{len(site) / 1024:.0f} KiB, push {len(batch) / 1024:.0f} KiB "
            f"(inflated {len(feature(args.vertices)) / MIB:.1f} MiB)"
        )
        print()
        print(f"| {'request':<44} | answers | seconds | peak +MiB |")
        print(f"| {'-' * 44} | ------: | ------: | --------: |")
        measure(server, "POST /api/v1/sites, no token", "/api/v1/sites", site, None, 1)
        measure(server, "POST /api/v1/sites, officer token", "/api/v1/sites", site, officer, 1)
        device = server.device.token
        measure(server, "POST /sync/v1/push, device credential", "/sync/v1/push", batch, device, 1)
        measure(
            server, "POST /sync/v1/push, 4 concurrent copies", "/sync/v1/push", batch, device, 4
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
