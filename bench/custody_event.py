"""Single custody events over real HTTP: purchases posted one at a time, p50/p95/p99/max.

A buyer of a licensed buying office in the demo country posts `--events` purchases, one after
another on one keep-alive connection, each from a licensed site and its licence holder (the
demo seed: miners with licences, sites, buying offices with trade licences). Beside them, on
the same connection and interleaved with the purchases, `GET /healthz` (one `SELECT 1`) and
`GET /api/v1/auth/me` (the bearer token looked up, nothing else): their ratio to the purchase
shows a loaded machine. Last, one more purchase goes through the app in this process with a
statement counter on its engine: the SQL statements a purchase costs, the token lookup and
the answer included.

    .venv/bin/python bench/custody_event.py --database postgis --events 500
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
import warnings
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import Engine, event, select
from sqlmodel import col

from backend.app import create_app
from backend.auth.models import Role
from backend.auth.schemas import UserCreate
from backend.auth.users import create_user
from backend.db import session_factory
from backend.registry.models import Licence, LicenceStatus, Organisation, OrganisationKind, Site
from backend.settings import Settings
from backend.spatial import from_db
from bench.common import (
    PASSWORD,
    BenchServer,
    bench_server,
    command_line,
    percentile,
    print_table,
    progress,
)

API = "/api/v1"


@dataclass
class Origin:
    site_id: str
    miner_id: str
    lon: float
    lat: float


def origins(engine: Engine) -> list[Origin]:
    """Active, licensed sites (any district) with their licence holder and a point inside."""
    today = date.today()
    with session_factory(engine)() as session:
        rows = session.execute(
            select(Site, Licence)
            .join(Licence, col(Licence.id) == col(Site.licence_id))
            .where(
                col(Licence.status) == LicenceStatus.active,
                col(Licence.valid_from) <= today - timedelta(days=30),
                col(Licence.valid_to) >= today,
            )
            .order_by(col(Site.id))
        ).all()
        found = []
        for site, licence in rows:
            shape = from_db(site.geometry)
            if shape is None or licence.holder_miner_id is None:
                continue
            point = shape.representative_point()
            found.append(Origin(str(site.id), str(licence.holder_miner_id), point.x, point.y))
    if not found:
        raise RuntimeError("the demo seed has no active licensed site")
    return found


def buyer_token(server: BenchServer) -> str:
    """A buyer user for the first buying office of the seed, signed in over HTTP."""
    with session_factory(server.engine)() as session:
        org = session.scalars(
            select(Organisation)
            .where(col(Organisation.kind) == OrganisationKind.buying_office)
            .order_by(col(Organisation.id))
        ).first()
        if org is None:
            raise RuntimeError("the demo seed has no buying office")
        create_user(
            session=session,
            principal=None,
            props=UserCreate(
                username="bench-buyer", password=PASSWORD, role=Role.buyer, organisation_id=org.id
            ),
        )
    r = httpx.post(
        server.base_url + API + "/auth/token",
        json={"username": "bench-buyer", "password": PASSWORD},
        timeout=30,
    )
    r.raise_for_status()
    return str(r.json()["access_token"])


def purchase(origin: Origin, i: int) -> dict[str, Any]:
    when = datetime.now(UTC) - timedelta(minutes=30)
    return {
        "kind": "purchase",
        "occurred_at": when.isoformat().replace("+00:00", "Z"),
        "site_id": origin.site_id,
        "miner_id": origin.miner_id,
        "output": {
            "tag": f"BENCH-{i:06d}-{uuid.uuid4().hex[:4]}",
            "carats": f"{0.25 + (i % 40) / 20:.3f}",
            "stone_count": 1 + i % 5,
        },
        "price": "450.00",
        "currency": "USD",
        "usd_value": "450.00",
        "receipt_number": f"R-{i:07d}-{uuid.uuid4().hex[:6]}",
        "location": {"type": "Point", "coordinates": [origin.lon, origin.lat]},
    }


def timed(client: httpx.Client, method: str, path: str, **kw: Any) -> tuple[float, httpx.Response]:
    t0 = time.perf_counter()
    r = client.request(method, path, **kw)
    return time.perf_counter() - t0, r


def statements_per_purchase(db_url: str, token: str, body: dict[str, Any]) -> Counter[str]:
    """The SQL statements one purchase runs, counted by kind (SELECT, INSERT, …), whole request."""
    with warnings.catch_warnings():  # starlette's note about httpx: not ours to act on
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    app = create_app(Settings(database_url=db_url))
    seen: Counter[str] = Counter()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen[statement.lstrip().split(None, 1)[0].upper()] += 1

    engine: Engine = app.state.engine
    with TestClient(app) as client:
        client.get("/healthz")  # the pool's first connect runs set-up statements: not counted
        event.listen(engine, "before_cursor_execute", count)
        r = client.post(
            API + "/custody-events", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        event.remove(engine, "before_cursor_execute", count)
    if r.status_code != 201:
        raise RuntimeError(f"the counted purchase answered {r.status_code}: {r.text[:1000]}")
    return seen


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("postgis", "spatialite"), default="postgis")
    parser.add_argument("--events", type=int, default=500, help="purchases to post, one by one")
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostGIS server to create the throwaway database on, or a new sqlite:/// file",
    )
    parser.add_argument("--warmup", type=int, default=20, help="purchases posted before timing")
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be at least 1")
    command = command_line(
        "bench.custody_event", {"database": args.database, "events": args.events}
    )

    progress(f"starting a fresh {args.database} database and the server")
    with bench_server(base_url=args.database_url, database=args.database) as server:
        token = buyer_token(server)
        places = origins(server.engine)
        posted: list[float] = []
        health: list[float] = []
        me: list[float] = []
        with server.client(token) as c:
            for i in range(args.warmup):
                _, r = timed(c, "POST", API + "/custody-events", json=purchase(places[0], -1 - i))
                if r.status_code != 201:
                    raise RuntimeError(f"purchase answered {r.status_code}: {r.text[:2000]}")
            progress(f"posting {args.events} purchases one at a time")
            t0 = time.perf_counter()
            for i in range(args.events):
                body = purchase(places[i % len(places)], i)
                elapsed, r = timed(c, "POST", API + "/custody-events", json=body)
                if r.status_code != 201:
                    raise RuntimeError(f"purchase answered {r.status_code}: {r.text[:2000]}")
                posted.append(elapsed)
                elapsed, r = timed(c, "GET", "/healthz")
                r.raise_for_status()
                health.append(elapsed)
                elapsed, r = timed(c, "GET", API + "/auth/me")
                r.raise_for_status()
                me.append(elapsed)
            wall = time.perf_counter() - t0
        progress("one purchase in process, its SQL statements counted")
        counted = statements_per_purchase(
            server.db_url, token, purchase(places[0], args.events + 1)
        )

    p50 = percentile(posted, 50)
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(counted.items()))
    rows = [
        ("database", args.database, ""),
        ("purchases posted", f"{args.events} one at a time, {len(places)} origins", ""),
        ("purchase p50", ms(p50), ""),
        ("purchase p95", ms(percentile(posted, 95)), ""),
        ("purchase p99", ms(percentile(posted, 99)), ""),
        ("purchase max", ms(max(posted)), ""),
        ("purchases per second, one client", f"{args.events / sum(posted):,.0f}", ""),
        ("baseline GET /healthz p50", ms(percentile(health, 50)), ""),
        ("baseline GET /api/v1/auth/me p50", ms(percentile(me, 50)), ""),
        ("purchase p50 / auth/me p50", f"{p50 / percentile(me, 50):.1f}x", ""),
        ("SQL statements per purchase", f"{sum(counted.values())} ({kinds})", ""),
        ("wall time, all requests", f"{wall:.1f} s", ""),
    ]
    print_table("custody event, one at a time", command, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
