"""How incidents reach devices: to their district, with their follow-ups."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend import changes
from backend.changes import Presented, Syncable, district
from backend.incidents.models import Incident
from backend.incidents.queries import follow_ups
from backend.incidents.views import incident_public


def _incidents(session: Session, rows: list[Incident]) -> list[Presented]:
    steps = follow_ups(session, [i.id for i in rows])
    return [(district(i.district_code), incident_public(i, steps.get(i.id, []))) for i in rows]


def install() -> None:
    changes.register(Incident, Syncable("incident", _incidents))


install()
