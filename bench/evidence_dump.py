"""`python -m bench.evidence_dump`: the evidence checks of the largest export parcels, as JSON.

    python -m bench.evidence_dump --database-url URL --out before.json [--parcels 25]

Writes, for the `--parcels` export parcels with the most upstream purchases, the results of
every check (`run_all` over `facts.load`) and the lot's `reports.data_version`, as canonical
JSON, so that a speed change can be shown to leave the report's content byte-for-byte the
same: dump with the old code, dump with the new one, `cmp` the two files. It writes nothing
to the database.
"""

from __future__ import annotations

import argparse
import sys
import uuid

from sqlalchemy import text

from backend.custody.rules import canonical_json
from backend.db import make_engine, session_factory
from backend.evidence import facts, reports
from backend.evidence.checks import run_all
from backend.settings import Settings


def largest_parcels(url: str, count: int) -> list[uuid.UUID]:
    settings = Settings(database_url=url)
    engine = make_engine(settings)
    with session_factory(engine)() as session:
        rows = session.execute(
            text(
                "SELECT lo.lot_id FROM lot_origin lo JOIN lot l ON l.id = lo.lot_id "
                "WHERE l.status IN ('exported', 'sealed') "
                "GROUP BY lo.lot_id ORDER BY count(DISTINCT lo.purchase_event_id) DESC, "
                "lo.lot_id LIMIT :n"
            ),
            {"n": count},
        ).all()
    engine.dispose()
    return [uuid.UUID(str(r[0])) for r in rows]


def dump(url: str, count: int) -> bytes:
    settings = Settings(database_url=url)
    engine = make_engine(settings)
    out = []
    with session_factory(engine)() as session:
        for lot_id in largest_parcels(url, count):
            loaded = facts.load(session, settings, lot_id)
            assert loaded is not None
            out.append(
                {
                    "lot_id": lot_id,
                    "checks": [r.as_dict() for r in run_all(loaded)],
                    "data_version": reports.data_version(session, lot_id),
                }
            )
        session.rollback()
    engine.dispose()
    return canonical_json({"parcels": out})


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.evidence_dump", description=__doc__.splitlines()[0]
    )
    p.add_argument("--database-url", required=True, help="a database bench.national loaded")
    p.add_argument("--out", required=True, help="file to write")
    p.add_argument("--parcels", type=int, default=25)
    args = p.parse_args(argv)
    body = dump(args.database_url, args.parcels)
    with open(args.out, "wb") as fh:
        fh.write(body)
    print(f"{args.parcels} parcels, {len(body):,} bytes -> {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
