"""What a session's registry writes looked up once and reuse: a request's, or a sync batch's.

Ids a batch found free in one query, sites in the writer's scope, jurisdictions by code. Typed
and kept beside the session (not under string keys in `session.info`); gone with the session.
"""

from __future__ import annotations

import uuid
import weakref
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from backend.registry.models import Jurisdiction, Site


@dataclass
class Lookups:
    new_ids: set[uuid.UUID] = field(default_factory=set)  # checked free by a batch
    sites: dict[uuid.UUID, Site] = field(default_factory=dict)  # in the writer's scope
    jurisdictions: dict[str, Jurisdiction | None] = field(default_factory=dict)  # by code


_BY_SESSION: weakref.WeakKeyDictionary[Session, Lookups] = weakref.WeakKeyDictionary()


def of(session: Session) -> Lookups:
    found = _BY_SESSION.get(session)
    if found is None:
        found = _BY_SESSION[session] = Lookups()
    return found


def expect_new(session: Session, ids: set[uuid.UUID]) -> None:
    """A batch checked these ids free in one query: creates with them skip their own check."""
    of(session).new_ids = set(ids)
