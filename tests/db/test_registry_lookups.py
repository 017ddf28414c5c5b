"""`backend.registry.lookups`: what a session's writes look up once. A site's shape is parsed
once per site version in a session, and again once the site has moved (a new version)."""

from __future__ import annotations

from shapely.geometry import box
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.registry import lookups
from backend.registry.models import Site
from backend.spatial import as_multipolygon, from_db, to_db


def test_a_sites_shape_is_parsed_once_per_version(session: Session) -> None:
    site = session.scalars(select(Site).limit(1)).one()
    first = lookups.site_shape(session, site)
    assert first is not None and first.equals(from_db(site.geometry))
    assert lookups.site_shape(session, site) is first  # not parsed again
    moved = as_multipolygon(box(-10.95, 8.55, -10.94, 8.56))
    site.geometry = to_db(moved)
    site.version += 1
    session.flush()
    assert lookups.site_shape(session, site) is moved
    other = Session(bind=session.get_bind())
    try:  # another session (another request or batch) keeps its own
        assert lookups.site_shape(other, site) is moved
        assert lookups.of(other) is not lookups.of(session)
    finally:
        other.close()
