"""`python -m bench.evidence`: evidence report time for parcels with 100 / 1,000 / 10,000 purchases.

    python -m bench.evidence [--scale 0.01] [--runs 5]
    python -m bench.evidence --database-url URL

Without `--database-url` it makes a throwaway PostGIS database, loads it with
`python -m bench.national --scale S` (0.01 gives 20,000 purchases and an export parcel with
10,000 of them upstream), and drops it afterwards. It picks the lots whose upstream purchase
counts are nearest 100, 1,000 and 10,000 (export parcels first), builds the footprint profiles
once, and times, `--runs` times each after one warm-up:

- `compute_report`: the whole use case (load the facts, run the eight checks, data version,
  digest, store the row, audit, commit), as the export office's POST runs it;
- of that, `facts.load` (every query) and the checks alone;
- two baselines from the same run: the typed lineage query alone, and the plain index lookup
  `SELECT count(*) FROM lot_origin WHERE lot_id = :id`.

The target is <= 2 s at 10,000 upstream purchases on PostGIS; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.auth.models import Role
from backend.auth.principal import Principal
from backend.auth.schemas import UserCreate
from backend.auth.users import create_user
from backend.custody.lineage import lineage
from backend.db import make_engine, session_factory
from backend.evidence import facts
from backend.evidence.checks import run_all
from backend.evidence.profiles import refresh_profiles
from backend.evidence.service import compute_report
from backend.settings import Settings
from bench.common import PASSWORD, fresh_postgis_database, postgis_url, progress
from bench.trace import load

TARGETS = (100, 1_000, 10_000)
TARGET_S = 2.0


def office_user(session: Session) -> Principal:
    username = f"bench-evidence-office-{uuid.uuid4().hex[:8]}"
    user = create_user(
        session=session,
        principal=None,
        props=UserCreate(
            username=username, password=PASSWORD, role=Role.export_office, districts=[]
        ),
    )
    return Principal(
        user_id=user.id,
        username=username,
        role=Role.export_office,
        districts=frozenset(),
        organisation_id=None,
    )


def pick_lots(session: Session) -> list[tuple[int, uuid.UUID, int, str]]:
    """(target, lot id, upstream purchases, status): the lot nearest each target."""
    rows = session.execute(
        text(
            "SELECT lo.lot_id, count(DISTINCT lo.purchase_event_id) AS n, l.status "
            "FROM lot_origin lo JOIN lot l ON l.id = lo.lot_id "
            "GROUP BY lo.lot_id, l.status"
        )
    ).all()
    picked = []
    for target in TARGETS:
        best = min(
            rows,
            key=lambda r: (
                abs(r[1] - target) / target,
                r[2] not in ("exported", "sealed"),
            ),
        )
        picked.append((target, uuid.UUID(str(best[0])), int(best[1]), str(best[2])))
    return picked


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def measure_lot(
    session: Session, settings: Settings, office: Principal, lot_id: uuid.UUID, runs: int
) -> dict[str, Any]:
    verdicts: list[str] = []

    def full() -> None:
        report = compute_report(session=session, principal=office, lot_id=lot_id, settings=settings)
        verdicts.append(report.verdict)

    whole = timed(full, runs)
    loaded = facts.load(session, settings, lot_id)
    assert loaded is not None
    return {
        "whole": whole,
        "load": timed(lambda: facts.load(session, settings, lot_id), runs),
        "checks": timed(lambda: run_all(loaded), runs),
        "lineage": timed(lambda: lineage(session, lot_id), runs),
        "count": timed(
            lambda: session.execute(
                text("SELECT count(*) FROM lot_origin WHERE lot_id = :id"), {"id": lot_id}
            ).scalar(),
            runs,
        ),
        "verdict": verdicts[-1],
    }


def measure(db_url: str, runs: int) -> None:
    settings = Settings(database_url=db_url)
    engine = make_engine(settings)
    factory = session_factory(engine)
    with factory() as session:
        office = office_user(session)
        progress("building footprint profiles")
        refresh_profiles(session=session, principal=office)
        lots = pick_lots(session)
    print()
    print(
        "| upstream purchases | lot status | compute_report median (min) | facts.load | checks "
        "| lineage alone (baseline) | lot_origin count (baseline) | verdict |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for _target, lot_id, purchases, status in lots:
        with factory() as session:
            t = measure_lot(session, settings, office, lot_id, runs)
        whole = t["whole"]
        print(
            f"| {purchases:,} | {status} | {statistics.median(whole):.3f} s "
            f"({min(whole):.3f} s) | {statistics.median(t['load']):.3f} s "
            f"| {statistics.median(t['checks']):.3f} s "
            f"| {statistics.median(t['lineage']):.3f} s "
            f"| {statistics.median(t['count']) * 1000:.1f} ms | {t['verdict']} |"
        )
    print()
    print(f"target: <= {TARGET_S:.0f} s for the whole report at 10,000 upstream purchases")
    engine.dispose()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.evidence", description=__doc__.splitlines()[0]
    )
    p.add_argument("--database-url", help="a database bench.national loaded (default: make one)")
    p.add_argument("--scale", type=float, default=0.01, help="generator scale for a new database")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--base-url", default=postgis_url(), help="server for the throwaway database")
    args, extra = p.parse_known_args(argv)
    if args.database_url:
        measure(args.database_url, args.runs)
        return
    with fresh_postgis_database(args.base_url) as db_url:
        load(db_url, args.scale, extra)
        measure(db_url, args.runs)


if __name__ == "__main__":
    main(sys.argv[1:])
