"""`backend.spatial.to_db`: a geometry made for a column is stored exactly as the shape it was
made from, on both databases, whether it goes in by INSERT or by COPY; its EWKB is the bytes
shapely writes for the shape with SRID 4326."""

from __future__ import annotations

import random

import pytest
import shapely
from shapely.geometry import Point, box
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.spatial import SRID, from_db, to_db
from offline_sync.server.bulkinsert import COPY_FROM_ROWS, insert_rows
from tests.db.test_bulkinsert import VISITS, visit_rows

# Coordinates with every digit a double holds: a WKT of 16 digits rounded some of these.
POINTS = [
    Point(-10.912345678901234, 8.612345678901234),
    Point(-11.000000000000002, 7.999999999999999),
    Point(-10.1 + 1e-15, 8.3 - 1e-15),
]


def test_the_ewkb_of_a_point_is_what_shapely_writes_with_the_srid() -> None:
    rng = random.Random(11)
    shapes = [Point(rng.uniform(-180, 180), rng.uniform(-90, 90)) for _ in range(200)]
    for geom in [*shapes, *POINTS, Point(1, 2, 3), box(-10.9, 8.4, -10.7, 8.6)]:
        made = to_db(geom)
        expected = shapely.to_wkb(shapely.set_srid(geom, SRID), include_srid=True)
        assert bytes(made.data) == bytes(expected)
        assert made.extended and made.srid == SRID
        assert from_db(made) is geom


@pytest.mark.parametrize("how", ["insert", "copy"])
def test_a_made_point_is_stored_to_the_last_bit(session: Session, how: str) -> None:
    rows = visit_rows(session, COPY_FROM_ROWS if how == "copy" else 1)
    for i, row in enumerate(rows):
        row["location"] = to_db(POINTS[i % len(POINTS)])
    insert_rows(session, VISITS, rows)
    stored = session.execute(
        select(VISITS.c.id, VISITS.c.location).where(VISITS.c.id.in_([r["id"] for r in rows]))
    ).all()
    by_id = {r.id: from_db(r.location) for r in stored}
    for i, row in enumerate(rows):
        back = by_id[row["id"]]
        assert back is not None
        if session.get_bind().dialect.name == "postgresql":
            assert (back.x, back.y) == (POINTS[i % len(POINTS)].x, POINTS[i % len(POINTS)].y)
        else:  # SpatiaLite is sent WKT (GeoAlchemy2's way there): equal to its printed digits
            assert back.equals_exact(POINTS[i % len(POINTS)], 1e-12)
