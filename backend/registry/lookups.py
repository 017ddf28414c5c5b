"""What a session's registry writes looked up once and reuse: a request's, or a sync batch's.

Ids a batch found free in one query, sites in the writer's scope (and their shapes, parsed once),
jurisdictions by code. Typed and kept beside the session (not under string keys in
`session.info`); gone with the session.
"""

from __future__ import annotations

import uuid
import weakref
from dataclasses import dataclass, field

from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from backend.registry.models import Jurisdiction, Site
from backend.spatial import from_db


@dataclass
class Lookups:
    new_ids: set[uuid.UUID] = field(default_factory=set)  # checked free by a batch
    sites: dict[uuid.UUID, Site] = field(default_factory=dict)  # in the writer's scope
    jurisdictions: dict[str, Jurisdiction | None] = field(default_factory=dict)  # by code
    # (site id, version) -> its parsed geometry: a batch's visits to one site parse it once
    site_shapes: dict[tuple[uuid.UUID, int], BaseGeometry | None] = field(default_factory=dict)


_BY_SESSION: weakref.WeakKeyDictionary[Session, Lookups] = weakref.WeakKeyDictionary()


def of(session: Session) -> Lookups:
    found = _BY_SESSION.get(session)
    if found is None:
        found = _BY_SESSION[session] = Lookups()
    return found


def expect_new(session: Session, ids: set[uuid.UUID]) -> None:
    """A batch checked these ids free in one query: creates with them skip their own check."""
    of(session).new_ids = set(ids)


def site_shape(session: Session, site: Site) -> BaseGeometry | None:
    """A site's geometry, parsed once per session and site version (a moved site has a new
    version, so it is parsed again)."""
    shapes = of(session).site_shapes
    key = (site.id, site.version)
    if key not in shapes:
        shapes[key] = from_db(site.geometry)
    return shapes[key]
