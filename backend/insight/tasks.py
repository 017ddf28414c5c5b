"""Inspection tasks: the top of a spot-check plan handed to a field officer, closed by a visit
or an incident report about its site.

How a visit closes a task without the registry knowing insight exists: every registry write
tells the unit of work what it changed (`backend.changes`), which runs the reactions registered
with it at commit. `install()` registers `close_for_visits` there (and how a task looks in the
feed), so a visit recorded over REST or pushed from a tablet closes,
in the same transaction, every open task for its site issued before the visit took place, and
the closed task reaches the officers' tablets. Incidents go through the same unit of work, so
`close_for_incidents` closes every open task for the incident's site issued before the incident
occurred (the audit entry names the incident). Neither registry nor incidents import insight.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend import changes
from backend.api.jsonio import jsonable
from backend.audit.service import record
from backend.auth.models import Role, User, UserDistrict
from backend.auth.principal import Principal
from backend.changes import Presented, Syncable, district
from backend.clock import as_utc, utcnow
from backend.errors import FieldError, ValidationFailed
from backend.incidents.models import Incident
from backend.insight import spotcheck
from backend.insight.access import SUPERVISORS, require_role
from backend.insight.models import InspectionTask, TaskStatus
from backend.registry.models import Jurisdiction, SiteVisit
from backend.usecase import use_case

ENTITY = "inspection_task"


def task_public(t: InspectionTask) -> dict[str, Any]:
    return {
        "id": t.id,
        "district": t.district_code,
        "site_id": t.site_id,
        "organisation_id": t.organisation_id,
        "officer_id": t.officer_id,
        "score": t.score,
        "reasons": t.reasons,
        "status": t.status,
        "issued_at": t.issued_at,
        "closed_at": t.closed_at,
        "closed_by_visit_id": t.closed_by_visit_id,
        "version": t.version,
    }


def _snapshot(t: InspectionTask) -> dict[str, Any]:
    return dict(jsonable(task_public(t)))


def _feed_records(session: Session, rows: list[InspectionTask]) -> list[Presented]:
    return [(district(t.district_code), task_public(t)) for t in rows]


def _field(pointer: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[FieldError(pointer, detail)])


@use_case
def issue(
    *,
    session: Session,
    principal: Principal,
    district_code: str,
    officer_id: uuid.UUID,
    top: int,
    window: spotcheck.Window,
) -> list[InspectionTask]:
    """Tasks for the `top` riskiest sites of a district that have no open task yet."""
    require_role(principal, SUPERVISORS, "issue inspection tasks")
    if not session.scalars(
        select(col(Jurisdiction.code)).where(col(Jurisdiction.code) == district_code)
    ).first():
        raise _field("/district", f"no district {district_code}")
    officer = session.get(User, officer_id)
    granted = session.scalars(
        select(col(UserDistrict.district_code)).where(
            col(UserDistrict.user_id) == officer_id,
            col(UserDistrict.district_code) == district_code,
            col(UserDistrict.revoked_at).is_(None),
        )
    ).first()
    if officer is None or officer.role != Role.field_officer or not officer.active or not granted:
        raise _field("/officer_id", f"no field officer for {district_code} with id {officer_id}")
    open_sites = set(
        session.scalars(
            select(col(InspectionTask.site_id)).where(
                col(InspectionTask.status) == TaskStatus.open,
                col(InspectionTask.district_code) == district_code,
            )
        )
    )
    ranked = [
        r
        for r in spotcheck.site_ranking(session, district_code, window)
        if r["site_id"] not in open_sites
    ][:top]
    now = utcnow()
    tasks = [
        InspectionTask(
            district_code=district_code,
            site_id=r["site_id"],
            officer_id=officer_id,
            score=Decimal(r["score"]),
            reasons=jsonable(r["reasons"]),
            status=TaskStatus.open,
            issued_at=now,
            issued_by=principal.user_id,
        )
        for r in ranked
    ]
    for t in tasks:
        session.add(t)
        session.flush()
        record(
            session=session,
            principal=principal,
            action="create",
            entity_type=ENTITY,
            entity_id=t.id,
            before=None,
            after=_snapshot(t),
        )
        changes.changed(session, t)
    session.commit()
    return tasks


def _close(session: Session, t: InspectionTask, reason: str, visit_id: uuid.UUID | None) -> None:
    before = _snapshot(t)
    t.status = TaskStatus.closed
    t.closed_at = utcnow()
    t.closed_by_visit_id = visit_id
    t.version += 1
    t.updated_at = utcnow()
    session.flush()
    record(
        session=session,
        principal=None,
        action="close",
        entity_type=ENTITY,
        entity_id=t.id,
        before=before,
        after=_snapshot(t),
        reason=reason,
    )
    changes.changed(session, t)


def _open_tasks(session: Session, site_ids: list[uuid.UUID]) -> list[InspectionTask]:
    return list(
        session.scalars(
            select(InspectionTask).where(
                col(InspectionTask.status) == TaskStatus.open,
                col(InspectionTask.site_id).in_(site_ids),
            )
        )
    )


def close_for_visits(session: Session, rows: list[Any]) -> None:
    """The reaction: a new visit closes its site's open tasks issued before it happened."""
    visits = [r for r in rows if isinstance(r, SiteVisit) and r.deleted_at is None]
    if not visits:
        return
    by_site: dict[uuid.UUID, list[SiteVisit]] = {}
    for v in visits:
        by_site.setdefault(v.site_id, []).append(v)
    for t in _open_tasks(session, list(by_site)):
        assert t.site_id is not None
        closing = [v for v in by_site[t.site_id] if v.visited_at >= t.issued_at]
        if not closing:
            continue
        visit = min(closing, key=lambda v: v.visited_at)
        _close(session, t, f"site visit {visit.id} recorded", visit.id)


def close_for_incidents(session: Session, rows: list[Any]) -> None:
    """The reaction: an incident about a site closes its open tasks issued before it.

    Follow-ups republish the incident; a task issued after the incident occurred stays open.
    """
    found = [r for r in rows if isinstance(r, Incident) and r.site_id is not None]
    if not found:
        return
    by_site: dict[uuid.UUID, list[Incident]] = {}
    for i in found:
        assert i.site_id is not None
        by_site.setdefault(i.site_id, []).append(i)
    for t in _open_tasks(session, list(by_site)):
        assert t.site_id is not None
        closing = [i for i in by_site[t.site_id] if as_utc(i.occurred_at) >= as_utc(t.issued_at)]
        if not closing:
            continue
        incident = min(closing, key=lambda i: as_utc(i.occurred_at))
        _close(session, t, f"incident {incident.id} ({incident.kind}) reported", None)


def tasks_for(session: Session, principal: Principal, status: str | None) -> list[InspectionTask]:
    stmt = select(InspectionTask).order_by(col(InspectionTask.issued_at), col(InspectionTask.id))
    if principal.is_district_scoped:
        stmt = stmt.where(col(InspectionTask.district_code).in_(sorted(principal.districts)))
    if status is not None:
        stmt = stmt.where(col(InspectionTask.status) == status)
    return list(session.scalars(stmt))


def install() -> None:
    """Register with the unit of work (idempotent): how a task syncs, and the closing reactions."""
    changes.register(InspectionTask, Syncable(ENTITY, _feed_records))
    changes.react(close_for_visits)
    changes.react(close_for_incidents)


install()
